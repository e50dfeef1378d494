"""The admin API of a running daemon: pausing sources under load keeps their place,
readiness follows enabled sources' connections, ``eventhub status`` shows every kind."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import Daemon, wait_until
from tests.support.ops import (
    RECORDER,
    Producer,
    check_once,
    handled,
    metric,
    metrics,
    queue_sender,
    source,
    stream_sender,
)
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e


def rec(tmp_path: Path, **env: str) -> dict[str, Any]:
    return {
        "handler": "rec:handler",
        "code_dir": "functions",
        "environment": {"OUT": str(tmp_path / "seen.jsonl"), **env},
    }


def toggle(daemon: Daemon, name: str, action: str) -> dict[str, Any]:
    status, body = daemon.admin("POST", f"/sources/{name}/{action}")
    assert status == 200, body
    return dict(body)


def test_disable_and_enable_under_load_lose_and_repeat_nothing(
    daemon_factory, write_functions, tmp_path
) -> None:
    write_functions({"rec": RECORDER})
    daemon = daemon_factory(
        {
            "streams": {"clicks": {"shards": 2}},
            "queues": {"jobs": {}},
            "functions": {"rec": rec(tmp_path, PAUSE="0.02")},
            "sources": {
                "clicks-in": {"type": "stream", "stream": "clicks", "function": "rec"},
                "jobs-in": {"type": "queue", "queue": "jobs", "function": "rec"},
            },
        }
    )
    out = tmp_path / "seen.jsonl"
    with (
        Producer(stream_sender(daemon, "clicks")) as clicks,
        Producer(queue_sender(daemon, "jobs")) as jobs,
    ):
        wait_until(lambda: len(handled(out)) > 20, message="flowing")
        for name in ("clicks-in", "jobs-in"):
            paused = toggle(daemon, name, "disable")  # returns once drained and committed
            assert (paused["state"], paused["connected"]) == ("disabled", False)
        before = len(handled(out))
        sent_while_paused = len(clicks.sent) + len(jobs.sent)
        wait_until(
            lambda: len(clicks.sent) + len(jobs.sent) > sent_while_paused + 40,
            message="events keep arriving",
        )
        assert len(handled(out)) == before  # paused: nothing is consumed
        assert daemon.admin("GET", "/ready")[0] == 200  # a disabled source does not count
        samples = metrics(daemon)
        assert metric(samples, "eventhub_source_enabled", source="jobs-in", type="queue") == 0
        assert metric(samples, "eventhub_source_up", source="clicks-in", type="stream") == 0
        for name in ("clicks-in", "jobs-in"):
            assert toggle(daemon, name, "enable")["state"] in ("starting", "running")
        time.sleep(0.3)  # and they keep coming after the enable
    wait_until(
        lambda: len(handled(out)) >= len(clicks.sent) + len(jobs.sent), message="all handled"
    )
    seen = handled(out)
    check_once([line for line in seen if "shard" in line], clicks.sent)  # in order per shard
    check_once([line for line in seen if "receives" in line], jobs.sent, ordered=False)
    wait_until(lambda: source(daemon, "clicks-in")["connected"], message="running again")
    assert source(daemon, "clicks-in")["detail"]["restarts"] == 0


def test_ready_fails_while_an_enabled_source_is_disconnected(daemon_factory, write_functions):
    write_functions({"rec": RECORDER})
    nowhere = f"amqp://guest:guest@127.0.0.1:{free_port()}/"  # nothing listens there
    daemon = daemon_factory(
        {
            "connections": {"rabbit": {"type": "rabbitmq", "url": nowhere}},
            "streams": {"clicks": {}},
            "functions": {"rec": {"handler": "rec:handler", "code_dir": "functions"}},
            "sources": {
                "clicks-in": {"type": "stream", "stream": "clicks", "function": "rec"},
                "tasks-in": {
                    "type": "rabbitmq",
                    "connection": "rabbit",
                    "queue": "tasks",
                    "function": "rec",
                },
            },
        }
    )
    wait_until(lambda: source(daemon, "tasks-in")["last_error"], message="connection refused")
    wait_until(lambda: source(daemon, "clicks-in")["connected"], message="the stream is up")
    status, body = daemon.admin("GET", "/ready")
    assert (status, body["disconnected"]) == (503, ["tasks-in"])
    assert daemon.admin("GET", "/health")[0] == 200  # alive: a broker outage is no crash
    samples = metrics(daemon)
    assert metric(samples, "eventhub_source_up", source="tasks-in", type="rabbitmq") == 0
    assert metric(samples, "eventhub_source_up", source="clicks-in", type="stream") == 1

    toggle(daemon, "tasks-in", "disable")
    assert daemon.admin("GET", "/ready") == (200, {"status": "ready"})
    toggle(daemon, "tasks-in", "enable")
    assert daemon.admin("GET", "/ready")[0] == 503
    assert daemon.admin("POST", "/sources/nope/disable")[0] == 404


def test_status_prints_functions_and_every_kind_of_source(
    daemon_factory, write_functions, tmp_path
) -> None:
    write_functions({"rec": RECORDER})
    daemon = daemon_factory(
        {
            "streams": {"clicks": {"shards": 2}},
            "queues": {
                "jobs": {"redrive": {"dead_letter_queue": "jobs-dlq"}},
                "jobs-dlq": {},
            },
            "functions": {"rec": rec(tmp_path), "failing": rec(tmp_path, PAUSE="0")},
            "sources": {
                "clicks-in": {"type": "stream", "stream": "clicks", "function": "rec"},
                "jobs-in": {"type": "queue", "queue": "jobs", "function": "rec"},
                "api": {"type": "http", "route": "POST /orders", "function": "failing"},
                "uploads": {"type": "files", "root": "buckets", "bucket": "ups", "function": "rec"},
                "nightly": {
                    "type": "schedule",
                    "expression": "cron(0 2 * * ? *)",
                    "function": "rec",
                },
            },
        }
    )
    stream_sender(daemon, "clicks")(["k0:0", "k1:0"])
    queue_sender(daemon, "jobs")(["j:0"])
    assert daemon.request("POST", "/orders", b'{"fail": true}')[0] == 502
    wait_until(lambda: len(handled(tmp_path / "seen.jsonl")) == 3, message="handled")
    wait_until(lambda: "visible" in source(daemon, "jobs-in")["detail"], message="queue figures")

    done = daemon.cli("status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "FUNCTION", "HANDLER", "RUNTIME", "TIMEOUT", "RESERVED", "RUNNING", "INVOKED", "ERRORS",
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[1:] if line.strip()}
    assert rows["failing"].split()[-2:] == ["1", "1"]  # invoked once, failed once
    header = next(line for line in lines if line.startswith("SOURCE"))
    assert header.split() == [
        "SOURCE", "TYPE", "FUNCTION", "STATE", "HEALTH", "LAG", "DLQ", "ERRORS", "LAST", "RESULT",
    ]  # fmt: skip
    assert "0 rec, age " in rows["clicks-in"]  # records behind and iterator age
    assert "OK" in rows["clicks-in"]
    assert "0 msgs" in rows["jobs-in"]  # none waiting
    assert rows["jobs-in"][header.index("DLQ") :].split()[0] == "0"  # its dead-letter queue
    assert "HTTP 502" in rows["api"]
    assert rows["api"][header.index("ERRORS") :].split()[0] == "1"
    for name in ("clicks-in", "jobs-in", "api", "uploads", "nightly"):
        assert rows[name].split()[3:5] == ["running", "connected"], rows[name]
