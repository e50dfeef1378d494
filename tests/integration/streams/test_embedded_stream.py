"""The embedded stream end to end in one process: the Kinesis API (boto3), the stream
source under load, blocking, on-failure records, parallelization, windows, filters,
checkpoints across restarts, starting positions."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support import recorder
from tests.support.daemon import read_jsonl
from tests.support.hub_harness import HubHarness, eventually

pytestmark = pytest.mark.integration


def records_of(name: str) -> list[dict[str, Any]]:
    return [r for event in recorder.events.get(name, []) for r in event["Records"]]


def decoded(record: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(record["kinesis"]["data"]))


def kinesis_client(url: str) -> Any:
    return boto3.client(
        "kinesis",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def stream_hub(tmp_path: Path, shards: int = 4, **source: Any) -> HubHarness:
    harness = HubHarness(tmp_path)
    harness.function("f")
    harness.config["streams"] = {"clicks": {"shards": shards}}
    harness.config["sources"]["clicks-in"] = {
        "type": "stream",
        "stream": "clicks",
        "function": "f",
        **source,
    }
    return harness


async def test_boto3_kinesis_client_feeds_the_stream(tmp_path):
    async with stream_hub(tmp_path) as harness:
        await harness.start()
        client = kinesis_client(harness.url)

        def calls() -> tuple[Any, ...]:
            one = client.put_record(StreamName="clicks", Data=b'{"n": 0}', PartitionKey="user-1")
            many = client.put_records(
                StreamName="clicks",
                Records=[
                    {"Data": json.dumps({"n": i}).encode(), "PartitionKey": f"user-{i}"}
                    for i in range(1, 50)
                ],
            )
            return (
                one,
                many,
                client.list_streams(),
                client.describe_stream_summary(StreamName="clicks"),
                client.list_shards(StreamName="clicks"),
            )

        one, many, streams, summary, shards = await asyncio.to_thread(calls)
        assert one["ShardId"].startswith("shardId-")
        assert len(one["SequenceNumber"]) == 56
        assert many["FailedRecordCount"] == 0
        assert streams["StreamNames"] == ["clicks"]
        description = summary["StreamDescriptionSummary"]
        assert description["OpenShardCount"] == 4
        assert description["StreamARN"] == "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"
        ranges = {
            s["ShardId"]: (
                int(s["HashKeyRange"]["StartingHashKey"]),
                int(s["HashKeyRange"]["EndingHashKey"]),
            )
            for s in shards["Shards"]
        }
        for i, entry in enumerate(many["Records"], start=1):
            digest = int.from_bytes(hashlib.md5(f"user-{i}".encode()).digest(), "big")  # noqa: S324
            low, high = ranges[entry["ShardId"]]
            assert low <= digest <= high
        await eventually(lambda: len(records_of("f")) == 50)
        record = records_of("f")[0]
        assert record["eventSource"] == "aws:kinesis"
        assert record["eventSourceARN"] == description["StreamARN"]
        assert (
            record["eventID"]
            == f"{record['eventID'].split(':')[0]}:{record['kinesis']['sequenceNumber']}"
        )


async def test_kinesis_api_errors_are_aws_json(tmp_path):
    async with stream_hub(tmp_path) as harness:
        await harness.start()
        client = kinesis_client(harness.url)

        def error(call: Any) -> dict[str, Any]:
            with pytest.raises(ClientError) as caught:
                call()
            return caught.value.response

        missing = await asyncio.to_thread(
            error, lambda: client.put_record(StreamName="nope", Data=b"x", PartitionKey="k")
        )
        assert missing["Error"]["Code"] == "ResourceNotFoundException"
        assert "nope" in missing["Error"]["Message"]
        elsewhere = "arn:aws:kinesis:eu-west-1:000000000000:stream/clicks"  # another region
        foreign = await asyncio.to_thread(
            error, lambda: client.put_record(StreamARN=elsewhere, Data=b"x", PartitionKey="k")
        )
        assert foreign["Error"]["Code"] == "ResourceNotFoundException"
        here = "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"
        put = await asyncio.to_thread(
            lambda: client.put_record(StreamARN=here, Data=b"x", PartitionKey="k")
        )
        assert put["ShardId"].startswith("shardId-")
        status, body = await harness.kinesis(
            "PutRecords",
            {"StreamName": "clicks", "Records": [{"Data": "eA==", "PartitionKey": "k"}] * 501},
        )
        assert status == 400
        assert body["__type"] == "ValidationException"
        status, body = await harness.kinesis(
            "PutRecord", {"StreamName": "clicks", "Data": "eA==", "PartitionKey": ""}
        )
        assert (status, body["__type"]) == (400, "ValidationException")
        status, body = await harness.kinesis(
            "PutRecord", {"StreamName": "clicks", "Data": "not base64!", "PartitionKey": "k"}
        )
        assert (status, body["__type"]) == (400, "SerializationException")
        big = base64.b64encode(b"x" * 1_048_577).decode()
        status, body = await harness.kinesis(
            "PutRecord", {"StreamName": "clicks", "Data": big, "PartitionKey": "k"}
        )
        assert (status, body["__type"]) == (400, "ValidationException")
        status, body = await harness.kinesis(
            "PutRecord",
            {"StreamName": "clicks", "Data": "eA==", "PartitionKey": "k", "ExplicitHashKey": "-1"},
        )
        assert (status, body["__type"]) == (400, "InvalidArgumentException")
        assert "Traceback" not in json.dumps(body)
        for raw in (b"{not json", b"[" * 100_000 + b"]" * 100_000):  # broken; nested too deep
            status, body = await harness.kinesis("PutRecord", raw)
            assert (status, body["__type"]) == (400, "SerializationException")


async def test_boto3_reads_records_back_with_shard_iterators(tmp_path):
    """GetShardIterator / GetRecords: what a test reads to check a put or a stream:
    destination, with every iterator type, paging by Limit, and iterator errors."""
    harness = stream_hub(tmp_path, shards=2)
    harness.config["streams"]["audit"] = {"shards": 1}
    async with harness:
        await harness.start()
        client = kinesis_client(harness.url)
        shard = "shardId-000000000000"

        def iterator(kind: str, **where: Any) -> str:
            return client.get_shard_iterator(
                StreamName="audit", ShardId=shard, ShardIteratorType=kind, **where
            )["ShardIterator"]

        def records(kind: str, **where: Any) -> list[dict[str, Any]]:
            return client.get_records(ShardIterator=iterator(kind, **where))["Records"]

        def calls() -> dict[str, Any]:
            empty = client.get_records(ShardIterator=iterator("LATEST"))
            puts = [
                client.put_record(StreamName="audit", Data=f"r{i}".encode(), PartitionKey=f"k{i}")
                for i in range(5)
            ]
            first = client.get_records(ShardIterator=iterator("TRIM_HORIZON"), Limit=2)
            third = puts[3]["SequenceNumber"]
            return {
                "puts": puts,
                "empty": empty,
                "first": first,
                "rest": client.get_records(ShardIterator=first["NextShardIterator"]),
                "after_latest": client.get_records(ShardIterator=empty["NextShardIterator"]),
                "at": records("AT_SEQUENCE_NUMBER", StartingSequenceNumber=third),
                "after": records("AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=third),
                "timestamp": records(
                    "AT_TIMESTAMP", Timestamp=first["Records"][0]["ApproximateArrivalTimestamp"]
                ),
            }

        got = await asyncio.to_thread(calls)
        assert got["empty"]["Records"] == []
        assert got["empty"]["ResponseMetadata"]["RequestId"]
        assert [r["Data"] for r in got["first"]["Records"]] == [b"r0", b"r1"]
        assert got["first"]["MillisBehindLatest"] >= 0
        assert [r["Data"] for r in got["rest"]["Records"]] == [b"r2", b"r3", b"r4"]
        assert got["rest"]["MillisBehindLatest"] == 0
        assert [r["Data"] for r in got["after_latest"]["Records"]] == [
            b"r0",
            b"r1",
            b"r2",
            b"r3",
            b"r4",
        ]
        record = got["first"]["Records"][0]
        assert record["SequenceNumber"] == got["puts"][0]["SequenceNumber"]
        assert record["PartitionKey"] == "k0"
        assert [r["Data"] for r in got["at"]] == [b"r3", b"r4"]
        assert [r["Data"] for r in got["after"]] == [b"r4"]
        assert [r["Data"] for r in got["timestamp"]][0] == b"r0"

        def error(call: Any) -> dict[str, Any]:
            with pytest.raises(ClientError) as caught:
                call()
            return caught.value.response

        unknown_shard = await asyncio.to_thread(
            error,
            lambda: client.get_shard_iterator(
                StreamName="audit", ShardId="shardId-000000000007", ShardIteratorType="LATEST"
            ),
        )
        assert unknown_shard["Error"]["Code"] == "ResourceNotFoundException"
        assert unknown_shard["ResponseMetadata"]["RequestId"]
        foreign = await asyncio.to_thread(
            error,
            lambda: client.get_shard_iterator(
                StreamName="audit",
                ShardId=shard,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                StartingSequenceNumber=got["puts"][0]["SequenceNumber"].replace(
                    "49000000", "49000001", 1
                ),
            ),
        )
        assert foreign["Error"]["Code"] == "InvalidArgumentException"
        garbage = await asyncio.to_thread(
            error, lambda: client.get_records(ShardIterator="bm90IGFuIGl0ZXJhdG9y")
        )
        assert garbage["Error"]["Code"] == "InvalidArgumentException"
        from connectors import kinesis_iterators

        stale = kinesis_iterators.encode("audit", 0, 0, now_ms=0)
        expired = await asyncio.to_thread(error, lambda: client.get_records(ShardIterator=stale))
        assert expired["Error"]["Code"] == "ExpiredIteratorException"

        def pages() -> tuple[list[str], list[str], list[str], dict[str, Any]]:
            streams = [
                name
                for page in client.get_paginator("list_streams").paginate(
                    PaginationConfig={"PageSize": 1}
                )
                for name in page["StreamNames"]
            ]
            after = client.list_shards(StreamName="clicks", ExclusiveStartShardId=shard)
            paged = [
                s["ShardId"]
                for page in client.get_paginator("list_shards").paginate(
                    StreamName="clicks", PaginationConfig={"PageSize": 1}
                )
                for s in page["Shards"]
            ]
            return streams, [s["ShardId"] for s in after["Shards"]], paged, client.list_streams()

        streams, after_first, paged, listed = await asyncio.to_thread(pages)
        assert streams == ["audit", "clicks"]
        assert after_first == ["shardId-000000000001"]
        assert paged == ["shardId-000000000000", "shardId-000000000001"]
        assert listed["ResponseMetadata"]["RequestId"]


async def test_order_per_shard_and_per_key_under_load(tmp_path):
    async with stream_hub(tmp_path, shards=4, batch_size=250) as harness:
        await harness.start()
        total = 20_000
        put = await harness.put(
            "clicks", [(f"key-{i % 97}", {"i": i, "key": i % 97}) for i in range(total)]
        )
        await eventually(lambda: len(records_of("f")) >= total, within=60)
        seen = records_of("f")
        assert len(seen) == total
        by_shard: dict[str, list[int]] = defaultdict(list)
        by_key: dict[int, list[int]] = defaultdict(list)
        for record in seen:
            by_shard[record["eventID"].split(":")[0]].append(
                int(record["kinesis"]["sequenceNumber"])
            )
            data = decoded(record)
            by_key[data["key"]].append(data["i"])
        assert len(by_shard) == 4
        for sequence in by_shard.values():
            assert sequence == sorted(sequence)
        for values in by_key.values():
            assert values == sorted(values)
        assert {p["ShardId"] for p in put} == set(by_shard)
        detail = harness.source("clicks-in").detail
        await eventually(lambda: harness.source("clicks-in").detail["lag"] == 0)
        assert detail["records"] >= total - 500


async def test_a_poison_record_blocks_its_shard_only_then_goes_to_on_failure(tmp_path):
    out = tmp_path / "failed.jsonl"
    harness = stream_hub(
        tmp_path,
        shards=2,
        batch_size=10,
        max_retry_attempts=2,
        retry_base_delay=0.3,
        on_failure=f"file:{out}",
    )

    def behaviour(event: Any) -> None:
        if any(decoded(r).get("poison") for r in event["Records"]):
            raise ValueError("poison pill")

    async with harness:
        await harness.start()
        recorder.behaviours["f"] = behaviour
        # ExplicitHashKey 0 puts the poison in shard 0; keys of shard 1 keep flowing.
        status, _ = await harness.kinesis(
            "PutRecord",
            {
                "StreamName": "clicks",
                "PartitionKey": "p",
                "ExplicitHashKey": "0",
                "Data": base64.b64encode(b'{"poison": true}').decode(),
            },
        )
        assert status == 200
        high = str((1 << 128) - 1)
        for i in range(30):
            await harness.kinesis(
                "PutRecord",
                {
                    "StreamName": "clicks",
                    "PartitionKey": "q",
                    "ExplicitHashKey": high,
                    "Data": base64.b64encode(json.dumps({"i": i}).encode()).decode(),
                },
            )
        await eventually(lambda: harness.source("clicks-in").detail["blocked_shards"] == 1)
        shard1 = [
            decoded(r)["i"]
            for r in records_of("f")
            if r["eventID"].startswith("shardId-000000000001")
        ]
        await eventually(
            lambda: (
                len([r for r in records_of("f") if r["eventID"].startswith("shardId-000000000001")])
                == 30
            )
        )
        [failure] = await eventually(lambda: read_jsonl(out), within=20)
        assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert failure["requestContext"]["approximateInvokeCount"] == 3
        assert failure["KinesisBatchInfo"]["shardId"] == "shardId-000000000000"
        assert failure["KinesisBatchInfo"]["batchSize"] == 1
        assert failure["requestContext"]["functionArn"].endswith(":function:f")
        await eventually(lambda: harness.source("clicks-in").detail["blocked_shards"] == 0)
        assert shard1 == sorted(shard1)


async def test_bisect_sends_only_the_poison_record_to_a_stream_destination(tmp_path):
    harness = stream_hub(
        tmp_path,
        shards=1,
        batch_size=16,
        bisect_on_error=True,
        max_retry_attempts=0,
        on_failure="stream:dead",
    )
    harness.config["streams"]["dead"] = {"shards": 1}
    harness.function("dead-reader")
    harness.config["sources"]["dead-in"] = {
        "type": "stream",
        "stream": "dead",
        "function": "dead-reader",
    }

    async with harness:
        await harness.start()
        recorder.behaviours["f"] = lambda event: (
            (_ for _ in ()).throw(ValueError("bad"))
            if any(decoded(r)["i"] == 11 for r in event["Records"])
            else None
        )
        await harness.put("clicks", [("k", {"i": i}) for i in range(16)])
        [dead] = await eventually(lambda: records_of("dead-reader"))
        info = decoded(dead)["KinesisBatchInfo"]
        assert info["batchSize"] == 1
        await eventually(
            lambda: (
                harness.source("clicks-in").detail["shard_detail"]["shardId-000000000000"][
                    "checkpoint"
                ]
                == 16
            )
        )
        ok = sorted({decoded(r)["i"] for e, r in _invocations_ok("f") for r in [r]})
        assert 11 not in ok
        assert ok == [i for i in range(16) if i != 11]


def _invocations_ok(name: str) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for index, event in enumerate(recorder.events.get(name, [])):
        values = [decoded(r)["i"] for r in event["Records"]]
        if 11 not in values:
            out.extend((index, r) for r in event["Records"])
    return out


async def test_parallelization_factor_keeps_order_per_key(tmp_path):
    async with stream_hub(tmp_path, shards=1, batch_size=20, parallelization_factor=5) as harness:
        await harness.start()
        running = [0, 0]

        async def slow(event: Any) -> None:
            running[0] += 1
            running[1] = max(running[1], running[0])
            await asyncio.sleep(0.01)
            running[0] -= 1

        recorder.behaviours["f"] = lambda event: slow(event)
        await harness.put("clicks", [(f"k{i % 23}", {"i": i, "k": i % 23}) for i in range(2000)])
        await eventually(lambda: len(records_of("f")) >= 2000, within=60)
        by_key: dict[int, list[int]] = defaultdict(list)
        for record in records_of("f"):
            data = decoded(record)
            by_key[data["k"]].append(data["i"])
        for values in by_key.values():
            assert values == sorted(values)
        assert running[1] > 1  # batches of one shard really ran at the same time


async def test_tumbling_window_state_and_final_invocation(tmp_path):
    async with stream_hub(tmp_path, shards=1, tumbling_window=1) as harness:
        await harness.start()

        def count(event: Any) -> dict[str, Any]:
            return {"state": {"n": event["state"].get("n", 0) + len(event["Records"])}}

        recorder.behaviours["f"] = count
        await harness.put("clicks", [("k", {"i": i}) for i in range(30)])
        final = await eventually(
            lambda: [e for e in recorder.events.get("f", []) if e["isFinalInvokeForWindow"]],
            within=10,
        )
        assert sum(e["state"]["n"] for e in final) == 30
        assert all(e["Records"] == [] for e in final)
        assert final[0]["window"]["end"] > final[0]["window"]["start"]


async def test_filters_drop_records_and_checkpoint_past_them(tmp_path):
    harness = stream_hub(tmp_path, shards=1, filters=[{"data": {"kind": ["order"]}}])
    async with harness:
        await harness.start()
        await harness.put(
            "clicks", [("k", {"kind": "order" if i % 2 else "view", "i": i}) for i in range(20)]
        )
        await eventually(
            lambda: (
                harness.source("clicks-in").detail["shard_detail"]["shardId-000000000000"][
                    "checkpoint"
                ]
                == 20
            )
        )
        assert [decoded(r)["i"] for r in records_of("f")] == list(range(1, 20, 2))
        assert harness.source("clicks-in").detail["filtered"] == 10
        await harness.restart()
        # after a restart the shard shows where it resumes before any record arrives
        await eventually(lambda: harness.source("clicks-in").detail["shard_detail"])
        detail = harness.source("clicks-in").detail["shard_detail"]["shardId-000000000000"]
        assert detail["checkpoint"] == 20


async def test_checkpoints_survive_a_restart_and_latest_is_fixed_at_first_start(tmp_path):
    harness = stream_hub(tmp_path, shards=2, starting_position="latest")
    async with harness:
        await harness.start()
        await harness.put("clicks", [("a", {"i": 0}), ("b", {"i": 1})])
        await eventually(lambda: len(records_of("f")) == 2)
        await harness.stop()
        recorder.events["f"] = []
        # While it is down: records must not be skipped by `latest` at the next start.
        harness2_records = [("a", {"i": 2}), ("b", {"i": 3})]
        await harness.start()
        await harness.put("clicks", harness2_records)
        await eventually(lambda: len(records_of("f")) == 2)
        assert sorted(decoded(r)["i"] for r in records_of("f")) == [2, 3]


async def test_starting_positions_apply_only_without_a_checkpoint(tmp_path):
    harness = stream_hub(tmp_path, shards=1)
    harness.function("g")
    harness.function("h")
    async with harness:
        await harness.start()
        await harness.put("clicks", [("k", {"i": i}) for i in range(5)])
        await eventually(lambda: len(records_of("f")) == 5)
        await harness.stop()
        harness.config["sources"]["from-start"] = {
            "type": "stream",
            "stream": "clicks",
            "function": "g",
            "starting_position": "trim_horizon",
        }
        harness.config["sources"]["from-now"] = {
            "type": "stream",
            "stream": "clicks",
            "function": "h",
            "starting_position": "latest",
        }
        await harness.start()
        await harness.put("clicks", [("k", {"i": 5})])
        await eventually(lambda: len(records_of("g")) == 6 and len(records_of("h")) == 1)
        assert [decoded(r)["i"] for r in records_of("h")] == [5]
        assert len(records_of("f")) == 6  # resumed from its checkpoint: no replay


async def test_at_timestamp_starts_at_the_first_record_that_arrived_then(tmp_path):
    harness = stream_hub(tmp_path, shards=1)
    harness.function("late")
    async with harness:
        await harness.start()
        await harness.put("clicks", [("k", {"i": i}) for i in range(3)])
        await asyncio.sleep(0.05)
        import datetime

        moment = datetime.datetime.now(datetime.UTC)
        await asyncio.sleep(0.05)
        await harness.put("clicks", [("k", {"i": i}) for i in range(3, 6)])
        await harness.stop()
        harness.config["sources"]["late-in"] = {
            "type": "stream",
            "stream": "clicks",
            "function": "late",
            "starting_position": "at_timestamp",
            "starting_timestamp": moment.isoformat(),
        }
        await harness.start()
        await eventually(lambda: len(records_of("late")) == 3)
        assert [decoded(r)["i"] for r in records_of("late")] == [3, 4, 5]


async def test_retention_trims_old_records(tmp_path):
    async with stream_hub(tmp_path, shards=1) as harness:
        hub = await harness.start()
        await harness.put("clicks", [("k", {"i": i}) for i in range(10)])
        from eventhub.store.streams import StreamLog

        log = StreamLog.of(hub.env.store)
        [shard] = log.shards("clicks")
        assert await log.trim(shard.sid, before_ms=0) == 0
        deleted = await log.trim(shard.sid, before_ms=2**62)
        assert deleted == 10
        assert await log.first_seq(shard.sid) is None


async def test_sources_and_metrics_show_the_mapping(tmp_path):
    async with stream_hub(tmp_path, shards=2) as harness:
        hub = await harness.start()
        await harness.put("clicks", [(f"k{i}", {"i": i}) for i in range(10)])
        await eventually(lambda: harness.source("clicks-in").detail["records"] == 10)
        status = harness.source("clicks-in")
        assert status.connected
        assert status.state == "running"
        assert status.last_result == "OK"
        assert set(status.detail["shard_detail"]) == {
            "shardId-000000000000",
            "shardId-000000000001",
        }
        from prometheus_client import generate_latest

        text = generate_latest(hub.metrics.registry).decode()
        assert 'eventhub_stream_records_total{outcome="processed",source="clicks-in"} 10.0' in text
        assert "eventhub_stream_iterator_age_seconds" in text
