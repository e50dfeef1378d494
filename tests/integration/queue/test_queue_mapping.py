"""The queue engine over the embedded queue's store: FIFO groups, retention, redrive."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from connectors.queue import EmbeddedQueue
from connectors.queue_service import EmbeddedQueues
from eventhub.api.state import MainContext
from eventhub.config.loader import load_config
from eventhub.config.models import HubConfig
from eventhub.hubenv import HubEnv
from eventhub.mapping.filters import FilterSet
from eventhub.mapping.queue import QueueMapping, QueueMappingSettings
from eventhub.mapping.queue_format import SqsFormat
from eventhub.metrics import Metrics
from eventhub.store.db import Store
from eventhub.store.queues import NewMessage
from tests.support.fake_queue import ScriptedFunction

pytestmark = pytest.mark.integration

QUEUES = {
    "orders.fifo": {
        "fifo": True,
        "visibility_timeout": 1,
        "redrive": {"dead_letter_queue": "orders-dlq.fifo", "max_receive_count": 3},
    },
    "orders-dlq.fifo": {"fifo": True},
    "plain": {"retention_seconds": 60},
}


@pytest.fixture
async def queues(tmp_path: Path) -> AsyncIterator[EmbeddedQueues]:
    path = tmp_path / "eventhub.yaml"
    path.write_text(yaml.safe_dump({"queues": QUEUES}))
    async with Store(tmp_path / "state.db") as store:
        main = MainContext(invoker=None, hub=lambda: HubConfig())  # type: ignore[arg-type]
        env = HubEnv(load_config(path), None, store, None, Metrics(), main)  # type: ignore[arg-type]
        service = EmbeddedQueues()
        await service.start(env)
        try:
            yield service
        finally:
            await service.aclose()


def fifo_message(body: str, group: str) -> NewMessage:
    return NewMessage(str(uuid.uuid4()), body, "0" * 32, group_id=group, dedup_id=body)


async def until(predicate: Any, within: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_fifo_order_per_group_with_one_group_failing(queues: EmbeddedQueues) -> None:
    await queues.send("orders.fifo", [fifo_message(f"{g}{i}", g) for i in range(4) for g in "AB"])
    failures = {"A1": 2}

    def behaviour(event: dict[str, Any]) -> dict[str, Any]:
        failed = []
        for record in event["Records"]:
            if failures.get(record["body"], 0):
                failures[record["body"]] -= 1
                failed.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failed}

    function = ScriptedFunction(behaviour)
    source = EmbeddedQueue(queues, "orders.fifo")
    await source.open()
    mapping = QueueMapping(
        source,
        SqsFormat("arn", "us-east-1", FilterSet()),
        function,
        QueueMappingSettings(
            batch_size=10, max_concurrency=3, report_batch_item_failures=True, long_poll=0.2
        ),
    )
    task = asyncio.create_task(mapping.run())
    try:
        await until(lambda: mapping.statistics().deleted == 8)
    finally:
        await mapping.stop(5)
        await task
    bodies = function.bodies()
    assert [b for b in bodies if b.startswith("B")] == ["B0", "B1", "B2", "B3"]
    # A is retried from A1 on, in order, and nothing after A1 is deleted before A1
    seen_a = [b for b in bodies if b.startswith("A")]
    assert seen_a[0] == "A0"
    assert seen_a.count("A1") == 3
    last_a1 = len(seen_a) - 1 - seen_a[::-1].index("A1")
    assert seen_a[last_a1:] == ["A1", "A2", "A3"]
    # B was not held back: all of it was handled before A1's last attempt
    assert bodies.index("B3") < len(bodies) - 1 - bodies[::-1].index("A1")


async def test_poison_in_a_fifo_group_goes_to_the_fifo_dlq(queues: EmbeddedQueues) -> None:
    await queues.send("orders.fifo", [fifo_message("P0", "P"), fifo_message("P1", "P")])

    def behaviour(event: dict[str, Any]) -> None:
        if any(r["body"] == "P0" for r in event["Records"]):
            raise ValueError("poison")

    function = ScriptedFunction(behaviour)
    source = EmbeddedQueue(queues, "orders.fifo")
    await source.open()
    mapping = QueueMapping(
        source,
        SqsFormat("arn", "us-east-1", FilterSet()),
        function,
        QueueMappingSettings(batch_size=1, long_poll=0.2),
    )
    with capture_logs() as logs:
        task = asyncio.create_task(mapping.run())
        try:
            await until(lambda: mapping.statistics().deleted == 1)
        finally:
            await mapping.stop(5)
            await task
    assert function.bodies() == ["P0", "P0", "P0", "P1"]
    [moved] = [e for e in logs if e["event"].startswith("messages moved to the dead-letter")]
    assert (moved["queue"], moved["dead_letter_queue"], moved["messages"]) == (
        "orders.fifo",
        "orders-dlq.fifo",
        1,
    )
    dead = await queues.receive("orders-dlq.fifo", 10, 0)
    assert [m.body for m in dead] == ["P0"]
    assert dead[0].group_id == "P"


async def test_retention_sweep_and_redrive_without_a_source(queues: EmbeddedQueues) -> None:
    await queues.send("plain", [NewMessage(str(uuid.uuid4()), "old", "0" * 32)])
    removed = await queues.store.sweep({"plain": 60_000}, now=10**15)
    assert removed == 1
    await queues.send("plain", [NewMessage(str(uuid.uuid4()), "stays", "0" * 32)])
    moved, left = await queues.move("plain", None)  # never dead-lettered: nowhere to go back
    assert (moved, left) == (0, 1)
