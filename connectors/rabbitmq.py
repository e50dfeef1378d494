"""RabbitMQ as a ``QueueSource`` (aio-pika robust connection), and its source factory.

Messages are pushed by the broker into a local buffer, at most ``batch_size *
max_concurrency`` unacknowledged (the prefetch). A message is acknowledged only after
its batch succeeded; a failure is nacked with requeue (after the engine's backoff), and
rejected without requeue to dead-letter it. Receive counts come from the broker's
``x-delivery-count`` header on quorum queues; classic queues only flag redeliveries, so
the engine counts those itself (see ``eventhub.mapping.deliveries``).

When the connection drops, unacknowledged messages go back to the queue on the broker;
the buffer is dropped, acknowledgements of the old channel are skipped, and the robust
connection reconnects and resumes consuming on its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aio_pika.exceptions import ChannelInvalidStateError, MessageProcessError

from connectors.rabbitmq_connect import connect, vhost_of
from connectors.rabbitmq_topology import dead_letter_names, ensure_queue
from eventhub.config.loader import LoadedConfig
from eventhub.config.models import RabbitMQConnection
from eventhub.config.sources import RabbitMQSourceConfig
from eventhub.events.rmq import broker_arn
from eventhub.events.sqs import queue_arn
from eventhub.hubenv import HubEnv
from eventhub.mapping.filters import FilterSet
from eventhub.mapping.queue_format import QueueEventFormat, RmqFormat, SqsFormat
from eventhub.mapping.queue_source import QueueMappingSource, mapping_settings
from eventhub.sources import ManagedSource, QueueMessage, SourceUnavailable

log = structlog.get_logger("eventhub.rabbitmq")

MAX_PREFETCH = 65535
_SETTLE_ERRORS = (ChannelInvalidStateError, aiormq.exceptions.AMQPError, ConnectionError)


def _expiration_ms(value: Any) -> str | None:
    """aio-pika decodes ``expiration`` to seconds; AWS shows the wire value, milliseconds."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, datetime):
        return None
    return str(round(float(value) * 1000))


def _properties(message: AbstractIncomingMessage) -> dict[str, Any]:
    """AMQP basic properties as the ``rmq`` event builder reads them."""
    return {
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
        "headers": dict(message.headers) if message.headers else {},
        "delivery_mode": int(message.delivery_mode) if message.delivery_mode else None,
        "priority": message.priority,
        "correlation_id": message.correlation_id,
        "reply_to": message.reply_to,
        "expiration": _expiration_ms(message.expiration),
        "message_id": message.message_id,
        "timestamp": message.timestamp,
        "type": message.type,
        "user_id": message.user_id,
        "app_id": message.app_id,
        "cluster_id": message.cluster_id,
    }


class RabbitMQQueue:
    """One RabbitMQ queue consumed with manual acknowledgements."""

    fifo = False
    redelivers_at_once = True

    def __init__(
        self,
        source_name: str,
        config: RabbitMQSourceConfig,
        connection: RabbitMQConnection,
        loaded: LoadedConfig,
    ) -> None:
        self.queue_name = config.queue
        self._source_name = source_name
        self._config = config
        self._connection_config = connection
        self._loaded = loaded
        self._prefetch = min(MAX_PREFETCH, config.batch_size * config.max_concurrency)
        self._connection: AbstractRobustConnection | None = None
        self._queue: AbstractQueue | None = None
        self._buffer: deque[AbstractIncomingMessage] = deque()
        self._arrived = asyncio.Event()
        self._sender = f"eventhub:{config.connection}"

    @property
    def connected(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    async def open(self) -> None:
        self._connection = await connect(
            self._connection_config, self._loaded, f"eventhub:{self._source_name}"
        )
        self._connection.reconnect_callbacks.add(self._on_reconnect)
        self._connection.close_callbacks.add(self._on_reconnect)
        try:
            channel = await self._connection.channel()
            await channel.set_qos(prefetch_count=self._prefetch)
            self._queue = await ensure_queue(channel, self._config)
            await self._queue.consume(self._on_message)
        except aiormq.exceptions.AMQPConnectionError as exc:
            raise SourceUnavailable(f"lost RabbitMQ while opening the queue: {exc}") from None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._buffer.append(message)
        self._arrived.set()

    def _on_reconnect(self, *_: Any) -> None:
        # Deliveries of the old channel cannot be acknowledged any more; the broker has
        # already put them back in the queue.
        self._buffer.clear()
        log.info("reconnected to RabbitMQ", source=self._source_name)

    async def receive(
        self, max_messages: int, wait: float, visibility_timeout: float | None = None
    ) -> list[QueueMessage]:
        if not self._buffer:
            self._arrived.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._arrived.wait()
            except TimeoutError:
                return []
        taken: list[QueueMessage] = []
        now_ms = str(int(time.time() * 1000))
        while self._buffer and len(taken) < max_messages:
            taken.append(self._message(self._buffer.popleft(), now_ms))
        return taken

    def _message(self, delivery: AbstractIncomingMessage, now_ms: str) -> QueueMessage:
        properties = _properties(delivery)
        headers = properties["headers"]
        count = headers.get("x-delivery-count")
        timestamp = properties["timestamp"]
        sent = str(int(timestamp.timestamp() * 1000)) if isinstance(timestamp, datetime) else now_ms
        message_id = properties["message_id"]
        return QueueMessage(
            message_id=message_id or str(uuid.uuid4()),
            body=delivery.body,
            receive_count=count + 1 if isinstance(count, int) else 0,
            handle=delivery,
            receipt_handle=f"{delivery.consumer_tag}:{delivery.delivery_tag}",
            redelivered=bool(delivery.redelivered),
            attributes={
                "SentTimestamp": sent,
                "SenderId": properties["user_id"] or properties["app_id"] or self._sender,
                "ApproximateFirstReceiveTimestamp": now_ms,
            },
            properties=properties,
            count_key=message_id or hashlib.sha1(delivery.body, usedforsecurity=False).hexdigest(),
        )

    async def _settle(self, messages: Sequence[QueueMessage], how: str) -> None:
        lost = 0
        for message in messages:
            delivery: AbstractIncomingMessage = message.handle
            try:
                if how == "ack":
                    await delivery.ack()
                else:
                    await delivery.nack(requeue=how == "requeue")
            except MessageProcessError:
                continue  # settled already
            except _SETTLE_ERRORS:
                lost += 1
        if lost:
            raise SourceUnavailable(
                f"{lost} message(s) were received on a channel that is gone; the broker "
                "delivers them again"
            )

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        await self._settle(messages, "ack")

    async def release(self, messages: Sequence[QueueMessage]) -> None:
        await self._settle(messages, "requeue")

    async def abandon(self, messages: Sequence[QueueMessage]) -> None:
        await self._settle(messages, "requeue")

    async def dead_letter(self, messages: Sequence[QueueMessage]) -> None:
        await self._settle(messages, "reject")

    async def statistics(self) -> dict[str, int]:
        if self._connection is None or not self.connected:
            return {}
        figures: dict[str, int] = {"buffered": len(self._buffer)}
        _, dead_queue = dead_letter_names(self._config)
        async with self._connection.channel() as channel:
            found = await channel.declare_queue(self.queue_name, passive=True)
            figures["visible"] = found.declaration_result.message_count or 0
            figures["consumers"] = found.declaration_result.consumer_count or 0
            if dead_queue is not None:
                dead = await channel.declare_queue(dead_queue, passive=True)
                figures["dead_letter_depth"] = dead.declaration_result.message_count or 0
        return figures

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        self._buffer.clear()
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # noqa: BLE001 - closing a dead connection may fail; it is gone
                log.debug("closing RabbitMQ connection failed", exc_info=True)


def _format(name: str, config: RabbitMQSourceConfig, env: HubEnv, url: str) -> QueueEventFormat:
    hub = env.loaded.config.hub
    filters = FilterSet(config.filters)
    if config.event_format == "sqs":
        return SqsFormat(queue_arn(hub.region, hub.account_id, config.queue), hub.region, filters)
    address = urlsplit(url)
    broker_id = "b-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{address.hostname}:{address.port}"))
    arn = broker_arn(hub.region, hub.account_id, config.connection, broker_id)
    return RmqFormat(config.queue, vhost_of(url), arn, filters)


def source(name: str, config: RabbitMQSourceConfig, env: HubEnv) -> ManagedSource:
    """``registry.SOURCES["rabbitmq"]``: a mapping of a RabbitMQ queue."""
    connection = env.loaded.config.connections[config.connection]
    assert isinstance(connection, RabbitMQConnection)  # noqa: S101 - checked by the config
    url = connection.url.get_secret_value()
    return QueueMappingSource(
        name,
        config,
        env,
        RabbitMQQueue(name, config, connection, env.loaded),
        _format(name, config, env, url),
        mapping_settings(config, env, max_receive_count=config.max_receive_count),
        dead_letter_uri=config.dead_letter,
    )
