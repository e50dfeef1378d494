"""The ordered-shard engine against an in-memory stream source: order, batching,
checkpoints, blocking, retries, bisect, partial responses, on-failure, stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from structlog.testing import capture_logs

from eventhub.mapping.retry import RetryPolicy
from eventhub.mapping.stream import StreamMapping
from eventhub.sources import SourceUnavailable
from tests.support.fake_stream import (
    Deliveries,
    FakeFunction,
    FakeStreamSource,
    kafka_values,
    kinesis_data,
    make_mapping,
)


async def until(predicate: Any, within: float = 10.0) -> None:
    """Wait (without asserting on time) until ``predicate()`` holds."""
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.001)


class Running:
    def __init__(self, mapping: StreamMapping) -> None:
        self.mapping = mapping
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StreamMapping:
        self.task = asyncio.create_task(self.mapping.run())
        return self.mapping

    async def __aexit__(self, *exc: object) -> None:
        await self.mapping.stop(2)
        assert self.task is not None
        await self.task


def seen(function: FakeFunction, shard: str = "shard-0") -> list[Any]:
    out = []
    for event in function.events:
        if event["Records"] and event["Records"][0]["eventID"].startswith(shard + ":"):
            out.extend(kinesis_data(event))
    return out


async def test_batches_keep_shard_order_and_checkpoint_after_success():
    source = FakeStreamSource(3)
    function = FakeFunction()
    for shard in range(3):
        for i in range(250):
            source.put(shard, {"i": i})
    async with Running(make_mapping(source, function, batch_size=100)):
        await until(lambda: source.committed == {f"shard-{s}": 250 for s in range(3)})
    for shard in range(3):
        assert [d["i"] for d in seen(function, f"shard-{shard}")] == list(range(250))
    assert max(len(e["Records"]) for e in function.events) == 100
    assert source.closed


async def test_nothing_is_committed_before_the_batch_succeeded():
    source = FakeStreamSource(1)
    function = FakeFunction()
    function.gate = asyncio.Event()
    source.put(0, {"i": 0})
    source.put(0, {"i": 1})
    async with Running(make_mapping(source, function)):
        await function.started.wait()
        await asyncio.sleep(0.01)
        assert source.committed == {}
        function.gate.set()
        await until(lambda: source.committed.get("shard-0") == 2)


async def test_a_failing_shard_blocks_only_itself():
    source = FakeStreamSource(2)
    failures = []

    def behaviour(event: Any) -> None:
        if any(d.get("poison") for d in kinesis_data(event)):
            failures.append(1)
            raise ValueError("poison")

    function = FakeFunction(behaviour)
    source.put(0, {"i": 0})
    source.put(0, {"poison": True})
    source.put(0, {"i": 2})
    retry = RetryPolicy(base_delay=0.001, max_delay=0.005)
    mapping = make_mapping(source, function, batch_size=1, retry=retry)
    async with Running(mapping):
        for i in range(50):
            source.put(1, {"i": i})
        await until(lambda: source.committed.get("shard-1") == 50)
        await until(lambda: len(failures) >= 3)
        stats = mapping.statistics()
        assert stats.blocked_shards == 1
        assert source.committed.get("shard-0") == 1  # just before the poison record
        assert mapping.status().last_result == "PROBLEM: Function call failed"
        assert "ValueError: poison" in (mapping.status().last_error or "")
    assert [d["i"] for d in seen(function, "shard-1")] == list(range(50))
    assert {"i": 2} not in seen(function, "shard-0")


async def test_retries_exhausted_send_a_batch_info_record_and_move_on():
    source = FakeStreamSource(1)
    deliveries = Deliveries()

    def behaviour(event: Any) -> None:
        if any(d.get("poison") for d in kinesis_data(event)):
            raise ValueError("poison")

    function = FakeFunction(behaviour)
    source.put(0, {"poison": True}, timestamp_ms=1_700_000_000_000)
    source.put(0, {"poison": True}, timestamp_ms=1_700_000_001_000)
    mapping = make_mapping(
        source,
        function,
        deliveries=deliveries,
        batch_size=10,
        retry=RetryPolicy(max_retry_attempts=2, base_delay=0),
    )
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 2)
        source.put(0, {"i": "after"})
        await until(lambda: source.committed.get("shard-0") == 3)
    assert len(function.events) == 4  # 1 attempt + 2 retries, then the next record
    [record] = deliveries.records
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"]["functionError"] == "Unhandled"
    info = record["KinesisBatchInfo"]
    first = function.events[0]["Records"]
    assert info["shardId"] == "shard-0"
    assert info["batchSize"] == 2
    assert info["startSequenceNumber"] == first[0]["kinesis"]["sequenceNumber"]
    assert info["endSequenceNumber"] == first[1]["kinesis"]["sequenceNumber"]
    assert info["approximateArrivalOfFirstRecord"] == "2023-11-14T22:13:20.000Z"
    assert info["streamArn"].endswith(":stream/fake")
    assert mapping.statistics().given_up == 2
    assert mapping.statistics().retries == 2


async def test_bisect_isolates_the_poison_record_without_using_retries():
    source = FakeStreamSource(1)
    deliveries = Deliveries()

    def behaviour(event: Any) -> None:
        if any(d["i"] == 5 for d in kinesis_data(event)):
            raise ValueError("poison")

    function = FakeFunction(behaviour)
    for i in range(8):
        source.put(0, {"i": i})
    retry = RetryPolicy(max_retry_attempts=0, bisect=True, base_delay=0)
    async with Running(make_mapping(source, function, deliveries=deliveries, retry=retry)):
        await until(lambda: source.committed.get("shard-0") == 8)
    sizes = [len(e["Records"]) for e in function.events]
    assert sizes == [8, 4, 4, 2, 1, 1, 2]
    [record] = deliveries.records
    assert record["KinesisBatchInfo"]["batchSize"] == 1
    assert record["requestContext"]["approximateInvokeCount"] == 1  # the part's own
    processed = [
        d["i"]
        for e, ok in zip(function.events, [0, 1, 0, 0, 1, 0, 1], strict=True)
        if ok
        for d in kinesis_data(e)
    ]
    assert processed == [0, 1, 2, 3, 4, 6, 7]


async def test_the_invoke_count_of_a_bisected_record_is_its_own_part():
    source = FakeStreamSource(1)
    deliveries = Deliveries()

    def behaviour(event: Any) -> None:
        if any(d["i"] == 0 for d in kinesis_data(event)):
            raise ValueError("poison")

    function = FakeFunction(behaviour)
    for i in range(8):
        source.put(0, {"i": i})
    retry = RetryPolicy(max_retry_attempts=1, bisect=True, base_delay=0)
    async with Running(make_mapping(source, function, deliveries=deliveries, retry=retry)):
        await until(lambda: source.committed.get("shard-0") == 8)
    [record] = deliveries.records
    assert record["KinesisBatchInfo"]["batchSize"] == 1
    assert record["requestContext"]["approximateInvokeCount"] == 2  # tried, retried once


async def test_partial_response_checkpoints_before_the_lowest_failed_item():
    source = FakeStreamSource(1)
    calls: list[int] = []

    def behaviour(event: Any) -> Any:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
            return {"batchItemFailures": [{"itemIdentifier": seqs[4]}, {"itemIdentifier": seqs[3]}]}
        return {"batchItemFailures": []}

    function = FakeFunction(behaviour)
    for i in range(6):
        source.put(0, {"i": i})
    mapping = make_mapping(source, function, report_batch_item_failures=True)
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 6)
    assert [c["shard-0"] for c in source.commits][:1] == [3]
    assert [d["i"] for d in kinesis_data(function.events[1])] == [3, 4, 5]
    assert mapping.statistics().retries == 1
    assert mapping.statistics().failed_batches == 0  # a partial failure is not an error


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": "999"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"wrongKey": "1"}]},
        {"batchItemFailures": "nope"},
    ],
)
async def test_a_malformed_partial_response_fails_the_whole_batch(response):
    source = FakeStreamSource(1)
    function = FakeFunction(lambda event: response if len(function.events) == 1 else None)
    for i in range(3):
        source.put(0, {"i": i})
    with capture_logs() as logs:
        async with Running(make_mapping(source, function, report_batch_item_failures=True)):
            await until(lambda: source.committed.get("shard-0") == 3)
    assert [len(e["Records"]) for e in function.events] == [3, 3]
    [warning] = [e for e in logs if e["event"] == "the handler's response fails the whole batch"]
    assert warning["reason"].startswith("batchItemFailures: ")


async def test_partial_response_is_ignored_unless_enabled():
    source = FakeStreamSource(1)
    function = FakeFunction(lambda event: {"batchItemFailures": [{"itemIdentifier": "x"}]})
    source.put(0, {"i": 0})
    async with Running(make_mapping(source, function)):
        await until(lambda: source.committed.get("shard-0") == 1)
    assert len(function.events) == 1


async def test_kafka_partial_response_identifiers_are_partition_and_offset():
    source = FakeStreamSource(1)

    def behaviour(event: Any) -> Any:
        if len(function.events) == 1:
            return {"batchItemFailures": [{"itemIdentifier": {"partition": "fake-0", "offset": 1}}]}
        return None

    function = FakeFunction(behaviour)
    for i in range(3):
        source.put(0, {"i": i})
    mapping = make_mapping(source, function, event_format="kafka", report_batch_item_failures=True)
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 3)
    second = function.events[1]["records"]["fake-0"]
    assert [r["offset"] for r in second] == [1, 2]


async def test_records_older_than_max_record_age_are_given_up_without_invoking():
    now = 1_700_000_000.0
    source = FakeStreamSource(1)
    deliveries = Deliveries()
    function = FakeFunction()
    source.put(0, {"i": "old"}, timestamp_ms=int((now - 120) * 1000))
    source.put(0, {"i": "young"}, timestamp_ms=int((now - 5) * 1000))
    mapping = make_mapping(
        source,
        function,
        deliveries=deliveries,
        clock=lambda: now,
        retry=RetryPolicy(max_record_age=60, base_delay=0),
    )
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 2)
    assert [kinesis_data(e) for e in function.events] == [[{"i": "young"}]]
    [record] = deliveries.records
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "functionError" not in record["responseContext"]


async def test_a_batch_that_ages_out_while_retried_reports_its_invocations():
    clock = [1_700_000_000.0]
    source = FakeStreamSource(1)
    deliveries = Deliveries()

    def behaviour(event: Any) -> None:
        clock[0] += 30  # each failing attempt takes half of max_record_age
        raise ValueError("poison")

    function = FakeFunction(behaviour)
    source.put(0, {"i": 0}, timestamp_ms=int(clock[0] * 1000))
    mapping = make_mapping(
        source,
        function,
        deliveries=deliveries,
        clock=lambda: clock[0],
        retry=RetryPolicy(max_record_age=60, base_delay=0),
    )
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 1)
    assert len(function.events) == 3  # at ages 0, 30 and 60 s; at 90 s it is too old
    [record] = deliveries.records
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert mapping.statistics().retries == 2  # the retry age prevented is not counted


async def test_with_bisect_a_partial_failure_splits_at_the_item_without_using_retries():
    source = FakeStreamSource(1)
    deliveries = Deliveries()

    def behaviour(event: Any) -> Any:
        seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
        if len(function.events) == 1:
            return {"batchItemFailures": [{"itemIdentifier": seqs[3]}]}
        return None

    function = FakeFunction(behaviour)
    for i in range(6):
        source.put(0, {"i": i})
    retry = RetryPolicy(max_retry_attempts=0, bisect=True, base_delay=0)
    mapping = make_mapping(
        source, function, deliveries=deliveries, retry=retry, report_batch_item_failures=True
    )
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 6)
    assert [[d["i"] for d in kinesis_data(e)] for e in function.events] == [
        [0, 1, 2, 3, 4, 5],
        [3, 4, 5],
    ]
    assert deliveries.records == []
    assert mapping.statistics().retries == 0


async def test_a_kafka_record_too_large_for_any_invocation_goes_to_on_failure():
    source = FakeStreamSource(1)
    deliveries = Deliveries()
    function = FakeFunction()
    source.put(0, {"i": 0})
    source.put(0, {"i": 1, "pad": "x" * 5000})
    source.put(0, {"i": 2})
    mapping = make_mapping(
        source, function, deliveries=deliveries, event_format="kafka", max_payload=4000
    )
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 3)
    assert [v["i"] for e in function.events for v in kafka_values(e)] == [0, 2]
    [record] = deliveries.records
    assert record["requestContext"]["condition"] == "MaximumPayloadSizeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["responseContext"] is None
    assert record["KafkaBatchInfo"]["batchSize"] == 1


async def test_on_failure_delivery_is_retried_until_taken_before_moving_on():
    source = FakeStreamSource(1)
    deliveries = Deliveries(fail=2)
    function = FakeFunction(lambda event: (_ for _ in ()).throw(ValueError("x")))
    source.put(0, {"i": 0})
    mapping = make_mapping(
        source,
        function,
        deliveries=deliveries,
        retry=RetryPolicy(max_retry_attempts=0, base_delay=0),
    )
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 1)
    assert len(deliveries.records) == 1


async def test_stop_abandons_an_unfinished_batch_without_committing_it():
    source = FakeStreamSource(1)
    function = FakeFunction()
    function.gate = asyncio.Event()
    source.put(0, {"i": 0})
    mapping = make_mapping(source, function)
    task = asyncio.create_task(mapping.run())
    await function.started.wait()
    await mapping.stop(0.01)
    await task
    assert source.committed == {}
    assert source.closed


async def test_stop_lets_the_in_flight_batch_finish_within_grace_and_commits_it():
    source = FakeStreamSource(1)
    function = FakeFunction()
    function.gate = asyncio.Event()
    source.put(0, {"i": 0})
    mapping = make_mapping(source, function)
    task = asyncio.create_task(mapping.run())
    await function.started.wait()
    stopping = asyncio.create_task(mapping.stop(5))
    await asyncio.sleep(0.01)
    function.gate.set()
    await stopping
    await task
    assert source.committed == {"shard-0": 1}


async def test_failed_commits_are_retried():
    source = FakeStreamSource(1)
    source.fail_commits = 2
    function = FakeFunction()
    source.put(0, {"i": 0})
    async with Running(make_mapping(source, function, commit_retry_delay=0.001)):
        await until(lambda: source.committed.get("shard-0") == 1)


async def test_a_full_shard_buffer_pauses_reads_and_resumes_them():
    source = FakeStreamSource(1, page=500)
    function = FakeFunction()
    function.gate = asyncio.Event()
    for i in range(5000):
        source.put(0, {"i": i})
    mapping = make_mapping(source, function, batch_size=10)
    async with Running(mapping):
        await until(lambda: "shard-0" in source.paused)
        assert mapping.statistics().per_shard[0].buffered <= 1000 + 500
        function.gate.set()
        await until(lambda: source.committed.get("shard-0") == 5000)
    assert [d["i"] for d in seen(function)] == list(range(5000))
    assert source.pause_calls > 1


async def test_a_source_that_cannot_open_raises_source_unavailable():
    source = FakeStreamSource(1, fail_open="no such stream")
    mapping = make_mapping(source, FakeFunction())
    with pytest.raises(SourceUnavailable, match="no such stream"):
        await mapping.run()
    assert not mapping.status().connected


async def test_a_fetch_failure_stops_the_mapping_with_the_error():
    source = FakeStreamSource(1)
    mapping = make_mapping(source, FakeFunction())
    task = asyncio.create_task(mapping.run())
    await until(lambda: mapping.status().connected)
    source.fetch_error = SourceUnavailable("broker gone")
    source.put(0, {"i": 0})
    with pytest.raises(SourceUnavailable, match="broker gone"):
        await task


async def test_function_missing_is_retried_without_using_the_quota():
    source = FakeStreamSource(1)
    function = FakeFunction()
    missing = [2]
    real = function.invoke

    async def invoke(event: Any) -> Any:
        if missing[0]:
            missing[0] -= 1
            raise LookupError("Function not found: f")
        return await real(event)

    mapping = make_mapping(source, function, retry=RetryPolicy(max_retry_attempts=0, base_delay=0))
    mapping.ports = type(mapping.ports)(invoke=invoke)
    source.put(0, {"i": 0})
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 1)
    assert len(function.events) == 1


async def test_statistics_show_shards_batches_and_iterator_age():
    source = FakeStreamSource(2)
    function = FakeFunction()
    for i in range(10):
        source.put(i % 2, {"i": i})
    mapping = make_mapping(source, function, batch_size=2)
    async with Running(mapping):
        await until(lambda: sum(source.committed.values()) == 10)
        detail = mapping.status().detail
    assert detail["shards"] == 2
    assert detail["records"] == 10
    assert detail["batches"] == 6
    assert detail["blocked_shards"] == 0
    assert detail["shard_detail"]["shard-0"]["checkpoint"] == 5
    assert detail["lag"] == 0


async def test_a_blocked_shard_counts_its_stuck_records_as_lag_and_shows_where_it_resumed():
    source = FakeStreamSource(1)
    for i in range(2):
        source.put(0, {"i": i})
    async with Running(make_mapping(source, FakeFunction())):
        await until(lambda: source.committed.get("shard-0") == 2)

    failures: list[int] = []

    def behaviour(event: Any) -> None:
        failures.append(1)
        raise ValueError("down")

    for i in range(2, 6):
        source.put(0, {"i": i})
    retry = RetryPolicy(base_delay=0.001, max_delay=0.005)
    mapping = make_mapping(source, FakeFunction(behaviour), retry=retry)  # a restart
    async with Running(mapping):
        await until(lambda: len(failures) >= 2)
        shard = mapping.status().detail["shard_detail"]["shard-0"]
        assert shard["blocked"]
        assert shard["checkpoint"] == 2  # resumed after the two records done before
        assert shard["lag"] == 4  # nothing left to read, but four records not processed
        assert mapping.statistics().lag == 4
