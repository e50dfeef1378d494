"""Embedded queue end to end: SendMessageBatch -> handler -> delete, and pickup latency.

The daemon runs as a process (as in production); producers are separate processes that
speak the SQS JSON protocol with aiohttp (the same requests boto3 sends, without boto3's
per-call overhead, which would measure boto3). Throughput is messages / (last handled -
first send). Baseline in the same run: the SendMessageBatch ingest rate of the same daemon
with the queue mapping disabled, i.e. what the API alone sustains.

Pickup latency: at idle, one SendMessage every 20 ms with the send time in the body; the
handler notes ``now - sent`` when it starts (same clock: one machine).

Targets (issue 4): >= 20,000 messages/s with batch 100; latency p50 <= 5 ms, p99 <= 50 ms.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.daemon import Daemon, wait_until

TOTAL = 200_000
PRODUCERS = 2
IN_FLIGHT = 16
BODY = "x" * 200
LATENCY_SAMPLES = 500

COUNTING = """\
import json, os, time

OUT = os.environ["OUT"]
TOTAL = int(os.environ["TOTAL"])
seen = 0


async def handler(event, context):
    global seen
    seen += len(event["Records"])
    if seen >= TOTAL:
        with open(OUT, "w") as out:
            json.dump({"last": time.time(), "seen": seen}, out)
"""

LATENCY = """\
import json, os, time

OUT = os.environ["OUT"]


async def handler(event, context):
    now = time.time()
    with open(OUT, "a") as out:
        for record in event["Records"]:
            out.write(f"{now - json.loads(record['body'])['t']}\\n")
"""


def _config(workdir: Path, handler: str, source: dict[str, Any], env: dict[str, str]) -> Any:
    (workdir / "functions").mkdir(exist_ok=True)
    (workdir / "functions" / "bench_queue.py").write_text(textwrap.dedent(handler))
    return {
        "hub": {"log_level": "warning"},
        "queues": {"bench": {"visibility_timeout": 60}},
        "functions": {
            "noop": {
                "handler": "bench_queue:handler",
                "code_dir": "functions",
                "timeout": 30,
                "environment": env,
            }
        },
        "sources": {"bench-in": {"type": "queue", "queue": "bench", "function": "noop", **source}},
    }


async def _produce(url: str, count: int) -> None:
    queue_url = f"{url}/000000000000/bench"
    headers = {
        "X-Amz-Target": "AmazonSQS.SendMessageBatch",
        "Content-Type": "application/x-amz-json-1.0",
    }
    body = json.dumps(
        {"QueueUrl": queue_url, "Entries": [{"Id": str(i), "MessageBody": BODY} for i in range(10)]}
    ).encode()
    requests = count // 10
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(url, connector=connector) as session:
        next_request = 0

        async def worker() -> None:
            nonlocal next_request
            while next_request < requests:
                next_request += 1
                async with session.post("/", data=body, headers=headers) as response:
                    if response.status != 200:
                        raise RuntimeError(await response.text())
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


def _producer(url: str, count: int, start: Any) -> None:
    start.wait()
    asyncio.run(_produce(url, count))


def _send_all(url: str, total: int) -> tuple[float, float]:
    """Run the producers; returns (first send, all sent) times."""
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Event()
    procs = [
        spawn.Process(target=_producer, args=(url, total // PRODUCERS, start))
        for _ in range(PRODUCERS)
    ]
    for proc in procs:
        proc.start()
    time.sleep(1.5)  # let them start and import
    began = time.time()
    start.set()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError("a producer failed")
    return began, time.time()


def throughput(workdir: Path, enabled: bool) -> dict[str, float]:
    workdir.mkdir()
    out = workdir / "done.json"
    source = {"batch_size": 100, "batch_window": 1, "max_concurrency": 5, "enabled": enabled}
    daemon = Daemon(
        workdir, _config(workdir, COUNTING, source, {"OUT": str(out), "TOTAL": str(TOTAL)})
    )
    daemon.start()
    try:
        began, sent = _send_all(daemon.url, TOTAL)
        if not enabled:
            return {
                "messages": TOTAL,
                "seconds": sent - began,
                "per_second": TOTAL / (sent - began),
            }
        wait_until(out.exists, timeout=600, interval=0.01, message="all handled")
        last = json.loads(out.read_text())["last"]
        return {
            "messages": TOTAL,
            "seconds": last - began,
            "per_second": TOTAL / (last - began),
            "send_seconds": sent - began,
        }
    finally:
        daemon.stop()


async def _probe(url: str, samples: int) -> list[float]:
    queue_url = f"{url}/000000000000/bench"
    headers = {
        "X-Amz-Target": "AmazonSQS.SendMessage",
        "Content-Type": "application/x-amz-json-1.0",
    }
    round_trips = []
    async with aiohttp.ClientSession(url) as session:
        for _ in range(samples):
            sent = time.time()
            body = json.dumps({"QueueUrl": queue_url, "MessageBody": json.dumps({"t": sent})})
            async with session.post("/", data=body, headers=headers) as response:
                await response.read()
            round_trips.append(time.time() - sent)
            await asyncio.sleep(0.02)
    return round_trips


def latency(workdir: Path) -> dict[str, float]:
    workdir.mkdir()
    out = workdir / "latency.txt"
    daemon = Daemon(workdir, _config(workdir, LATENCY, {}, {"OUT": str(out)}))
    daemon.start()
    try:
        time.sleep(1)
        round_trips = asyncio.run(_probe(daemon.url, LATENCY_SAMPLES))
        wait_until(
            lambda: out.exists() and len(out.read_text().split()) >= LATENCY_SAMPLES,
            message="latency samples",
        )
        pickups = sorted(float(x) for x in out.read_text().split())
    finally:
        daemon.stop()
    return {
        "p50_ms": 1000 * statistics.median(pickups),
        "p99_ms": 1000 * pickups[int(len(pickups) * 0.99) - 1],
        "max_ms": 1000 * pickups[-1],
        "send_round_trip_p50_ms": 1000 * statistics.median(round_trips),
    }


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        workdir = Path(tmp)
        ingest = throughput(workdir / "ingest", enabled=False)
        e2e = throughput(workdir / "e2e", enabled=True)
        pickup = latency(workdir / "latency")
    ratio = e2e["per_second"] / ingest["per_second"]
    print(f"{'case':<44}{'msg/s':>12}")
    print(f"{'SendMessageBatch ingest only (baseline)':<44}{ingest['per_second']:>12,.0f}")
    print(f"{'send -> handler -> delete (batch 100)':<44}{e2e['per_second']:>12,.0f}")
    print(
        f"ratio e2e / ingest: {ratio:.2f}   target: >= 20,000 msg/s "
        f"({'met' if e2e['per_second'] >= 20_000 else 'MISSED'})"
    )
    print(
        f"pickup latency at idle: p50 {pickup['p50_ms']:.2f} ms, p99 {pickup['p99_ms']:.2f} ms "
        f"(SendMessage round trip p50 {pickup['send_round_trip_p50_ms']:.2f} ms); "
        f"targets p50 <= 5 ms, p99 <= 50 ms"
    )
    return {
        "config": {
            "messages": TOTAL,
            "body_bytes": len(BODY),
            "producers": PRODUCERS,
            "requests_in_flight_per_producer": IN_FLIGHT,
            "entries_per_request": 10,
            "batch_size": 100,
            "batch_window": 1,
            "max_concurrency": 5,
            "latency_source": {"batch_size": 10, "batch_window": 0},
        },
        "baseline_ingest": ingest,
        "contender_e2e": e2e,
        "ratio": round(ratio, 3),
        "pickup_latency": pickup,
        "targets": {"e2e_per_second": 20_000, "p50_ms": 5, "p99_ms": 50},
        "met": {
            "throughput": e2e["per_second"] >= 20_000,
            "p50": pickup["p50_ms"] <= 5,
            "p99": pickup["p99_ms"] <= 50,
        },
    }


if __name__ == "__main__":
    from bench.__main__ import run

    run("queue_e2e")
