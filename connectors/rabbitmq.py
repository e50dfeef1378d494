"""RabbitMQ as a ``QueueSource`` (aio-pika robust connection), and its source factory.

Messages are pushed by the broker into a local buffer, at most ``batch_size *
max_concurrency`` unacknowledged (the prefetch). A message is acknowledged only after
its batch succeeded (``multiple`` acks when a batch and all before it are settled, see
``rabbitmq_acks``); a failure is nacked with requeue (after the engine's backoff), and
rejected without requeue to dead-letter it. Receive counts come from the broker's
``x-delivery-count`` header on quorum queues; classic queues only flag redeliveries, so
the engine counts those itself (see ``eventhub.mapping.deliveries``).

Deliveries are taken from the channel underneath aio-pika's robust channel: the robust
connection and channel reconnect and restore QoS and declarations; a reopen callback
subscribes again. Deliveries of a channel that closed are dropped from the buffer and
never acknowledged on another channel (delivery tags are per channel): the broker has
put them back in the queue already.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractQueue, AbstractRobustChannel, AbstractRobustConnection
from aiormq import spec
from aiormq.abc import AbstractChannel, DeliveredMessage

from connectors.rabbitmq_acks import ChannelSettler, Settlement
from connectors.rabbitmq_connect import connect, safe_url, vhost_of
from connectors.rabbitmq_topology import dead_letter_names, ensure_queue
from connectors.sqs_params import message_id as new_message_id
from eventhub.config.loader import LoadedConfig
from eventhub.config.models import RabbitMQConnection
from eventhub.config.sources import RabbitMQSourceConfig
from eventhub.events.rmq import broker_arn
from eventhub.events.sqs import queue_arn
from eventhub.hubenv import HubEnv
from eventhub.mapping.filters import FilterSet
from eventhub.mapping.queue_format import QueueEventFormat, RmqFormat, SqsFormat
from eventhub.mapping.queue_source import QueueMappingSource, mapping_settings
from eventhub.sources import ManagedSource, QueueMessage, QueueSetupError, SourceUnavailable

log = structlog.get_logger("eventhub.rabbitmq")

MAX_PREFETCH = 65535
_CHANNEL_GONE = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
)


def _properties(delivery: DeliveredMessage) -> dict[str, Any]:
    """AMQP basic properties as the ``rmq`` event builder reads them."""
    p = delivery.header.properties
    return {
        "content_type": p.content_type,
        "content_encoding": p.content_encoding,
        "headers": p.headers or {},
        "delivery_mode": p.delivery_mode,
        "priority": p.priority,
        "correlation_id": p.correlation_id,
        "reply_to": p.reply_to,
        "expiration": p.expiration,
        "message_id": p.message_id,
        "timestamp": p.timestamp,
        "type": p.message_type,
        "user_id": p.user_id,
        "app_id": p.app_id,
        "cluster_id": p.cluster_id,
    }


def _deliver(delivery: DeliveredMessage) -> spec.Basic.Deliver:
    """The Basic.Deliver frame of a consumed message (consumers get nothing else)."""
    return cast(spec.Basic.Deliver, delivery.delivery)


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
        self._channel: AbstractRobustChannel | None = None
        self._queue: AbstractQueue | None = None
        self._underlay: AbstractChannel | None = None
        self._acks = ChannelSettler()
        self._buffer: deque[DeliveredMessage] = deque()
        self._arrived = asyncio.Event()
        self._broken: str | None = None
        self._sender = f"eventhub:{config.connection}"

    @property
    def connected(self) -> bool:
        connection, underlay = self._connection, self._underlay
        return (
            connection is not None
            and connection.connected.is_set()
            and underlay is not None
            and not underlay.is_closed
        )

    @property
    def problem(self) -> str | None:
        if self.connected:
            return None
        where = safe_url(self._connection_config.url.get_secret_value())
        return f"connection to RabbitMQ at {where} lost; reconnecting"

    async def open(self) -> None:
        self._connection = await connect(
            self._connection_config, self._loaded, f"eventhub:{self._source_name}"
        )
        try:
            channel = self._channel = await self._connection.channel()
            await channel.set_qos(prefetch_count=self._prefetch)
            self._queue = await ensure_queue(channel, self._config)
            channel.reopen_callbacks.add(self._resubscribe)
            await self._subscribe()
        except aiormq.exceptions.AMQPConnectionError as exc:
            raise SourceUnavailable(f"lost RabbitMQ while opening the queue: {exc}") from None

    async def _subscribe(self) -> None:
        assert self._channel is not None  # noqa: S101 - set by open
        underlay = await self._channel.get_underlay_channel()
        self._buffer.clear()
        self._acks = ChannelSettler()
        self._underlay = underlay
        await underlay.basic_consume(self.queue_name, self._on_delivery, no_ack=False)

    async def _resubscribe(self, *_: Any) -> None:
        try:
            await self._subscribe()
        except Exception as exc:  # noqa: BLE001 - reported through receive()
            self._broken = f"cannot consume {self.queue_name!r} again after reconnecting: {exc!r}"
            self._arrived.set()
        else:
            log.info("reconnected to RabbitMQ", source=self._source_name)

    async def _on_delivery(self, delivery: DeliveredMessage) -> None:
        if delivery.channel is not self._underlay:
            return  # a late delivery of a channel we left
        self._acks.delivered(_deliver(delivery).delivery_tag or 0)
        self._buffer.append(delivery)
        self._arrived.set()

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
        if self._broken is not None:
            raise QueueSetupError(self._broken)
        underlay = self._underlay
        taken: list[QueueMessage] = []
        now_ms = str(int(time.time() * 1000))
        buffer = self._buffer
        while buffer and len(taken) < max_messages:
            delivery = buffer.popleft()
            if delivery.channel is underlay:
                taken.append(self._message(delivery, now_ms))
        return taken

    def _message(self, delivery: DeliveredMessage, now_ms: str) -> QueueMessage:
        properties = _properties(delivery)
        headers = properties["headers"]
        count = headers.get("x-delivery-count")
        timestamp = properties["timestamp"]
        sent = str(int(timestamp.timestamp() * 1000)) if isinstance(timestamp, datetime) else now_ms
        message_id = properties["message_id"]
        counted = isinstance(count, int)
        frame = _deliver(delivery)
        return QueueMessage(
            message_id=message_id or new_message_id(),
            body=delivery.body,
            receive_count=count + 1 if counted else 0,
            handle=delivery,
            receipt_handle=str(frame.delivery_tag),
            redelivered=bool(frame.redelivered),
            attributes={
                "SentTimestamp": sent,
                "SenderId": properties["user_id"] or properties["app_id"] or self._sender,
                "ApproximateFirstReceiveTimestamp": now_ms,
            },
            properties=properties,
            count_key=""
            if counted
            else message_id or hashlib.sha1(delivery.body, usedforsecurity=False).hexdigest(),
        )

    def _current(self, messages: Sequence[QueueMessage]) -> tuple[list[int], int]:
        """Delivery tags of ``messages`` still on the current channel, and how many are not."""
        underlay = self._underlay
        tags = [m.handle.delivery.delivery_tag for m in messages if m.handle.channel is underlay]
        return tags, len(messages) - len(tags)

    async def _settle(self, messages: Sequence[QueueMessage], how: Settlement) -> None:
        tags, lost = self._current(messages)
        underlay, settler = self._underlay, self._acks
        if tags and underlay is not None:
            try:
                await settler.settle(underlay, tags, how)
            except _CHANNEL_GONE:
                lost += len(tags)
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
        figures: dict[str, int] = {"buffered": len(self._buffer), "unsettled": len(self._acks)}
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
        channel, self._channel = self._channel, None
        self._buffer.clear()
        self._underlay = None
        if connection is not None:
            try:
                if channel is not None and not channel.is_closed:
                    await channel.close()
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


def rabbitmq_source(name: str, config: RabbitMQSourceConfig, env: HubEnv) -> ManagedSource:
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
