"""Coalescing acknowledgements of one AMQP channel.

Delivery tags grow by one per delivery on a channel. When a settled batch and everything
delivered before it are settled, one ``basic.ack(tag, multiple=True)`` acknowledges
them all, instead of one frame per message. A batch that finishes while an earlier
delivery is still in flight is acknowledged message by message, so a slow batch never
holds back the acknowledgements (and the prefetch window) of the others. Tags that were
acknowledged or rejected one by one are no longer outstanding on the broker, so a later
multiple ack passes over them.

That last point holds only if their frames are on the wire before the multiple ack: the
client's frame queue is bounded (aiormq's holds 10 frames), so writing one batch's acks
one by one can pause, and another batch settling meanwhile could send a multiple ack that
covers tags whose single acks or rejects are still waiting. RabbitMQ then closes the
channel (unknown delivery tag), and a reject overtaken that way becomes an ack. So a
channel settles one batch at a time (``ChannelSettler``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Iterable, Sequence
from typing import Literal, Protocol

Settlement = Literal["ack", "requeue", "reject"]


class AckChannel(Protocol):
    """The AMQP channel methods settling needs (aiormq's channel)."""

    def basic_ack(
        self, delivery_tag: int, multiple: bool = ..., wait: bool = ...
    ) -> Awaitable[None]: ...

    def basic_nack(
        self, delivery_tag: int, multiple: bool = ..., requeue: bool = ..., wait: bool = ...
    ) -> Awaitable[None]: ...

    def basic_reject(
        self, delivery_tag: int, *, requeue: bool = ..., wait: bool = ...
    ) -> Awaitable[None]: ...


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


class ChannelSettler:
    """Settles deliveries of one channel, one batch at a time, coalescing acks."""

    def __init__(self) -> None:
        self._tracker = AckTracker()
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._tracker)

    def delivered(self, tag: int) -> None:
        self._tracker.delivered(tag)

    async def settle(self, channel: AckChannel, tags: Sequence[int], how: Settlement) -> None:
        """Acknowledge, requeue or reject ``tags``; raises what the channel raises."""
        async with self._lock:  # the decision and the frames it implies, together
            multiple = self._tracker.settle(tags)
            if how == "ack" and multiple is not None:
                await channel.basic_ack(multiple, multiple=True)
                return
            last = len(tags) - 1
            for index, tag in enumerate(tags):
                wait = index == last  # frames go out in order: waiting for the last is enough
                if how == "ack":
                    await channel.basic_ack(tag, wait=wait)
                elif how == "requeue":
                    await channel.basic_nack(tag, requeue=True, wait=wait)
                else:
                    await channel.basic_reject(tag, requeue=False, wait=wait)
