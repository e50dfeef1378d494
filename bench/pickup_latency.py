"""Pickup latency at idle: put -> handler start, for the embedded stream and Kafka.

One record at a time, 20 ms apart, 300 records each: into the embedded stream with the
Kinesis API's PutRecord (HTTP keep-alive), and into a Tansu topic with an aiokafka producer
(``send_and_wait``). The handler notes ``now - send time``. Baseline: the round trip of the
put itself (PutRecord answered / produce acknowledged). Target: p50 <= 5 ms, p99 <= 50 ms.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import time
from pathlib import Path
from typing import Any

from bench._support import (
    LATENCY_HANDLER,
    daemon,
    function,
    percentile,
    sources,
    table,
    workdir,
)
from tests.support.daemon import Daemon
from tests.support.kafka import TansuBroker

SAMPLES = 300
GAP = 0.02


def _latencies(path: Path, count: int, timeout: float = 60) -> list[float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            values = [float(v) for v in path.read_text().split()]
            if len(values) >= count:
                return values
        time.sleep(0.05)
    raise TimeoutError(f"only part of the {count} records reached the handler")


def _embedded() -> tuple[list[float], list[float]]:
    path = workdir("latency-stream")
    out = path / "latency.txt"
    hub: Daemon = daemon(
        path,
        LATENCY_HANDLER,
        {
            "streams": {"bench": {"shards": 1}},
            "functions": {"lat": function({"OUT": str(out)})},
            "sources": {"bench-in": {"type": "stream", "stream": "bench", "function": "lat"}},
        },
    )
    puts: list[float] = []
    try:
        hub.start()
        connection = http.client.HTTPConnection("127.0.0.1", hub.port)
        headers = {
            "X-Amz-Target": "Kinesis_20131202.PutRecord",
            "Content-Type": "application/x-amz-json-1.1",
        }
        for _ in range(SAMPLES):
            time.sleep(GAP)
            sent = time.time()
            data = base64.b64encode(json.dumps({"t": sent}).encode()).decode()
            body = json.dumps({"StreamName": "bench", "PartitionKey": "k", "Data": data})
            connection.request("POST", "/", body, headers)
            reply = connection.getresponse()
            reply.read()
            puts.append((time.time() - sent) * 1000)
        return _latencies(out, SAMPLES), puts
    finally:
        hub.kill()


async def _produce(bootstrap: str, topic: str) -> list[float]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    acks: list[float] = []
    try:
        for _ in range(SAMPLES):
            await asyncio.sleep(GAP)
            sent = time.time()
            await producer.send_and_wait(topic, json.dumps({"t": sent}).encode(), partition=0)
            acks.append((time.time() - sent) * 1000)
    finally:
        await producer.stop()
    return acks


def _kafka() -> tuple[list[float], list[float]]:
    broker = TansuBroker().start()
    path = workdir("latency-kafka")
    out = path / "latency.txt"
    try:
        topic = broker.create_topic(partitions=1)
        hub = daemon(
            path,
            LATENCY_HANDLER,
            {
                "connections": {"main": {"type": "kafka", "bootstrap_servers": broker.bootstrap}},
                "functions": {"lat": function({"OUT": str(out)})},
                "sources": {
                    "bench-in": {
                        "type": "kafka",
                        "connection": "main",
                        "topics": [topic],
                        "function": "lat",
                    }
                },
            },
        )
        try:
            hub.start()
            deadline = time.monotonic() + 60
            while not sources(hub) or sources(hub)[0]["detail"].get("shards") != 1:
                if time.monotonic() > deadline:
                    raise TimeoutError("kafka partition not assigned")
                time.sleep(0.1)
            time.sleep(1)  # the group join must be over before timing
            acks = asyncio.run(_produce(broker.bootstrap, topic))
            return _latencies(out, SAMPLES), acks
        finally:
            hub.kill()
    finally:
        broker.stop()


def _summary(values: list[float]) -> dict[str, float]:
    return {p: round(percentile(values, q), 2) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))}


def main() -> dict[str, Any]:
    stream, puts = _embedded()
    kafka, acks = _kafka()
    results = {
        "embedded_pickup_ms": _summary(stream),
        "embedded_putrecord_roundtrip_ms": _summary(puts),
        "kafka_pickup_ms": _summary(kafka),
        "kafka_produce_ack_ms": _summary(acks),
    }
    rows = [("measure", "p50 ms", "p90 ms", "p99 ms")]
    for name, values in results.items():
        rows.append((name, str(values["p50"]), str(values["p90"]), str(values["p99"])))
    table(rows)
    met = all(
        results[key]["p50"] <= 5 and results[key]["p99"] <= 50
        for key in ("embedded_pickup_ms", "kafka_pickup_ms")
    )
    print("target p50 <= 5 ms, p99 <= 50 ms:", "met" if met else "MISSED")
    return {"samples": SAMPLES, "gap_s": GAP, **results, "met": met}
