"""Metrics and logs move as events flow: per function, per stream, queue and push source."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import wait_until
from tests.support.ops import (
    RECORDER,
    client,
    handled,
    metric,
    metrics,
    queue_sender,
    stream_sender,
)

pytestmark = pytest.mark.e2e

NOWHERE = "http://127.0.0.1:9/unreachable"  # the discard port: nothing accepts there


def config(tmp_path: Path) -> dict[str, Any]:
    def rec(**settings: Any) -> dict[str, Any]:
        return {
            "handler": "rec:handler",
            "code_dir": "functions",
            "environment": {"OUT": str(tmp_path / "seen.jsonl")},
            **settings,
        }

    return {
        "streams": {"clicks": {"shards": 2}, "bad": {}},
        "queues": {"jobs": {"redrive": {"dead_letter_queue": "jobs-dlq"}}, "jobs-dlq": {}},
        "functions": {
            "rec": rec(),
            "failing": rec(
                environment={"OUT": str(tmp_path / "failed.jsonl"), "PAUSE": "0"},
                **{"async": {"max_retry_attempts": 0, "on_failure": NOWHERE}},
            ),
            "off": rec(reserved_concurrency=0),
        },
        "sources": {
            "clicks-in": {"type": "stream", "stream": "clicks", "function": "rec"},
            "bad-in": {
                "type": "stream",
                "stream": "bad",
                "function": "failing",
                "max_retry_attempts": 1,
                "retry_base_delay": 0.05,
                "on_failure": NOWHERE,
            },
            "jobs-in": {"type": "queue", "queue": "jobs", "function": "rec"},
            "api": {"type": "http", "route": "POST /orders", "function": "failing"},
        },
    }


def test_metrics_move_as_events_flow(daemon_factory, write_functions, tmp_path) -> None:
    write_functions({"rec": RECORDER})
    daemon = daemon_factory(config(tmp_path))
    wait_until(lambda: daemon.admin("GET", "/ready")[0] == 200, message="sources connected")
    before = metrics(daemon)
    assert metric(before, "eventhub_invocations_total", function="rec") == 0
    for name, kind in (("clicks-in", "stream"), ("jobs-in", "queue"), ("api", "http")):
        assert metric(before, "eventhub_source_up", source=name, type=kind) == 1
        assert metric(before, "eventhub_source_enabled", source=name, type=kind) == 1

    clicks = [f"k{i % 4}:{i // 4}" for i in range(40)]
    stream_sender(daemon, "clicks")(clicks)
    queue_sender(daemon, "jobs")([f"j:{i}" for i in range(7)])
    stream_sender(daemon, "bad")(["fail:0"])  # its batch fails, is retried, then given up
    assert daemon.request("POST", "/orders", b'{"fail": 1}')[0] == 502
    assert daemon.request("POST", "/orders", b"{}")[0] == 200
    assert daemon.invoke("off", {})[0] == 429
    assert daemon.invoke("failing", {"fail": True}, kind="Event")[0] == 202
    sqs = client(daemon, "sqs")
    dlq = sqs.get_queue_url(QueueName="jobs-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody="parked")
    wait_until(lambda: len(handled(tmp_path / "seen.jsonl")) == 47, message="all handled")

    def settled() -> dict[Any, float] | None:
        now = metrics(daemon)
        done = (
            metric(now, "eventhub_queue_messages_total", source="jobs-in", outcome="deleted") == 7
            and metric(now, "eventhub_dead_letter_errors_total", source="bad-in") >= 1
            and metric(
                now,
                "eventhub_destination_delivery_failures_total",
                function="failing",
                destination="http",
            )
            == 1
            and metric(now, "eventhub_queue_depth", source="jobs-in", state="dead_letter") == 1
        )
        return now if done else None

    now = wait_until(settled, timeout=30, message="metrics settled")
    # per function: Lambda's Invocations, Errors, Throttles, Duration, async metrics
    invocations = metric(now, "eventhub_invocations_total", function="rec")
    assert invocations >= 3  # two shards and a queue batch at least
    assert metric(now, "eventhub_duration_seconds_count", function="rec") == invocations
    assert metric(now, "eventhub_errors_total", function="failing", error_type="ValueError") >= 3
    assert metric(now, "eventhub_throttles_total", function="off") == 1
    assert metric(now, "eventhub_async_events_received_total", function="failing") == 1
    assert metric(now, "eventhub_async_event_age_seconds_count", function="failing") == 1
    dropped = {"function": "failing", "reason": "RetriesExhausted"}
    assert metric(now, "eventhub_async_events_dropped_total", **dropped) == 1
    assert metric(now, "eventhub_async_queue_depth", function="failing") == 0
    # per source: stream records, batches, iterator age, lag, retries, blocked shards
    assert (
        metric(now, "eventhub_stream_records_total", source="clicks-in", outcome="processed") == 40
    )
    assert metric(now, "eventhub_stream_batches_total", source="clicks-in", result="success") >= 2
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        labels = {"source": "clicks-in", "shard": shard}
        assert ("eventhub_stream_iterator_age_seconds", tuple(sorted(labels.items()))) in now
        assert metric(now, "eventhub_stream_lag_records", **labels) == 0
    assert metric(now, "eventhub_stream_retries_total", source="bad-in") == 1
    assert metric(now, "eventhub_stream_blocked_shards", source="bad-in") == 1  # delivering
    age = {"source": "bad-in", "shard": "shardId-000000000000"}
    # queue: messages, batches, in flight, depth (DLQ)
    assert metric(now, "eventhub_queue_messages_total", source="jobs-in", outcome="received") == 7
    assert metric(now, "eventhub_queue_batches_total", source="jobs-in", result="success") >= 1
    assert metric(now, "eventhub_queue_batches_in_flight", source="jobs-in") == 0
    assert metric(now, "eventhub_queue_depth", source="jobs-in", state="visible") == 0
    # push: requests by status
    assert metric(now, "eventhub_http_requests_total", source="api", status="502") == 1
    assert metric(now, "eventhub_http_requests_total", source="api", status="200") == 1
    # the retried batch was older at its retry than the backoff before it (IteratorAge)
    assert metric(now, "eventhub_stream_iterator_age_seconds", **age) >= 0.04


def test_concurrent_executions_follow_running_invocations(daemon_factory, write_functions):
    write_functions({"rec": RECORDER})
    daemon = daemon_factory(
        {"functions": {"rec": {"handler": "rec:handler", "code_dir": "functions"}}}
    )
    slow = threading.Thread(target=daemon.invoke, args=("rec", {"sleep": 1}))
    slow.start()
    wait_until(
        lambda: metric(metrics(daemon), "eventhub_concurrent_executions", function="rec") == 1,
        message="one running",
    )
    slow.join(10)
    assert metric(metrics(daemon), "eventhub_concurrent_executions", function="rec") == 0


def test_invocation_lines_of_mappings_name_their_source_and_shard(
    daemon_factory, write_functions, tmp_path
) -> None:
    write_functions({"rec": RECORDER})
    daemon = daemon_factory(config(tmp_path))
    stream_sender(daemon, "clicks")(["k0:0", "k1:0", "k2:0"])
    queue_sender(daemon, "jobs")(["j:0"])
    assert daemon.request("POST", "/orders", b"{}")[0] == 200
    wait_until(lambda: len(handled(tmp_path / "seen.jsonl")) == 4, message="handled")
    assert daemon.stop() == 0

    events = [json.loads(line) for line in daemon.log_text().splitlines() if line.strip()]
    by_request: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if "request_id" in event:
            by_request.setdefault(event["request_id"], []).append(event)
    kinds = {"START", "END", "REPORT", "stdout"}
    for lines in by_request.values():
        assert {e.get("stream") or e["event"].split()[0] for e in lines} >= kinds, lines
        assert len({(e["function"], e.get("source"), e.get("shard")) for e in lines}) == 1
    tags = {(e["function"], e.get("source"), e.get("shard")) for e in events if "request_id" in e}
    shards = {t[2] for t in tags if t[1] == "clicks-in"}
    assert shards
    assert shards <= {"shardId-000000000000", "shardId-000000000001"}
    assert ("rec", "jobs-in", None) in tags
    assert ("failing", "api", None) in tags
