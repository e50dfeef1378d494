"""Kafka sources against a real Tansu broker, the hub running in this process: the Kafka
event shape, order per partition under load, blocking, on-failure records, commits across
restarts, starting positions, filters, the kafka: destination, bad input."""

from __future__ import annotations

import base64
import json
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.support import recorder
from tests.support.hub_harness import HubHarness, eventually
from tests.support.kafka import TansuBroker, consume_all, produce

pytestmark = pytest.mark.integration


def kafka_records(name: str) -> list[dict[str, Any]]:
    return [
        r
        for event in recorder.events.get(name, [])
        for records in event["records"].values()
        for r in records
    ]


def value(record: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(record["value"]))


def kafka_hub(tmp_path: Path, broker: TansuBroker, topics: list[str], **source: Any) -> HubHarness:
    harness = HubHarness(tmp_path)
    harness.function("f")
    harness.config["connections"] = {
        "main": {"type": "kafka", "bootstrap_servers": broker.bootstrap}
    }
    harness.config["sources"]["orders-in"] = {
        "type": "kafka",
        "connection": "main",
        "topics": topics,
        "function": "f",
        "session_timeout": 6,
        # a group of its own: a member of an earlier test's group that has not left yet
        # (its stop is slow on a loaded machine) would hold this test's join for long
        "group_id": f"eventhub-test-{uuid.uuid4().hex[:8]}",
        **source,
    }
    return harness


async def test_kafka_event_shape_and_order_per_partition_under_load(tmp_path, kafka_broker):
    topic = await kafka_broker.topic(partitions=4)
    async with kafka_hub(tmp_path, kafka_broker, [topic], batch_size=200) as harness:
        await harness.start()
        total = 8000
        await produce(
            kafka_broker.bootstrap,
            topic,
            [(i % 4, f"k{i}".encode(), json.dumps({"i": i}).encode()) for i in range(total)],
            headers=[("source", b"test")],
        )
        await eventually(lambda: len(kafka_records("f")) >= total, within=60)
        event = recorder.events["f"][0]
        assert event["eventSource"] == "SelfManagedKafka"
        assert event["bootstrapServers"] == kafka_broker.bootstrap
        [key] = event["records"]
        record = event["records"][key][0]
        assert key == f"{topic}-{record['partition']}"
        assert record["topic"] == topic
        assert record["timestampType"] == "CREATE_TIME"
        assert record["headers"] == [{"source": list(b"test")}]
        by_partition: dict[int, list[int]] = defaultdict(list)
        for r in kafka_records("f"):
            by_partition[r["partition"]].append(r["offset"])
        assert sorted(by_partition) == [0, 1, 2, 3]
        for offsets in by_partition.values():
            assert offsets == sorted(offsets)
            assert offsets == list(range(len(offsets)))
        assert sum(len(v) for v in by_partition.values()) == total
        await eventually(lambda: harness.source("orders-in").detail["lag"] == 0)
        status = harness.source("orders-in")
        assert status.connected
        assert status.detail["shards"] == 4


async def test_a_poison_record_blocks_only_its_partition_then_goes_to_on_failure(
    tmp_path, kafka_broker
):
    topic = await kafka_broker.topic(partitions=2)
    out = tmp_path / "failed.jsonl"
    harness = kafka_hub(
        tmp_path,
        kafka_broker,
        [topic],
        max_retry_attempts=1,
        retry_base_delay=0.5,
        on_failure=f"file:{out}",
    )

    def behaviour(event: Any) -> None:
        for records in event["records"].values():
            if any(value(r).get("poison") for r in records):
                raise RuntimeError("poison")

    async with harness:
        await harness.start()
        recorder.behaviours["f"] = behaviour
        await eventually(lambda: harness.source("orders-in").detail["shards"] == 2)
        await produce(kafka_broker.bootstrap, topic, [(0, None, b'{"poison": true}')])
        await produce(
            kafka_broker.bootstrap,
            topic,
            [(1, None, json.dumps({"i": i}).encode()) for i in range(20)],
        )
        await eventually(lambda: len([r for r in kafka_records("f") if r["partition"] == 1]) == 20)
        lines = await eventually(lambda: _lines(out), within=20)
        record = lines[0]
        assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == 2
        info = record["KafkaBatchInfo"]
        assert info["batchSize"] == 1
        assert info["bootstrapServers"] == kafka_broker.bootstrap
        assert info["recordsInfo"][f"{topic}-0"]["firstRecordOffset"] == "0"
        await produce(kafka_broker.bootstrap, topic, [(0, None, b'{"i": "after"}')])
        await eventually(lambda: any(value(r) == {"i": "after"} for r in kafka_records("f")))


def _lines(path: Path) -> list[Any]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


async def test_commits_survive_restarts_and_latest_is_committed_at_once(tmp_path, kafka_broker):
    topic = await kafka_broker.topic(partitions=2)
    await produce(kafka_broker.bootstrap, topic, [(0, None, b'{"i": "before"}')])
    harness = kafka_hub(tmp_path, kafka_broker, [topic], starting_position="latest")
    async with harness:
        await harness.start()
        await eventually(lambda: harness.source("orders-in").detail["shards"] == 2, within=30)
        await harness.stop()
        await produce(kafka_broker.bootstrap, topic, [(0, None, b'{"i": "while-down"}')])
        await harness.start()
        await eventually(lambda: len(kafka_records("f")) == 1, within=30)
        assert value(kafka_records("f")[0]) == {"i": "while-down"}
        await produce(kafka_broker.bootstrap, topic, [(1, None, b'{"i": "live"}')])
        await eventually(lambda: len(kafka_records("f")) == 2)
        await harness.stop()
        recorder.events["f"] = []
        await harness.start()
        await produce(kafka_broker.bootstrap, topic, [(0, None, b'{"i": "last"}')])
        await eventually(lambda: len(kafka_records("f")) == 1, within=30)
        assert value(kafka_records("f")[0]) == {"i": "last"}  # nothing replayed


async def test_several_topics_filters_and_kinesis_format(tmp_path, kafka_broker):
    one = await kafka_broker.topic(partitions=1)
    two = await kafka_broker.topic(partitions=1)
    harness = kafka_hub(
        tmp_path,
        kafka_broker,
        [one, two],
        event_format="kinesis",
        filters=[{"data": {"kind": ["order"]}}],
    )
    async with harness:
        await harness.start()
        await produce(
            kafka_broker.bootstrap,
            one,
            [(0, b"a", b'{"kind": "order", "n": 1}'), (0, b"a", b'{"kind": "view"}')],
        )
        await produce(kafka_broker.bootstrap, two, [(0, b"b", b'{"kind": "order", "n": 2}')])
        await eventually(
            lambda: sum(len(e["Records"]) for e in recorder.events.get("f", [])) == 2, within=30
        )
        records = [r for e in recorder.events["f"] for r in e["Records"]]
        assert sorted(json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in records) == [
            1,
            2,
        ]
        arns = {r["eventSourceARN"] for r in records}
        assert arns == {f"arn:aws:kinesis:us-east-1:000000000000:stream/{t}" for t in (one, two)}
        assert {r["kinesis"]["partitionKey"] for r in records} == {"a", "b"}
        await eventually(lambda: harness.source("orders-in").detail["filtered"] == 1)


async def test_kafka_destination_receives_on_failure_records(tmp_path, kafka_broker):
    topic = await kafka_broker.topic(partitions=1)
    dead = await kafka_broker.topic(partitions=1)
    harness = kafka_hub(
        tmp_path, kafka_broker, [topic], max_retry_attempts=0, on_failure=f"kafka:main/{dead}"
    )
    async with harness:
        await harness.start()
        recorder.behaviours["f"] = lambda event: (_ for _ in ()).throw(ValueError("no"))
        await produce(kafka_broker.bootstrap, topic, [(0, None, b"{}")])
        # the group join alone can take ~18 s on Tansu under load
        try:
            [message] = await consume_all(kafka_broker.bootstrap, dead, 1, within=90)
        except TimeoutError:
            status = harness.source("orders-in")
            raise AssertionError(
                f"no on_failure record; invocations={len(recorder.events.get('f', []))} "
                f"source={status}"
            ) from None
        record = json.loads(message.value)
        assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert "KafkaBatchInfo" in record


async def test_unknown_topic_and_unreachable_broker_are_clear_errors(tmp_path, kafka_broker):
    from tests.support.ports import free_port

    harness = kafka_hub(tmp_path, kafka_broker, ["no-such-topic"])
    harness.config["connections"]["down"] = {
        "type": "kafka",
        "bootstrap_servers": f"127.0.0.1:{free_port()}",
    }
    harness.config["sources"]["down-in"] = {
        "type": "kafka",
        "connection": "down",
        "topics": ["x"],
        "function": "f",
    }
    async with harness:
        await harness.start()
        missing = await eventually(lambda: harness.source("orders-in").last_error)
        assert "no-such-topic" in missing
        assert "do not exist" in missing
        unreachable = await eventually(lambda: harness.source("down-in").last_error)
        assert "cannot reach Kafka at 127.0.0.1:" in unreachable
        assert not harness.source("orders-in").connected
        assert not harness.source("down-in").connected
