"""Counting deliveries for brokers that do not (classic RabbitMQ queues).

A classic queue only says whether a message was ``redelivered``, not how often. The
engine counts deliveries per ``count_key`` (the AMQP ``message_id``, else a digest of the
body) in memory, bounded. After a restart, or on another hub, counting starts again, so a
poison message may be tried up to ``max_receive_count`` more times, never fewer: a
message is never dead-lettered early. Quorum queues count on the broker (``x-delivery-count``)
and need none of this.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from eventhub.sources import QueueMessage

DEFAULT_CAPACITY = 100_000


class DeliveryCounter:
    """Fills in ``receive_count`` of messages whose broker could not tell (``0``)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._capacity = capacity

    def __len__(self) -> int:
        return len(self._counts)

    def observe(self, messages: Iterable[QueueMessage]) -> None:
        """Count this delivery of every message that has no broker count."""
        counts = self._counts
        for message in messages:
            if message.receive_count:
                continue
            key = message.count_key
            # A first delivery restarts the count even when the key was seen before: equal
            # bodies without message ids are different messages.
            count = counts.pop(key, 0) + 1 if message.redelivered else 1
            if message.redelivered and count == 1:
                count = 2  # redelivered, first sight: at least one earlier delivery
            counts[key] = count
            message.receive_count = count
            if len(counts) > self._capacity:
                counts.popitem(last=False)

    def forget(self, messages: Iterable[QueueMessage]) -> None:
        """The messages are settled for good (deleted or dead-lettered)."""
        for message in messages:
            if message.count_key:
                self._counts.pop(message.count_key, None)
