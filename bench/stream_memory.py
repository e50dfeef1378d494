"""Memory with a 1,000,000-record backlog: the daemon's RSS while it drains.

Embedded stream: 1,000,000 records of 200 bytes are put while the mapping is disabled,
then it is enabled and the daemon's RSS is sampled every 100 ms until the last record is
handled. Kafka: the same backlog is produced to a 4-partition topic before the daemon
starts. Baseline: the RSS of the same daemon idle with no backlog. Target: RSS <= 150 MB
(bounded buffering: memory does not grow with the backlog).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench._support import COUNTING_HANDLER, daemon, function, rss_mb, table, workdir
from bench.stream_embedded import CLIENT
from tests.support.daemon import Daemon
from tests.support.kafka import TansuBroker

BACKLOG = 1_000_000
TARGET_MB = 150


def _drain(hub: Daemon, out: Path, before: float) -> float:
    assert hub.proc is not None
    peak = before
    deadline = time.monotonic() + 900
    while not (out.exists() and out.stat().st_size):
        peak = max(peak, rss_mb(hub.proc.pid))
        if time.monotonic() > deadline:
            raise TimeoutError("backlog not drained")
        time.sleep(0.1)
    return max(peak, rss_mb(hub.proc.pid))


def _embedded() -> tuple[float, float, float]:
    path = workdir("memory-stream")
    out = path / "done.json"
    hub = daemon(
        path,
        COUNTING_HANDLER,
        {
            "streams": {"bench": {"shards": 4}},
            "functions": {"noop": function({"OUT": str(out), "TOTAL": str(BACKLOG)})},
            "sources": {
                "bench-in": {
                    "type": "stream",
                    "stream": "bench",
                    "function": "noop",
                    "batch_size": 500,
                    "enabled": False,
                }
            },
        },
    )
    try:
        hub.start()
        assert hub.proc is not None
        idle = rss_mb(hub.proc.pid)
        subprocess.run(
            [sys.executable, "-c", CLIENT, hub.url, str(BACKLOG), "8"],
            capture_output=True,
            check=True,
            timeout=900,
        )
        stored = rss_mb(hub.proc.pid)
        assert hub.admin("POST", "/sources/bench-in/enable")[0] == 200
        return idle, stored, _drain(hub, out, stored)
    finally:
        hub.kill()


async def _fill(bootstrap: str, topic: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    try:
        pending = []
        for i in range(BACKLOG):
            pending.append(await producer.send(topic, b"x" * 200, partition=i % 4))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def _kafka() -> tuple[float, float]:
    broker = TansuBroker().start()
    try:
        topic = broker.create_topic(partitions=4)
        asyncio.run(_fill(broker.bootstrap, topic))
        path = workdir("memory-kafka")
        out = path / "done.json"
        hub = daemon(
            path,
            COUNTING_HANDLER,
            {
                "connections": {"main": {"type": "kafka", "bootstrap_servers": broker.bootstrap}},
                "functions": {"noop": function({"OUT": str(out), "TOTAL": str(BACKLOG)})},
                "sources": {
                    "bench-in": {
                        "type": "kafka",
                        "connection": "main",
                        "topics": [topic],
                        "function": "noop",
                        "batch_size": 500,
                        "group_id": f"mem-{uuid.uuid4().hex[:8]}",
                    }
                },
            },
        )
        try:
            hub.start()
            assert hub.proc is not None
            idle = rss_mb(hub.proc.pid)
            return idle, _drain(hub, out, idle)
        finally:
            hub.kill()
    finally:
        broker.stop()


def main() -> dict[str, Any]:
    idle, stored, peak = _embedded()
    kafka_idle, kafka_peak = _kafka()
    table(
        [
            ("measure", "RSS MB"),
            ("embedded: daemon at start", f"{idle:.1f}"),
            ("embedded: after 1,000,000 records were put", f"{stored:.1f}"),
            ("embedded: peak while draining the backlog", f"{peak:.1f}"),
            ("kafka: daemon at start", f"{kafka_idle:.1f}"),
            ("kafka: peak while draining the backlog", f"{kafka_peak:.1f}"),
            (
                f"target <= {TARGET_MB} MB",
                "met" if max(peak, kafka_peak) <= TARGET_MB else "MISSED",
            ),
        ]
    )
    return {
        "backlog_records": BACKLOG,
        "record_bytes": 200,
        "embedded_rss_mb": {
            "idle": round(idle, 1),
            "after_puts": round(stored, 1),
            "peak_draining": round(peak, 1),
        },
        "kafka_rss_mb": {"idle": round(kafka_idle, 1), "peak_draining": round(kafka_peak, 1)},
        "target_mb": TARGET_MB,
        "met": max(peak, kafka_peak) <= TARGET_MB,
    }
