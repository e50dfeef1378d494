"""``rabbitmq:CONNECTION/EXCHANGE/ROUTING_KEY``: confirmed publishes, refused ones are errors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import aio_pika
import pytest
import yaml

from connectors.rabbitmq_destination import RabbitMQDestination
from eventhub.config.destinations import parse_destination
from eventhub.config.loader import load_config
from eventhub.sources import DestinationError
from tests.support.rabbitmq import RabbitNode

pytestmark = pytest.mark.integration


def context(tmp_path: Path, url: str) -> SimpleNamespace:
    path = tmp_path / "eventhub.yaml"
    path.write_text(yaml.safe_dump({"connections": {"rabbit": {"type": "rabbitmq", "url": url}}}))
    return SimpleNamespace(loaded=load_config(path))


async def test_records_are_published_with_confirms(rabbit: RabbitNode, tmp_path: Path) -> None:
    queue = f"dest-{uuid.uuid4().hex[:6]}"
    connection = await aio_pika.connect(rabbit.url)
    async with connection:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, durable=True)
        exchange = await channel.declare_exchange(f"{queue}.x", aio_pika.ExchangeType.DIRECT)
        await q.bind(exchange, routing_key="rk")
        for uri in (f"rabbitmq:rabbit//{queue}", f"rabbitmq:rabbit/{queue}.x/rk"):
            destination = RabbitMQDestination.from_ref(
                parse_destination(uri),
                context(tmp_path, rabbit.url),  # type: ignore[arg-type]
            )
            await destination.send({"condition": "RetriesExhausted", "uri": uri})
            await destination.aclose()
        got = []
        while (message := await q.get(fail=False)) is not None:
            got.append((json.loads(message.body), message.content_type, message.delivery_mode))
            await message.ack()
    assert [g[0]["uri"] for g in got] == [
        f"rabbitmq:rabbit//{queue}",
        f"rabbitmq:rabbit/{queue}.x/rk",
    ]
    assert all(g[1] == "application/json" for g in got)
    assert all(g[2] == aio_pika.DeliveryMode.PERSISTENT for g in got)


async def test_unroutable_and_missing_exchange_are_errors(rabbit: RabbitNode, tmp_path: Path):
    ctx = context(tmp_path, rabbit.url)
    nowhere = RabbitMQDestination.from_ref(
        parse_destination("rabbitmq:rabbit//no-such-queue"),
        ctx,  # type: ignore[arg-type]
    )
    with pytest.raises(DestinationError, match="no queue took the message"):
        await nowhere.send({"x": 1})
    await nowhere.aclose()
    missing = RabbitMQDestination.from_ref(
        parse_destination("rabbitmq:rabbit/no-such-exchange/rk"),
        ctx,  # type: ignore[arg-type]
    )
    with pytest.raises(DestinationError, match="no-such-exchange"):
        await missing.send({"x": 1})
    await missing.aclose()


async def test_an_unreachable_broker_is_an_error(tmp_path: Path) -> None:
    from tests.support.ports import free_port

    ctx = context(tmp_path, f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    destination = RabbitMQDestination.from_ref(
        parse_destination("rabbitmq:rabbit//q"),
        ctx,  # type: ignore[arg-type]
    )
    with pytest.raises(DestinationError, match="cannot reach RabbitMQ"):
        await destination.send({"x": 1})
    await destination.aclose()
