"""Reloads with real brokers: Kafka and RabbitMQ mappings whose settings did not change keep
their consumer (same group membership, same AMQP consumer on the same channel) and lose or
repeat nothing while producers run and other sources change."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiokafka import AIOKafkaProducer

from tests.support.daemon import wait_until
from tests.support.kafka import TansuBroker
from tests.support.ops import RECORDER, Producer, check_once, handled, log_count, reload, source
from tests.support.rabbitmq import RabbitNode

pytestmark = pytest.mark.integration


class LoopSender:
    """A sender for ``Producer`` that keeps one client open on its own event loop (the
    producer thread calls it, always from that thread)."""

    def __init__(self, open_client: Callable[[], Any], send: Callable[[Any, list[str]], Any]):
        self._open, self._send = open_client, send
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None

    def __call__(self, batch: list[str]) -> None:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._client = self._loop.run_until_complete(self._open())
        self._loop.run_until_complete(self._send(self._client, batch))

    def close(self, close: Callable[[Any], Any]) -> None:
        if self._loop is not None:
            self._loop.run_until_complete(close(self._client))
            self._loop.close()


def kafka_sender(bootstrap: str, topic: str) -> LoopSender:
    async def open_client() -> AIOKafkaProducer:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
        await producer.start()
        return producer

    async def send(producer: AIOKafkaProducer, batch: list[str]) -> None:
        sent = [await producer.send(topic, d.encode(), key=d.split(":")[0].encode()) for d in batch]
        await asyncio.gather(*sent)

    return LoopSender(open_client, send)


def rabbit_sender(url: str, queue: str) -> LoopSender:
    async def open_client() -> Any:
        connection = await aio_pika.connect(url)
        channel = await connection.channel(publisher_confirms=True)
        return connection, channel

    async def send(client: Any, batch: list[str]) -> None:
        _, channel = client
        for body in batch:
            await channel.default_exchange.publish(
                aio_pika.Message(body.encode(), message_id=str(uuid.uuid4())), routing_key=queue
            )

    return LoopSender(open_client, send)


def config(tmp_path: Path, bootstrap: str, url: str, topic: str, queue: str) -> dict[str, Any]:
    return {
        "connections": {
            "kafka-main": {"type": "kafka", "bootstrap_servers": bootstrap},
            "rabbit": {"type": "rabbitmq", "url": url},
        },
        "functions": {
            "rec": {
                "handler": "rec:handler",
                "code_dir": "functions",
                "environment": {"OUT": str(tmp_path / "seen.jsonl")},
            }
        },
        "sources": {
            "orders-in": {
                "type": "kafka",
                "connection": "kafka-main",
                "topics": [topic],
                "function": "rec",
                "batch_size": 20,
                "session_timeout": 6,
            },
            "tasks-in": {
                "type": "rabbitmq",
                "connection": "rabbit",
                "queue": queue,
                "function": "rec",
                "declare": {"queue_type": "quorum"},
            },
            "api": {"type": "http", "route": "GET /v1", "function": "rec"},
        },
    }


def consumer(rabbit: RabbitNode, queue: str) -> list[str]:
    """``consumer_tag channel_pid`` of every consumer of ``queue``."""
    lines = rabbit.rabbitmqctl("list_consumers", "-q", "queue_name", "consumer_tag", "channel_pid")
    return sorted(line.split(None, 1)[1] for line in lines.splitlines() if line.split()[0] == queue)


def test_unchanged_broker_mappings_keep_their_consumers_through_reloads(
    kafka_broker: TansuBroker, rabbit: RabbitNode, daemon_factory, write_functions, tmp_path
) -> None:
    write_functions({"rec": RECORDER})
    topic = kafka_broker.create_topic(partitions=2)
    queue = f"tasks-{uuid.uuid4().hex[:6]}"
    daemon = daemon_factory(config(tmp_path, kafka_broker.bootstrap, rabbit.url, topic, queue))
    wait_until(
        lambda: (
            log_count(daemon, "shards assigned", source="orders-in")
            and source(daemon, "tasks-in")["connected"]
        ),
        timeout=60,
        message="consuming Kafka and RabbitMQ",
    )
    wait_until(lambda: consumer(rabbit, queue), message="AMQP consumer")
    before = consumer(rabbit, queue)

    kafka, amqp = kafka_sender(kafka_broker.bootstrap, topic), rabbit_sender(rabbit.url, queue)
    try:
        with Producer(kafka) as orders, Producer(amqp) as tasks:
            wait_until(lambda: len(handled(tmp_path / "seen.jsonl")) > 20, message="flowing")
            for version in range(2, 5):

                def change(config: dict[str, Any], version: int = version) -> None:
                    config["sources"]["api"]["route"] = f"GET /v{version}"
                    config["sources"][f"extra-{version}"] = {
                        "type": "http",
                        "route": f"GET /extra/{version}",
                        "function": "rec",
                    }
                    config["sources"].pop(f"extra-{version - 1}", None)

                report = reload(daemon, change)["sources"]
                assert sorted(report["unchanged"]) == ["orders-in", "tasks-in"], report
                assert "api" in report["changed"]
                time.sleep(0.2)
    finally:
        kafka.close(lambda producer: producer.stop())
        amqp.close(lambda client: client[0].close())
    total = len(orders.sent) + len(tasks.sent)
    wait_until(lambda: len(handled(tmp_path / "seen.jsonl")) >= total, message="all handled")
    seen = handled(tmp_path / "seen.jsonl")
    check_once([line for line in seen if "shard" in line], orders.sent)  # in order per key
    amqp_lines = [line for line in seen if "redelivered" in line]
    check_once(amqp_lines, tasks.sent, ordered=False)
    assert not any(line["redelivered"] for line in amqp_lines)  # nothing came back
    # the same consumer on the same channel; the Kafka member was never rebalanced
    assert consumer(rabbit, queue) == before
    assert log_count(daemon, "shards assigned", source="orders-in") == 1
    assert log_count(daemon, "shards revoked", source="orders-in") == 0

    # a change of the RabbitMQ mapping itself does reconnect it (the check above can fail)
    report = reload(daemon, lambda c: c["sources"]["tasks-in"].update(batch_size=5))
    assert report["sources"]["changed"] == ["tasks-in"]
    wait_until(lambda: consumer(rabbit, queue) not in ([], before), message="a new consumer")
