"""``rabbitmq:CONNECTION/EXCHANGE/ROUTING_KEY`` destination: publisher confirms on.

Each record is published as a persistent ``application/json`` message with ``mandatory``
set, and ``send`` returns only once the broker confirmed it; a message no queue is bound
to receive comes back as an error instead of vanishing. An empty EXCHANGE is the default
exchange (the routing key is then a queue name).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING, Any

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.exceptions import DeliveryError, PublishError

from connectors.rabbitmq_connect import connect
from eventhub.config.destinations import DestinationRef
from eventhub.config.models import RabbitMQConnection
from eventhub.sources import DestinationError, QueueSetupError, SourceUnavailable

if TYPE_CHECKING:
    from eventhub.config.loader import LoadedConfig
    from eventhub.invoke.destinations import DestinationContext

CONFIRM_TIMEOUT = 10.0


class RabbitMQDestination:
    """Publishes records to one exchange with one routing key."""

    def __init__(
        self, connection: RabbitMQConnection, loaded: LoadedConfig, exchange: str, routing_key: str
    ) -> None:
        self._conn_config = connection
        self._loaded = loaded
        self._exchange_name = exchange
        self._routing_key = routing_key
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_ref(cls, ref: DestinationRef, context: DestinationContext) -> RabbitMQDestination:
        name, exchange, routing_key = ref.parts
        connection = context.loaded.config.connections.get(name)
        if not isinstance(connection, RabbitMQConnection):
            raise DestinationError(f"{ref.uri}: {name!r} is not a rabbitmq connection")
        return cls(connection, context.loaded, exchange, routing_key)

    async def _ready(self) -> AbstractExchange:
        async with self._lock:
            if self._exchange is not None and self._channel is not None:
                if not self._channel.is_closed:
                    return self._exchange
            if self._connection is None:
                self._connection = await connect(
                    self._conn_config, self._loaded, "eventhub:publish"
                )
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            if self._exchange_name:
                self._exchange = await self._channel.get_exchange(self._exchange_name, ensure=True)
            else:
                self._exchange = self._channel.default_exchange
            return self._exchange

    async def send(self, record: Any) -> None:
        body = json.dumps(record, ensure_ascii=False, default=str).encode()
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(uuid.uuid4()),
        )
        where = f"exchange {self._exchange_name!r} with routing key {self._routing_key!r}"
        try:
            exchange = await self._ready()
            await exchange.publish(
                message, self._routing_key, mandatory=True, timeout=CONFIRM_TIMEOUT
            )
        except (SourceUnavailable, QueueSetupError) as exc:
            raise DestinationError(str(exc)) from exc
        except DeliveryError as exc:
            raise DestinationError(f"no queue took the message published to {where}") from exc
        except (PublishError, aiormq.exceptions.AMQPError, ConnectionError, TimeoutError) as exc:
            self._exchange = None
            raise DestinationError(f"publishing to {where} failed: {exc!r}") from exc

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        channel, self._channel = self._channel, None
        self._exchange = None
        try:
            if channel is not None and not channel.is_closed:
                await channel.close()
            if connection is not None:
                await connection.close()
        except Exception:  # noqa: BLE001 - a broken connection is closed enough
            return
