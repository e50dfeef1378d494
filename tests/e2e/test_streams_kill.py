"""kill -9 of the daemon mid-batch, then restart: every record is handled at least once,
in order per shard, none skipped (embedded stream and Kafka)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest

from tests.support.daemon import read_jsonl, wait_until
from tests.support.kafka import kafka_broker
from tests.support.stream_checks import RECORDING_HANDLER, check_runs

__all__ = ["kafka_broker"]

pytestmark = pytest.mark.e2e


def _config(out: str, source: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "functions": {
            "rec": {
                "handler": "rec:handler",
                "code_dir": "functions",
                "environment": {"OUT": out, "PAUSE": "0.1"},
            }
        },
        "sources": {"in": {"function": "rec", "batch_size": 40, **source}},
        **extra,
    }


def _kill_mid_batch_and_finish(daemon: Any, out: Any, total: int) -> list[dict[str, Any]]:
    wait_until(lambda: len(read_jsonl(out)) >= total // 4, timeout=60, message="some handled")
    daemon.kill()
    seen_before = len(read_jsonl(out))
    assert seen_before < total  # killed mid-way
    daemon.start()
    wait_until(
        lambda: len({line["data"] for line in read_jsonl(out)}) >= total,
        timeout=90,
        message="every record handled after the restart",
    )
    return read_jsonl(out)


def test_embedded_stream_survives_kill_9(daemon_factory, write_functions, tmp_path):
    write_functions({"rec": RECORDING_HANDLER})
    out = tmp_path / "seen.jsonl"
    daemon = daemon_factory(
        _config(str(out), {"type": "stream", "stream": "clicks"}, streams={"clicks": {"shards": 4}})
    )
    client = boto3.client(
        "kinesis",
        endpoint_url=daemon.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    total = 2000
    per_shard: Counter[str] = Counter()
    for start in range(0, total, 500):
        reply = client.put_records(
            StreamName="clicks",
            Records=[
                {"Data": json.dumps({"i": i}).encode(), "PartitionKey": f"k{i % 37}"}
                for i in range(start, start + 500)
            ],
        )
        per_shard.update(r["ShardId"] for r in reply["Records"])
    lines = _kill_mid_batch_and_finish(daemon, out, total)
    pids = check_runs(lines, dict(per_shard))
    assert any(len(p) == 2 for p in pids.values())  # work spanned both runs
    assert {json.loads(line["data"])["i"] for line in lines} == set(range(total))


def test_kafka_source_survives_kill_9(daemon_factory, write_functions, tmp_path, kafka_broker):
    write_functions({"rec": RECORDING_HANDLER})
    topic = kafka_broker.create_topic(partitions=4)
    out = tmp_path / "seen.jsonl"
    daemon = daemon_factory(
        _config(
            str(out),
            {"type": "kafka", "connection": "main", "topics": [topic], "session_timeout": 6},
            connections={"main": {"type": "kafka", "bootstrap_servers": kafka_broker.bootstrap}},
        )
    )
    total = 2000
    kafka_broker.produce(
        topic, [(i % 4, None, json.dumps({"i": i}).encode()) for i in range(total)]
    )
    lines = _kill_mid_batch_and_finish(daemon, out, total)
    check_runs(lines, {f"{topic}-{p}": total // 4 for p in range(4)})
