"""RabbitMQ mapping vs a raw aio-pika consumer, on one private node, in one run.

Both consume N persistent 200-byte messages from their own pre-filled classic durable
queue with the same prefetch (batch_size 100 x max_concurrency 5 = 500) and acknowledge
each message after "handling" it. The contender is the daemon (a process) running a
`rabbitmq` source whose function is a no-op; the baseline is a process with the plain
aio-pika loop (``queue.consume`` + ``message.ack()``). Throughput counts from the first
message handled to the last: connection set-up is left out of both.

The broker shares the machine's two cores with the consumer, so single runs vary by
+-20 %: the benchmark alternates baseline and contender ROUNDS times (fresh queues each)
and compares the medians.

Target (issue 4): contender >= 0.90 x baseline.
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

import aio_pika

from tests.support.daemon import Daemon, wait_until
from tests.support.rabbitmq import RabbitNode

TOTAL = 60_000
ROUNDS = 3
BODY = b"x" * 200
BATCH = 100
CONCURRENCY = 5
PREFETCH = BATCH * CONCURRENCY
WAIT = 600

HANDLER = """\
import json, os, time

OUT = os.environ["OUT"]
TOTAL = int(os.environ["TOTAL"])
seen = 0
first = None


async def handler(event, context):
    global seen, first
    if first is None:
        first = time.time()
    seen += sum(len(m) for m in event["rmqMessagesByQueue"].values())
    if seen >= TOTAL:
        with open(OUT, "w") as out:
            json.dump({"first": first, "last": time.time(), "seen": seen}, out)
"""


async def _fill(url: str, queue: str, total: int) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True)
        message = aio_pika.Message(BODY, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        for start in range(0, total, 1000):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(message, routing_key=queue)
                    for _ in range(min(1000, total - start))
                )
            )


async def _raw_consumer(url: str, queue: str, total: int) -> dict[str, float]:
    connection = await aio_pika.connect_robust(url)
    done = asyncio.Event()
    seen = 0
    first = 0.0

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal seen, first
        if not seen:
            first = time.time()
        seen += 1
        await message.ack()
        if seen >= total:
            done.set()

    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        q = await channel.declare_queue(queue, durable=True)
        await q.consume(on_message)
        await done.wait()
        return {"first": first, "last": time.time(), "seen": seen}


def _baseline_process(url: str, queue: str, total: int, out: str) -> None:
    result = asyncio.run(_raw_consumer(url, queue, total))
    Path(out).write_text(json.dumps(result))


def baseline(node: RabbitNode, workdir: Path) -> dict[str, float]:
    asyncio.run(_fill(node.url, "bench-raw", TOTAL))
    out = workdir / "raw.json"
    proc = multiprocessing.get_context("spawn").Process(
        target=_baseline_process, args=(node.url, "bench-raw", TOTAL, str(out))
    )
    proc.start()
    proc.join(600)
    timing = json.loads(out.read_text())
    seconds = timing["last"] - timing["first"]
    return {"messages": TOTAL, "seconds": seconds, "per_second": TOTAL / seconds}


def contender(node: RabbitNode, workdir: Path) -> dict[str, float]:
    queue = f"bench-mapping-{workdir.name}"
    asyncio.run(_fill(node.url, queue, TOTAL))
    out = workdir / "mapping.json"
    (workdir / "functions").mkdir()
    (workdir / "functions" / "bench_rmq.py").write_text(textwrap.dedent(HANDLER))
    daemon = Daemon(
        workdir,
        {
            "hub": {"log_level": "warning"},
            "connections": {"rabbit": {"type": "rabbitmq", "url": node.url}},
            "functions": {
                "noop": {
                    "handler": "bench_rmq:handler",
                    "code_dir": "functions",
                    "timeout": 30,
                    "environment": {"OUT": str(out), "TOTAL": str(TOTAL)},
                }
            },
            "sources": {
                "bench": {
                    "type": "rabbitmq",
                    "connection": "rabbit",
                    "queue": queue,
                    "function": "noop",
                    "batch_size": BATCH,
                    "max_concurrency": CONCURRENCY,
                }
            },
        },
    )
    daemon.start()
    try:
        wait_until(out.exists, timeout=WAIT, interval=0.05, message="all handled")
    finally:
        daemon.stop()
    timing = json.loads(out.read_text())
    seconds = timing["last"] - timing["first"]
    return {"messages": TOTAL, "seconds": seconds, "per_second": TOTAL / seconds}


def main() -> dict[str, Any]:
    node = RabbitNode().start()
    raws: list[dict[str, float]] = []
    mappings: list[dict[str, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-rmq-") as tmp:
            for round_ in range(ROUNDS):
                for name, run, into in (("raw", baseline, raws), ("mapping", contender, mappings)):
                    workdir = Path(tmp) / f"{name}{round_}"
                    workdir.mkdir()
                    into.append(run(node, workdir))
    finally:
        node.stop(remove=True)
    raw = statistics.median(r["per_second"] for r in raws)
    mapping = statistics.median(r["per_second"] for r in mappings)
    ratio = mapping / raw
    print(f"{'case (median of ' + str(ROUNDS) + ' rounds)':<48}{'msg/s':>12}")
    print(f"{'raw aio-pika consumer, ack each (baseline)':<48}{raw:>12,.0f}")
    print(f"{'rabbitmq mapping, no-op handler, batch 100':<48}{mapping:>12,.0f}")
    print(f"ratio: {ratio:.2f}  target >= 0.90 ({'met' if ratio >= 0.9 else 'MISSED'})")
    return {
        "config": {
            "messages_per_round": TOTAL,
            "rounds": ROUNDS,
            "body_bytes": len(BODY),
            "persistent": True,
            "queue_type": "classic",
            "prefetch": PREFETCH,
            "batch_size": BATCH,
            "max_concurrency": CONCURRENCY,
        },
        "baseline_raw_aio_pika": {
            "median_per_second": raw,
            "rounds": [r["per_second"] for r in raws],
        },
        "contender_mapping": {
            "median_per_second": mapping,
            "rounds": [r["per_second"] for r in mappings],
        },
        "round_ratios": [
            round(m["per_second"] / r["per_second"], 3) for r, m in zip(raws, mappings, strict=True)
        ],
        "ratio": round(ratio, 3),
        "target_ratio": 0.9,
        "met": ratio >= 0.9,
    }


if __name__ == "__main__":
    from bench.__main__ import run

    run("rabbitmq_mapping")
