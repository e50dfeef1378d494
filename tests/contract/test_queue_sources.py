"""The QueueSource contract: every queue connector, driven by the queue engine, keeps the
same promises. One base class; one subclass per connector (and per RabbitMQ queue type)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aio_pika
import pytest
import yaml

from connectors.queue import EmbeddedQueue
from connectors.queue_service import EmbeddedQueues
from connectors.rabbitmq import RabbitMQQueue
from eventhub.api.state import MainContext
from eventhub.config.loader import load_config
from eventhub.config.models import HubConfig
from eventhub.hubenv import HubEnv
from eventhub.mapping.filters import FilterSet
from eventhub.mapping.queue import QueueMapping, QueueMappingSettings
from eventhub.mapping.queue_format import SqsFormat
from eventhub.metrics import Metrics
from eventhub.sources import QueueSource
from eventhub.store.db import Store
from eventhub.store.queues import NewMessage
from tests.support.fake_queue import ScriptedFunction
from tests.support.rabbitmq import RabbitNode

pytestmark = pytest.mark.integration

MAX_RECEIVES = 3


class Harness:
    """How a contract test reaches one broker: a fresh queue, publish, read dead letters."""

    engine_max_receive_count: int | None = None

    async def source(self) -> QueueSource:
        raise NotImplementedError

    async def publish(self, bodies: list[str]) -> None:
        raise NotImplementedError

    async def dead_letters(self) -> list[str]:
        raise NotImplementedError

    async def depth(self) -> int:
        """Messages still in the queue (visible or not)."""
        raise NotImplementedError


async def until(predicate: Callable[[], Any], what: str, within: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class QueueSourceContract:
    """The guarantees. Subclasses provide the ``harness`` fixture."""

    @pytest.fixture
    def harness(self) -> Harness:
        raise NotImplementedError

    async def run(
        self, harness: Harness, function: ScriptedFunction, **settings: Any
    ) -> tuple[QueueMapping, asyncio.Task[None]]:
        source = await harness.source()
        await source.open()
        settings.setdefault("long_poll", 0.2)
        settings.setdefault("max_receive_count", harness.engine_max_receive_count)
        mapping = QueueMapping(
            source,
            SqsFormat("arn:aws:sqs:us-east-1:000000000000:q", "us-east-1", FilterSet()),
            function,
            QueueMappingSettings(**settings),
        )
        return mapping, asyncio.create_task(mapping.run())

    async def finish(self, mapping: QueueMapping, task: asyncio.Task[None]) -> None:
        await mapping.stop(5)
        await task
        await mapping.source.aclose()

    async def test_every_message_is_handled_at_least_once(self, harness: Harness) -> None:
        bodies = [f"m{i}" for i in range(200)]
        await harness.publish(bodies)
        function = ScriptedFunction()
        mapping, task = await self.run(harness, function, batch_size=10, max_concurrency=4)
        try:
            await until(lambda: set(function.bodies()) >= set(bodies), "all handled")
            await until(lambda: mapping.statistics().deleted >= 200, "all deleted")
        finally:
            await self.finish(mapping, task)
        assert await harness.depth() == 0

    async def test_poison_is_dead_lettered_after_exactly_max_receive_count(
        self, harness: Harness
    ) -> None:
        good = [f"ok{i}" for i in range(30)]
        await harness.publish(["poison", *good])

        def behaviour(event: dict[str, Any]) -> None:
            if any(r["body"] == "poison" for r in event["Records"]):
                raise ValueError("poison")

        function = ScriptedFunction(behaviour)
        mapping, task = await self.run(harness, function, batch_size=1, max_concurrency=3)
        try:
            await until(lambda: set(function.bodies()) >= set(good), "the others flow")
            dead: list[str] = []

            async def poll() -> None:
                while not dead:
                    dead.extend(await harness.dead_letters())
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(poll(), 30)
        finally:
            await self.finish(mapping, task)
        assert dead == ["poison"]
        assert Counter(function.bodies())["poison"] == MAX_RECEIVES

    async def test_partial_batch_response_retries_only_listed_messages(
        self, harness: Harness
    ) -> None:
        bodies = [f"p{i}" for i in range(10)]
        await harness.publish(bodies)
        failed_once: set[str] = set()

        def behaviour(event: dict[str, Any]) -> dict[str, Any]:
            failures = []
            for record in event["Records"]:
                odd = int(record["body"][1:]) % 2 == 1
                if odd and record["body"] not in failed_once:
                    failed_once.add(record["body"])
                    failures.append({"itemIdentifier": record["messageId"]})
            return {"batchItemFailures": failures}

        function = ScriptedFunction(behaviour)
        mapping, task = await self.run(
            harness, function, batch_size=10, report_batch_item_failures=True
        )
        try:
            await until(lambda: mapping.statistics().deleted >= 10, "all deleted")
        finally:
            await self.finish(mapping, task)
        seen = Counter(function.bodies())
        assert {b: seen[b] for b in bodies} == {b: 2 if int(b[1:]) % 2 else 1 for b in bodies}

    async def test_max_concurrency_batches_run_at_once(self, harness: Harness) -> None:
        await harness.publish([f"c{i}" for i in range(12)])
        barrier = asyncio.Barrier(3)

        async def behaviour(event: dict[str, Any]) -> None:
            if len(function.events) <= 3:  # the first three batches must meet
                await asyncio.wait_for(barrier.wait(), 20)

        function = ScriptedFunction(behaviour)
        mapping, task = await self.run(harness, function, batch_size=1, max_concurrency=3)
        try:
            await until(lambda: mapping.statistics().deleted >= 12, "all deleted")
        finally:
            await self.finish(mapping, task)
        assert function.most_running == 3

    async def test_stopping_mid_batch_loses_nothing(self, harness: Harness) -> None:
        await harness.publish(["slow"])
        started = asyncio.Event()

        async def hang(event: dict[str, Any]) -> None:
            started.set()
            await asyncio.Event().wait()

        mapping, task = await self.run(harness, ScriptedFunction(hang))
        await asyncio.wait_for(started.wait(), 20)
        await mapping.stop(0.05)
        await task
        await mapping.source.aclose()
        function = ScriptedFunction()
        mapping, task = await self.run(harness, function)
        try:
            await until(lambda: function.bodies() == ["slow"], "handled after restart")
        finally:
            await self.finish(mapping, task)


# -- the embedded queue ---------------------------------------------------------------------


class EmbeddedHarness(Harness):
    def __init__(self, queues: EmbeddedQueues) -> None:
        self.queues = queues

    async def source(self) -> QueueSource:
        return EmbeddedQueue(self.queues, "work")

    async def publish(self, bodies: list[str]) -> None:
        await self.queues.send("work", [NewMessage(str(uuid.uuid4()), b, "0" * 32) for b in bodies])

    async def dead_letters(self) -> list[str]:
        got = await self.queues.receive("work-dlq", 10, 0)
        return [m.body for m in got]

    async def depth(self) -> int:
        depth = await self.queues.depth("work")
        return depth.visible + depth.in_flight + depth.delayed


class TestEmbeddedQueue(QueueSourceContract):
    @pytest.fixture
    async def harness(self, tmp_path: Path) -> AsyncIterator[Harness]:
        path = tmp_path / "eventhub.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "queues": {
                        "work": {
                            "visibility_timeout": 1,
                            "redrive": {
                                "dead_letter_queue": "work-dlq",
                                "max_receive_count": MAX_RECEIVES,
                            },
                        },
                        "work-dlq": {},
                    }
                }
            )
        )
        loaded = load_config(path)
        async with Store(tmp_path / "state.db") as store:
            main = MainContext(invoker=None, hub=lambda: HubConfig())  # type: ignore[arg-type]
            env = HubEnv(loaded, None, store, None, Metrics(), main)  # type: ignore[arg-type]
            queues = EmbeddedQueues()
            await queues.start(env)
            try:
                yield EmbeddedHarness(queues)
            finally:
                await queues.aclose()


# -- RabbitMQ --------------------------------------------------------------------------------


class RabbitHarness(Harness):
    engine_max_receive_count = MAX_RECEIVES

    def __init__(self, node: RabbitNode, queue_type: str, env: Any) -> None:
        self.node = node
        self.queue = f"contract-{uuid.uuid4().hex[:8]}"
        self.queue_type = queue_type
        self.env = env

    def config(self) -> Any:
        from eventhub.config.sources import RabbitMQSourceConfig

        return RabbitMQSourceConfig.model_validate(
            {
                "type": "rabbitmq",
                "connection": "rabbit",
                "queue": self.queue,
                "function": "f",
                "max_receive_count": MAX_RECEIVES,
                "batch_size": 10,
                "max_concurrency": 4,
                "declare": {"queue_type": self.queue_type},
            }
        )

    async def source(self) -> QueueSource:
        loaded = self.env
        return RabbitMQQueue("contract", self.config(), loaded.config.connections["rabbit"], loaded)

    async def _channel(
        self,
    ) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractChannel]:
        connection = await aio_pika.connect(self.node.url)
        return connection, await connection.channel()

    async def publish(self, bodies: list[str]) -> None:
        source = await self.source()
        await source.open()  # declares the queue and its dead letters
        await source.aclose()
        connection, channel = await self._channel()
        async with connection:
            for body in bodies:
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        body.encode(),
                        message_id=str(uuid.uuid4()),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=self.queue,
                )

    async def dead_letters(self) -> list[str]:
        connection, channel = await self._channel()
        async with connection:
            queue = await channel.get_queue(f"{self.queue}.dlq")
            bodies = []
            while (message := await queue.get(fail=False)) is not None:
                bodies.append(message.body.decode())
                await message.ack()
            return bodies

    async def depth(self) -> int:
        connection, channel = await self._channel()
        async with connection:
            queue = await channel.declare_queue(self.queue, passive=True)
            return int(queue.declaration_result.message_count or 0)


def _rabbit_env(node: RabbitNode, tmp_path: Path) -> Any:
    path = tmp_path / "eventhub.yaml"
    path.write_text(
        yaml.safe_dump({"connections": {"rabbit": {"type": "rabbitmq", "url": node.url}}})
    )
    return load_config(path)


class TestRabbitMQQuorumQueue(QueueSourceContract):
    @pytest.fixture
    def harness(self, rabbit: RabbitNode, tmp_path: Path) -> Harness:
        return RabbitHarness(rabbit, "quorum", _rabbit_env(rabbit, tmp_path))


class TestRabbitMQClassicQueue(QueueSourceContract):
    @pytest.fixture
    def harness(self, rabbit: RabbitNode, tmp_path: Path) -> Harness:
        return RabbitHarness(rabbit, "classic", _rabbit_env(rabbit, tmp_path))
