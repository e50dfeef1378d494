"""Kafka mapping throughput vs a raw aiokafka consumer, same broker, same run.

200,000 records of 200 bytes in 4 partitions on a Tansu broker. Contender: the daemon with
a ``kafka`` source (batch 500) and a no-op handler. Baseline: a raw aiokafka consumer in
its own process, ``getmany(max_records=500)`` then ``commit()`` in a loop. Both use the
same fetch settings and start from the beginning in a fresh group; both are timed from
their first record to their last (so the group join is not counted). Two rounds each,
alternating; the best of each is compared. The mapping runs twice per round: with a ``def``
no-op handler (run on the function's thread pool, as Lambda-style handlers usually are)
and with an ``async def`` one (run on the loop).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from typing import Any

from bench._support import COUNTING_HANDLER, daemon, function, table, wait_file, workdir
from tests.support.kafka import TansuBroker

TOTAL = 200_000
PARTITIONS = 4
RECORD = 200
BATCH = 500
ROUNDS = 2

RAW = """
import asyncio, json, sys, time
from aiokafka import AIOKafkaConsumer

async def main(bootstrap, topic, group, total):
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=10, isolation_level="read_committed",
    )
    await consumer.start()
    seen, first = 0, None
    while seen < total:
        batch = await consumer.getmany(timeout_ms=1000, max_records=500)
        for records in batch.values():
            if records and first is None:
                first = time.time()
            seen += len(records)
        await consumer.commit()
    last = time.time()
    await consumer.stop()
    print(json.dumps({"first": first, "last": last, "seen": seen}))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


async def _fill(bootstrap: str, topic: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    value = b"x" * RECORD
    try:
        pending = []
        for i in range(TOTAL):
            pending.append(
                await producer.send(topic, value, key=b"k%d" % i, partition=i % PARTITIONS)
            )
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def _raw(bootstrap: str, topic: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", RAW, bootstrap, topic, f"raw-{uuid.uuid4().hex[:8]}", str(TOTAL)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result = json.loads(done.stdout)
    return TOTAL / (result["last"] - result["first"])


ASYNC_HANDLER = COUNTING_HANDLER.replace("def handler(", "async def handler(")


def _mapping(bootstrap: str, topic: str, handler: str = COUNTING_HANDLER) -> float:
    path = workdir("kafka")
    out = path / "done.json"
    hub = daemon(
        path,
        handler,
        {
            "connections": {"main": {"type": "kafka", "bootstrap_servers": bootstrap}},
            "functions": {"noop": function({"OUT": str(out), "TOTAL": str(TOTAL)})},
            "sources": {
                "bench": {
                    "type": "kafka",
                    "connection": "main",
                    "topics": [topic],
                    "function": "noop",
                    "batch_size": BATCH,
                    "group_id": f"map-{uuid.uuid4().hex[:8]}",
                }
            },
        },
    )
    try:
        hub.start()
        result = wait_file(out)
    finally:
        hub.kill()
    return TOTAL / (result["last"] - result["first"])


def _rounds(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


def main() -> dict[str, Any]:
    broker = TansuBroker().start()
    try:
        topic = broker.create_topic(partitions=PARTITIONS)
        asyncio.run(_fill(broker.bootstrap, topic))
        raw: list[float] = []
        mapped: list[float] = []
        mapped_async: list[float] = []
        for _ in range(ROUNDS):
            raw.append(_raw(broker.bootstrap, topic))
            mapped.append(_mapping(broker.bootstrap, topic))
            mapped_async.append(_mapping(broker.bootstrap, topic, ASYNC_HANDLER))
    finally:
        broker.stop()
    ratio = max(mapped) / max(raw)
    ratio_async = max(mapped_async) / max(raw)
    table(
        [
            ("contender", "records/s (best)", "rounds"),
            ("raw aiokafka getmany+commit", f"{max(raw):,.0f}", _rounds(raw)),
            ("eventhub kafka mapping, def handler", f"{max(mapped):,.0f}", _rounds(mapped)),
            (
                "eventhub kafka mapping, async def handler",
                f"{max(mapped_async):,.0f}",
                _rounds(mapped_async),
            ),
            ("ratio def / async def (target >= 0.90)", f"{ratio:.3f} / {ratio_async:.3f}", ""),
        ]
    )
    return {
        "records": TOTAL,
        "partitions": PARTITIONS,
        "record_bytes": RECORD,
        "batch_size": BATCH,
        "raw_records_per_s": [round(r) for r in raw],
        "mapping_def_handler_records_per_s": [round(m) for m in mapped],
        "mapping_async_handler_records_per_s": [round(m) for m in mapped_async],
        "ratio_best_def_handler": round(ratio, 3),
        "ratio_best_async_handler": round(ratio_async, 3),
        "target_ratio": 0.9,
        "met": max(ratio, ratio_async) >= 0.9,
    }
