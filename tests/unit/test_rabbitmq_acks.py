"""Coalesced acknowledgements: one multiple ack only when it covers exactly what is settled."""

from __future__ import annotations

import asyncio

from connectors.rabbitmq_acks import AckTracker, ChannelSettler, Settlement


def tracker(count: int) -> AckTracker:
    acks = AckTracker()
    for tag in range(1, count + 1):
        acks.delivered(tag)
    return acks


def test_in_order_batches_get_one_multiple_ack_each() -> None:
    acks = tracker(6)
    assert acks.settle([1, 2, 3]) == 3
    assert acks.settle([4, 5, 6]) == 6
    assert len(acks) == 0


def test_a_batch_behind_a_slow_one_is_acked_one_by_one() -> None:
    acks = tracker(6)
    assert acks.settle([4, 5, 6]) is None  # 1..3 still in flight
    assert len(acks) == 3
    # 1..3 finish: their highest tag is outstanding and everything below is settled
    assert acks.settle([1, 2, 3]) == 3
    assert len(acks) == 0


def test_the_multiple_tag_is_always_one_of_the_batch() -> None:
    acks = tracker(5)
    assert acks.settle([2]) is None
    assert acks.settle([3]) is None
    # 1 closes the gap; 2 and 3 were acknowledged already, so only 1 may be named
    assert acks.settle([1]) == 1
    assert acks.settle([5]) is None
    assert acks.settle([4]) == 4


def test_nacked_tags_count_as_settled() -> None:
    acks = tracker(4)
    acks.settle([1, 2])  # e.g. rejected one by one
    assert acks.settle([3, 4]) == 4


def test_empty_settle() -> None:
    assert tracker(2).settle([]) is None


class BrokerChannel:
    """A channel whose frames may pause on the way out (aiormq's bounded frame queue) and
    a broker's view of them: a single ack, nack or reject of a tag it no longer holds
    closes the channel, as RabbitMQ does (PRECONDITION_FAILED - unknown delivery tag)."""

    def __init__(self, tags: int) -> None:
        self.outstanding = set(range(1, tags + 1))
        self.acked: set[int] = set()
        self.requeued: set[int] = set()
        self.errors: list[str] = []

    async def _frame(self) -> None:
        await asyncio.sleep(0)  # the frame queue is full: other coroutines run meanwhile

    def _take(self, tag: int) -> bool:
        if tag not in self.outstanding:
            self.errors.append(f"unknown delivery tag {tag}")
            return False
        self.outstanding.discard(tag)
        return True

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        await self._frame()
        if multiple:
            if delivery_tag not in self.outstanding:
                self.errors.append(f"unknown delivery tag {delivery_tag}")
            covered = {tag for tag in self.outstanding if tag <= delivery_tag}
            self.outstanding -= covered
            self.acked |= covered
        elif self._take(delivery_tag):
            self.acked.add(delivery_tag)

    async def basic_nack(
        self, delivery_tag: int, multiple: bool = False, requeue: bool = True, wait: bool = True
    ) -> None:
        await self._frame()
        if self._take(delivery_tag):
            self.requeued.add(delivery_tag)

    async def basic_reject(
        self, delivery_tag: int, *, requeue: bool = True, wait: bool = True
    ) -> None:
        await self.basic_nack(delivery_tag, requeue=requeue, wait=wait)


async def test_concurrent_batches_never_overtake_each_others_frames() -> None:
    """A batch acked one by one (an earlier one is in flight) is still writing its frames
    when a later batch could coalesce a multiple ack over them: settling is serialised,
    so the broker never sees an unknown tag and a requeue is never turned into an ack."""
    channel = BrokerChannel(40)
    settler = ChannelSettler()
    for tag in range(1, 41):
        settler.delivered(tag)
    first = list(range(1, 11))
    failed = list(range(11, 21))  # finishes while `first` is in flight: requeued one by one
    later = list(range(21, 31))
    last = list(range(31, 41))
    gate = asyncio.Event()

    async def after_gate(tags: list[int], how: Settlement) -> None:
        await gate.wait()
        await settler.settle(channel, tags, how)

    requeue = asyncio.ensure_future(settler.settle(channel, failed, "requeue"))
    await asyncio.sleep(0)  # the requeue has started writing its frames
    gate.set()
    await asyncio.gather(
        requeue,
        settler.settle(channel, first, "ack"),
        after_gate(later, "ack"),
        after_gate(last, "ack"),
    )
    assert channel.errors == []
    assert channel.requeued == set(failed)
    assert channel.acked == set(first + later + last)
    assert len(settler) == 0
