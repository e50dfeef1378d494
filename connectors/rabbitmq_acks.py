"""Coalescing acknowledgements of one AMQP channel.

Delivery tags grow by one per delivery on a channel. When a settled batch and everything
delivered before it are settled, one ``basic.ack(tag, multiple=True)`` acknowledges
them all, instead of one frame per message. A batch that finishes while an earlier
delivery is still in flight is acknowledged message by message, so a slow batch never
holds back the acknowledgements (and the prefetch window) of the others. Tags that were
acknowledged or rejected one by one are no longer outstanding on the broker, so a later
multiple ack passes over them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class AckTracker:
    """Which delivery tags of one channel are still unsettled."""

    def __init__(self) -> None:
        self._order: deque[int] = deque()
        self._settled: set[int] = set()

    def __len__(self) -> int:
        """Deliveries not yet settled."""
        return len(self._order) - len(self._settled)

    def delivered(self, tag: int) -> None:
        self._order.append(tag)

    def settle(self, tags: Iterable[int]) -> int | None:
        """Record ``tags`` as settled. Returns the tag to acknowledge with ``multiple`` when
        that covers exactly what is left to acknowledge, else None (one ack per tag).

        The tag returned is the batch's highest: it is still outstanding on the broker
        (RabbitMQ refuses a multiple ack naming a tag it no longer holds), and everything
        below it is settled, so the ack covers nobody else's deliveries.
        """
        batch = list(tags)
        if not batch:
            return None
        self._settled.update(batch)
        order, settled = self._order, self._settled
        highest = None
        while order and order[0] in settled:
            highest = order.popleft()
            settled.discard(highest)
        top = max(batch)
        return top if highest is not None and top <= highest else None
