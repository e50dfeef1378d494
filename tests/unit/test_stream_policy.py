"""Pure parts of the stream engine: retry decisions, verdicts, windows, the committer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from eventhub.mapping.checkpoints import Committer
from eventhub.mapping.retry import Decision, RetryPolicy, split_point
from eventhub.mapping.verdict import judge
from eventhub.mapping.windows import MAX_STATE_BYTES, TumblingWindows
from eventhub.runtime.result import InvocationResult, Outcome
from eventhub.sources import ShardInfo, SourceUnavailable


def entry(position: int, arrival: int = 0, matched: bool = True) -> Any:
    return (position, arrival, None, 10, {"p": position} if matched else None)


@pytest.mark.parametrize(
    ("policy", "matched", "retries", "decision"),
    [
        (RetryPolicy(), 5, 100, Decision.RETRY),
        (RetryPolicy(max_retry_attempts=2), 5, 1, Decision.RETRY),
        (RetryPolicy(max_retry_attempts=2), 5, 2, Decision.GIVE_UP),
        (RetryPolicy(max_retry_attempts=0), 1, 0, Decision.GIVE_UP),
        (RetryPolicy(max_retry_attempts=0, bisect=True), 2, 0, Decision.BISECT),
        (RetryPolicy(max_retry_attempts=0, bisect=True), 1, 0, Decision.GIVE_UP),
        (RetryPolicy(bisect=True), 1, 7, Decision.RETRY),
    ],
)
def test_decisions(policy, matched, retries, decision):
    assert policy.decide(matched, retries) is decision


def test_backoff_grows_exponentially_and_is_capped():
    policy = RetryPolicy(base_delay=1, max_delay=8)
    delays = [policy.delay(n) for n in range(1, 7)]
    for got, want in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert want * 0.9 <= got <= want * 1.1
    assert RetryPolicy(base_delay=0).delay(5) == 0


def test_expired_counts_leading_old_records_with_filtered_ones_between():
    policy = RetryPolicy(max_record_age=60)
    now = 100_000
    old, young = now - 61_000, now - 1_000
    entries = [entry(0, old), entry(1, old, matched=False), entry(2, old), entry(3, young)]
    assert policy.expired(entries, now) == 3
    assert RetryPolicy().expired(entries, now) == 0
    assert policy.expired([entry(0, young), entry(1, old)], now) == 0


def test_split_point_halves_invocable_records():
    entries = [entry(0), entry(1, matched=False), entry(2), entry(3), entry(4)]
    cut = split_point(entries)
    assert sum(1 for e in entries[:cut] if e[4]) == 2
    assert entries[cut][0] == 3


def _result(value: Any, ok: bool = True) -> InvocationResult:
    outcome = Outcome.SUCCESS if ok else Outcome.FUNCTION_ERROR
    return InvocationResult("r", outcome, value, b"", 1, None, "")


RECORDS = [{"id": "a"}, {"id": "b"}, {"id": "c"}]


def _key(record: dict[str, Any]) -> str:
    return record["id"]


def test_judge_function_error_fails_everything():
    verdict = judge(
        _result({"errorType": "E", "errorMessage": "m"}, ok=False),
        RECORDS,
        _key,
        partial=True,
        window=False,
    )
    assert verdict.failed_from == 0
    assert verdict.reason == "E: m"


def test_judge_partial_picks_the_lowest_failed_item():
    response = {"batchItemFailures": [{"itemIdentifier": "c"}, {"itemIdentifier": "b"}]}
    assert judge(_result(response), RECORDS, _key, partial=True, window=False).failed_from == 1
    assert judge(_result(response), RECORDS, _key, partial=False, window=False).ok
    empty = {"batchItemFailures": None}
    assert judge(_result(empty), RECORDS, _key, partial=True, window=False).ok


def test_judge_window_requires_state():
    assert judge(_result({"x": 1}), RECORDS, _key, partial=False, window=True).failed_from == 0
    verdict = judge(_result({"state": {"n": 1}}), RECORDS, _key, partial=False, window=True)
    assert verdict.ok
    assert verdict.state == {"n": 1}


def test_windows_align_to_arrival_and_accept_late_records():
    windows = TumblingWindows(10)
    assert windows.start_of(12_345) == 10_000
    window = windows.open_for(12_345, 7)
    assert (window.start_ms, window.end_ms, window.first_position) == (10_000, 20_000, 7)
    assert windows.belongs(19_999)
    assert windows.belongs(5_000)  # late: joins the open window
    assert not windows.belongs(20_000)
    assert not windows.due(19_999)
    assert windows.due(20_000)


def test_a_state_over_one_megabyte_ends_the_window_early():
    windows = TumblingWindows(10)
    windows.open_for(0, 0)
    windows.keep({"big": "x" * (MAX_STATE_BYTES + 1)})
    assert windows.must_close_early()
    event_window = windows.current.event_window(final=True)  # type: ignore[union-attr]
    assert event_window.terminated_early


def test_sequence_numbers_are_fixed_width_decimals():
    shard = ShardInfo("shardId-000000000001", "s", 1, "49000001", 48)
    assert shard.sequence_number(5) == "49000001" + "0" * 47 + "5"
    assert int(shard.sequence_number(10)) > int(shard.sequence_number(9))
    assert ShardInfo("t-0", "t", 0).sequence_number(42) == "42"


async def test_a_commit_cancelled_midway_still_completes():
    gate = asyncio.Event()
    stored: dict[str, int] = {}

    async def commit(positions: Any) -> None:
        await gate.wait()
        stored.update(positions)

    committer = Committer(commit)
    task = asyncio.create_task(committer.run())
    committer.mark("s", 5)
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    await asyncio.sleep(0.01)
    assert stored == {"s": 5}


@contextlib.asynccontextmanager
async def running(committer: Committer) -> AsyncIterator[Committer]:
    """The committer's task for the block; cancelled (as its mapping cancels it) after."""
    task = asyncio.create_task(committer.run())
    try:
        yield committer
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_committer_coalesces_marks_and_flush_waits_for_them():
    commits: list[dict[str, int]] = []
    failures = [1]

    async def commit(positions: Any) -> None:
        if failures[0]:
            failures[0] -= 1
            raise SourceUnavailable("down")
        commits.append(dict(positions))

    async with running(Committer(commit, retry_delay=0.001)) as committer:
        committer.mark("a", 1)
        committer.mark("a", 2)
        committer.mark("b", 7)
        assert await committer.flush(5)
        assert committer.committed == {"a": 2, "b": 7}
        assert commits[-1] == {"a": 2, "b": 7}


async def test_a_mark_of_a_shard_revoked_during_a_failing_commit_is_not_retried():
    started, fail = asyncio.Event(), asyncio.Event()
    commits: list[dict[str, int]] = []

    async def commit(positions: Any) -> None:
        if not commits and not fail.is_set():
            started.set()
            await fail.wait()
            raise SourceUnavailable("broker restarting")
        commits.append(dict(positions))

    async with running(Committer(commit, retry_delay=0.001)) as committer:
        committer.mark("a", 5)
        committer.mark("b", 3)
        await started.wait()
        committer.drop(["a"])  # revoked while its commit was in flight
        fail.set()
        assert await committer.flush(5)
        assert commits == [{"b": 3}]
        assert committer.committed == {"b": 3}


@pytest.mark.parametrize(
    ("key", "value", "headers", "kind"),
    [
        (b"k", b"v", [], 0),
        (None, None, [("h", b"\x00\xff"), ("h", b"x")], 1),
        (b"", b'{"a": 1}', [("trace", b"abc")], 0),
    ],
)
def test_the_fast_kafka_builder_matches_the_event_builder(key, value, headers, kind):
    from eventhub.events.kafka import kafka_record
    from eventhub.mapping.stream_format import FormatContext, KafkaFormat

    build = KafkaFormat(FormatContext("us-east-1", "0" * 12, "arn", None)).builder(
        ShardInfo("t-3", "t", 3)
    )
    entry = build(42, key, value, 1_700_000_000_123, headers, kind)
    expected = kafka_record(
        topic="t",
        partition=3,
        offset=42,
        timestamp_ms=1_700_000_000_123,
        timestamp_type=("CREATE_TIME", "LOG_APPEND_TIME")[kind],
        key=key,
        value=value,
        headers=headers,
    )
    assert entry[4] == expected
    assert list(entry[4]) == list(expected)
