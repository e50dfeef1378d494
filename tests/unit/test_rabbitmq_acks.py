"""Coalesced acknowledgements: one multiple ack only when it covers exactly what is settled."""

from __future__ import annotations

from connectors.rabbitmq_acks import AckTracker


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
