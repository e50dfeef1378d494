"""Kafka operations with daemons as processes: two hubs share a consumer group and survive
one being killed; the broker killed and restarted while the hub runs."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import Daemon, read_jsonl, wait_until
from tests.support.kafka import kafka_broker, tansu
from tests.support.stream_checks import RECORDING_HANDLER, check_runs

__all__ = ["kafka_broker", "tansu"]

pytestmark = pytest.mark.e2e


def _hub(workdir: Path, bootstrap: str, topic: str, out: Path, pause: str = "0.02") -> Daemon:
    workdir.mkdir(parents=True, exist_ok=True)
    code = workdir / "functions"
    code.mkdir(exist_ok=True)
    (code / "rec.py").write_text(RECORDING_HANDLER)
    config: dict[str, Any] = {
        "connections": {"main": {"type": "kafka", "bootstrap_servers": bootstrap}},
        "functions": {
            "rec": {
                "handler": "rec:handler",
                "code_dir": "functions",
                "environment": {"OUT": str(out), "PAUSE": pause},
            }
        },
        "sources": {
            "orders": {
                "type": "kafka",
                "connection": "main",
                "topics": [topic],
                "function": "rec",
                "batch_size": 20,
                "session_timeout": 6,
            }
        },
    }
    return Daemon(workdir, config)


def _shards(daemon: Daemon) -> int:
    status, body = daemon.admin("GET", "/sources")
    if status != 200:
        return -1
    return int(body["sources"][0]["detail"]["shards"])


def test_two_hubs_share_partitions_and_survive_one_being_killed(tmp_path, kafka_broker):
    topic = kafka_broker.create_topic(partitions=4)
    out = tmp_path / "seen.jsonl"
    first = _hub(tmp_path / "a", kafka_broker.bootstrap, topic, out)
    second = _hub(tmp_path / "b", kafka_broker.bootstrap, topic, out)
    try:
        first.start()
        second.start()
        wait_until(
            lambda: _shards(first) == 2 and _shards(second) == 2,
            timeout=60,
            message="partitions shared between the two hubs",
        )
        half = 400
        kafka_broker.produce(
            topic, [(i % 4, None, json.dumps({"i": i}).encode()) for i in range(half)]
        )
        wait_until(lambda: len(read_jsonl(out)) >= half // 2, timeout=60)
        second.kill()
        kafka_broker.produce(
            topic, [(i % 4, None, json.dumps({"i": i}).encode()) for i in range(half, 2 * half)]
        )
        wait_until(lambda: _shards(first) == 4, timeout=60, message="survivor owns all partitions")
        wait_until(lambda: len({line["data"] for line in read_jsonl(out)}) >= 2 * half, timeout=60)
        lines = read_jsonl(out)
        check_runs(lines, {f"{topic}-{p}": 2 * half // 4 for p in range(4)})
        assert first.stop() == 0
    finally:
        first.kill()
        second.kill()


def _outage(daemon: Daemon, tansu: Any, topic: str, out: Path, before: int) -> None:
    """Start the hub, let it handle ``before`` records of partition 0, then kill the
    broker and wait until /ready reports the outage."""
    daemon.start()
    wait_until(lambda: daemon.request("GET", "/ready", admin=True)[0] == 200, timeout=60)
    tansu.produce(topic, [(0, None, b'{"i": "before-%d"}' % i) for i in range(before)])
    wait_until(lambda: len(read_jsonl(out)) >= before, timeout=30)
    tansu.kill()
    wait_until(
        lambda: daemon.request("GET", "/ready", admin=True)[0] == 503,
        timeout=30,
        message="/ready reports the outage",
    )


def test_broker_outage_shows_in_ready_and_the_hub_resumes(tmp_path, tansu):
    topic = tansu.create_topic("orders", partitions=2)
    out = tmp_path / "seen.jsonl"
    # Each batch takes 2 s, so the broker dies while one is in flight: its commit fails
    # and is retried against the restarted broker, which has lost its log.
    daemon = _hub(tmp_path / "hub", tansu.bootstrap, topic, out, pause="2")
    try:
        _outage(daemon, tansu, topic, out, before=5)
        status, body = daemon.admin("GET", "/sources")
        assert body["sources"][0]["connected"] is False
        assert body["sources"][0]["last_result"] == "PROBLEM: Connection error."
        assert body["sources"][0]["last_error"].startswith(
            f"cannot reach Kafka at {tansu.bootstrap}"
        )
        assert daemon.request("GET", "/health", admin=True)[0] == 200  # the hub stays up
        tansu.start()  # same port; memory storage: the topic must be made again
        tansu.create_topic("orders", partitions=2)
        wait_until(
            lambda: daemon.request("GET", "/ready", admin=True)[0] == 200,
            timeout=60,
            message="/ready again after the broker came back",
        )
        # The broker lost its log: partition 0 starts again at offset 0, below the
        # position the hub had reached (5). Every new record must still be handled.
        tansu.produce(
            topic, [(p, None, b'{"i": "after-%d-%d"}' % (p, i)) for p in (0, 1) for i in range(3)]
        )
        after = {f'{{"i": "after-{p}-{i}"}}' for p in (0, 1) for i in range(3)}
        wait_until(
            lambda: after <= {line["data"] for line in read_jsonl(out)},
            timeout=120,  # rejoin (up to ~18 s on Tansu) + 5 s past-end grace + reassignment
            message="records after the outage handled",
        )
        assert daemon.stop() == 0
    finally:
        daemon.kill()


def test_sigterm_while_the_broker_is_down_still_exits(tmp_path, tansu):
    topic = tansu.create_topic("orders", partitions=2)
    out = tmp_path / "seen.jsonl"
    daemon = _hub(tmp_path / "hub", tansu.bootstrap, topic, out, pause="0")
    try:
        _outage(daemon, tansu, topic, out, before=1)
        daemon.signal(signal.SIGTERM)
        assert daemon.proc is not None
        # Stopping the consumer is bounded (10 s) and so is the last commit (10 s).
        assert daemon.proc.wait(45) == 0
    finally:
        daemon.kill()
