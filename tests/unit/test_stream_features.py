"""Stream engine features against fakes: filters, parallelization, tumbling windows,
batch window and payload cap, the Kafka shape."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from eventhub.mapping.filters import FilterSet
from eventhub.mapping.retry import RetryPolicy
from tests.support.fake_stream import (
    FakeFunction,
    FakeStreamSource,
    kafka_values,
    kinesis_data,
    make_mapping,
)
from tests.unit.test_stream_engine import Running, until


async def test_filtered_records_are_checkpointed_past_and_never_invoked():
    source = FakeStreamSource(1)
    function = FakeFunction()
    for i in range(10):
        source.put(0, {"kind": "keep" if i % 3 == 0 else "drop", "i": i})
    source.put(0, b"not json")
    filters = FilterSet([{"data": {"kind": ["keep"]}}])
    mapping = make_mapping(source, function, filters=filters, batch_size=2)
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 11)
    assert [d["i"] for e in function.events for d in kinesis_data(e)] == [0, 3, 6, 9]
    assert mapping.statistics().filtered == 7


async def test_a_window_of_only_filtered_records_commits_without_invoking():
    source = FakeStreamSource(1)
    function = FakeFunction()
    for i in range(5):
        source.put(0, {"kind": "drop", "i": i})
    filters = FilterSet([{"data": {"kind": ["keep"]}}])
    async with Running(make_mapping(source, function, filters=filters)):
        await until(lambda: source.committed.get("shard-0") == 5)
    assert function.events == []


async def test_kafka_filters_match_the_decoded_value():
    source = FakeStreamSource(1)
    function = FakeFunction()
    source.put(0, {"kind": "order", "i": 1})
    source.put(0, {"kind": "refund", "i": 2})
    filters = FilterSet([{"value": {"kind": ["order"]}}])
    mapping = make_mapping(source, function, filters=filters, event_format="kafka")
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 2)
    assert [v["i"] for e in function.events for v in kafka_values(e)] == [1]
    event = function.events[0]
    assert event["eventSource"] == "SelfManagedKafka"
    assert event["bootstrapServers"] == "fake:9092"
    [record] = event["records"]["fake-0"]
    assert record["topic"] == "fake"
    assert record["partition"] == 0
    assert base64.b64decode(record["key"]) == b"k"


def test_kafka_values_of_another_format_than_the_pattern_are_matched_on_metadata_only():
    """AWS: a Kafka value whose format differs from the pattern's (plain text against a
    nested pattern, JSON against a list of values) is filtered on metadata only."""
    from eventhub.mapping.stream_format import FormatContext, KafkaFormat
    from eventhub.sources import ShardInfo

    def passes(patterns: list[Any], value: bytes) -> bool:
        context = FormatContext("us-east-1", "0" * 12, "arn", FilterSet(patterns))
        build = KafkaFormat(context).builder(ShardInfo("t-0", "t", 0))
        return build(0, None, value, 0, [], 0)[4] is not None

    nested = [{"value": {"kind": ["order"]}}]
    assert passes(nested, b'{"kind": "order"}')
    assert not passes(nested, b'{"kind": "refund"}')
    assert passes(nested, b"plain text")  # another format: metadata only
    assert passes(nested, b"\xff\xfe")  # not UTF-8: metadata only
    values = [{"value": ["ok"]}]
    assert passes(values, b"ok")
    assert not passes(values, b"no")
    assert passes(values, b'{"kind": "order"}')  # another format: metadata only


async def test_parallelization_runs_batches_concurrently_and_keeps_order_per_key():
    source = FakeStreamSource(1)
    running = 0
    peak = 0
    seen: dict[str, list[int]] = {}

    async def invoke(event: Any) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.002)
        running -= 1
        for record in event["Records"]:
            data = json.loads(base64.b64decode(record["kinesis"]["data"]))
            seen.setdefault(record["kinesis"]["partitionKey"], []).append(data["i"])
        return await function.invoke(event)

    function = FakeFunction()
    for i in range(400):
        source.put(0, {"i": i}, key=f"key-{i % 13}")
    mapping = make_mapping(source, function, batch_size=5, parallelization=4)
    mapping.ports = type(mapping.ports)(invoke=invoke)
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 400)
    assert peak > 1
    assert sum(len(v) for v in seen.values()) == 400
    for key, values in seen.items():
        assert values == sorted(values), key
        assert len(values) == len(set(values))


async def test_parallel_checkpoint_waits_for_the_slowest_lane():
    source = FakeStreamSource(1)

    def behaviour(event: Any) -> None:
        if any(r["kinesis"]["partitionKey"] == "stuck" for r in event["Records"]):
            raise ValueError("stuck")

    function = FakeFunction(behaviour)
    source.put(0, {"i": 0}, key="a")
    source.put(0, {"i": 1}, key="stuck")
    for i in range(2, 40):
        source.put(0, {"i": i}, key=f"k{i}")
    retry = RetryPolicy(base_delay=0.001, max_delay=0.002)
    mapping = make_mapping(source, function, parallelization=3, retry=retry)
    stuck_lane = hash(b"stuck") % 3
    keys = [b"a", *(f"k{i}".encode() for i in range(2, 40))]
    free = sum(1 for key in keys if hash(key) % 3 != stuck_lane)  # "a" batches with "stuck"
    async with Running(mapping):
        await until(lambda: mapping.statistics().blocked_shards == 1)
        await until(lambda: mapping.statistics().records == free)  # the other lanes flow
        assert source.committed.get("shard-0", 0) <= 1


async def test_batch_window_invokes_as_soon_as_the_batch_is_full():
    source = FakeStreamSource(1)
    function = FakeFunction()
    mapping = make_mapping(source, function, batch_size=10, batch_window=300)
    async with Running(mapping):
        for i in range(10):
            source.put(0, {"i": i})
        await until(lambda: source.committed.get("shard-0") == 10)
    assert [len(e["Records"]) for e in function.events] == [10]


async def test_payload_cap_splits_batches():
    source = FakeStreamSource(1)
    function = FakeFunction()
    for i in range(10):
        source.put(0, {"i": i, "pad": "x" * 30_000})
    mapping = make_mapping(source, function, batch_size=100, max_payload=16_384 + 100_000)
    async with Running(mapping):
        await until(lambda: source.committed.get("shard-0") == 10)
    sizes = [len(e["Records"]) for e in function.events]
    assert sum(sizes) == 10
    assert max(sizes) < 10
    for event in function.events:
        assert len(json.dumps(event)) <= 100_000 + 16_384


def _windowed(state: dict[str, Any], event: Any) -> dict[str, Any]:
    total = state.get("count", 0) + len(event["Records"])
    return {"state": {"count": total}}


async def test_tumbling_windows_carry_state_and_end_with_a_final_invocation():
    base = 1_700_000_000_000 - 1_700_000_000_000 % 10_000  # a window boundary
    now = [base / 1000 + 15]  # inside the second window: it stays open
    source = FakeStreamSource(1)
    function = FakeFunction(lambda event: _windowed(event["state"], event))
    for i in range(5):
        source.put(0, {"i": i}, timestamp_ms=base + i * 1000)
    for i in range(5, 8):
        source.put(0, {"i": i}, timestamp_ms=base + 10_000 + i * 100)
    mapping = make_mapping(source, function, batch_size=2, tumbling_window=10, clock=lambda: now[0])
    async with Running(mapping):
        await until(lambda: any(e["isFinalInvokeForWindow"] for e in function.events))
        await until(lambda: sum(len(e["Records"]) for e in function.events) == 8)
        assert source.committed.get("shard-0") == 5  # held at the open window's first record
        first_window = [e for e in function.events if e["window"]["end"] == _iso(base + 10_000)]
        assert [len(e["Records"]) for e in first_window] == [2, 2, 1, 0]
        assert [e["state"] for e in first_window] == [{}, {"count": 2}, {"count": 4}, {"count": 5}]
        assert [e["isFinalInvokeForWindow"] for e in first_window] == [False, False, False, True]
        assert first_window[0]["window"]["start"] == _iso(base)
        assert first_window[0]["shardId"] == "shard-0"
        assert first_window[0]["isWindowTerminatedEarly"] is False
        now[0] = base / 1000 + 21  # the second window's end passed: it closes while idle
        await until(lambda: source.committed.get("shard-0") == 8)
    final = function.events[-1]
    assert final["isFinalInvokeForWindow"] is True
    assert final["state"] == {"count": 3}


async def test_a_tumbling_window_response_without_state_fails_the_batch():
    now = 1_700_000_005.0
    source = FakeStreamSource(1)
    calls: list[int] = []

    def behaviour(event: Any) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else {"state": {}}

    function = FakeFunction(behaviour)
    source.put(0, {"i": 0}, timestamp_ms=1_700_000_000_000)
    mapping = make_mapping(source, function, tumbling_window=60, clock=lambda: now)
    async with Running(mapping):
        await until(lambda: len(calls) >= 2)
        assert "state" in (mapping.status().last_error or "")
    assert len(function.events[0]["Records"]) == len(function.events[1]["Records"]) == 1


async def test_tumbling_windows_in_kafka_format_carry_the_window_fields():
    now = 1_700_000_005.0
    source = FakeStreamSource(1)
    function = FakeFunction(lambda event: {"state": {"n": 1}})
    source.put(0, {"i": 0}, timestamp_ms=1_700_000_000_000)
    mapping = make_mapping(
        source, function, event_format="kafka", tumbling_window=60, clock=lambda: now
    )
    async with Running(mapping):
        await until(lambda: len(function.events) >= 1)
    event = function.events[0]
    assert event["eventSource"] == "SelfManagedKafka"
    assert event["state"] == {}
    assert event["shardId"] == "shard-0"
    assert event["window"] == {"start": "2023-11-14T22:13:00Z", "end": "2023-11-14T22:14:00Z"}


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
