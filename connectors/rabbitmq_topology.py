"""The queue a ``rabbitmq`` source consumes: checked, or declared with its dead letters.

With ``declare:`` the queue is declared as configured. A quorum queue with
``max_receive_count`` N gets ``x-delivery-limit: N-1`` (RabbitMQ counts redeliveries, so a
message is delivered N times) and a dead-letter exchange: the broker dead-letters it on
the next return, even if a hub died mid-batch. Whenever ``max_receive_count`` is set the
dead-letter exchange (``<queue>.dlx``, fanout) and a queue bound to it (``<queue>.dlq``)
are declared unless named otherwise. Without ``declare:`` the queue must exist.
"""

from __future__ import annotations

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractQueue
from pamqp.common import FieldTable

from eventhub.config.sources import RabbitMQSourceConfig
from eventhub.sources import QueueSetupError


def dead_letter_names(config: RabbitMQSourceConfig) -> tuple[str | None, str | None]:
    """``(exchange, queue)`` of the declared dead letters, or ``(None, None)``."""
    declare = config.declare
    if declare is None:
        return None, None
    exchange = declare.dead_letter_exchange
    if exchange is None and config.max_receive_count is not None:
        exchange = f"{config.queue}.dlx"
    if exchange is None:
        return None, None
    return exchange, declare.dead_letter_queue or f"{config.queue}.dlq"


async def ensure_queue(channel: AbstractChannel, config: RabbitMQSourceConfig) -> AbstractQueue:
    """The source queue, declared when configured so. Raises QueueSetupError when it does not
    exist (and is not to be declared) or exists with other arguments."""
    if config.declare is None:
        try:
            return await channel.declare_queue(config.queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            raise QueueSetupError(
                f"queue {config.queue!r} does not exist on the broker; create it, or add "
                "`declare:` to the source to have eventhub declare it"
            ) from None
    declare = config.declare
    arguments: FieldTable = {}
    exchange, dead_queue = dead_letter_names(config)
    try:
        if exchange is not None and dead_queue is not None:
            dlx = await channel.declare_exchange(
                exchange, aio_pika.ExchangeType.FANOUT, durable=declare.durable
            )
            dlq = await channel.declare_queue(dead_queue, durable=declare.durable)
            await dlq.bind(dlx, routing_key="#")
            arguments["x-dead-letter-exchange"] = exchange
        if declare.queue_type == "quorum":
            arguments["x-queue-type"] = "quorum"
            if config.max_receive_count is not None:
                arguments["x-delivery-limit"] = config.max_receive_count - 1
        return await channel.declare_queue(
            config.queue, durable=declare.durable, arguments=arguments
        )
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        raise QueueSetupError(
            f"queue {config.queue!r} (or its dead-letter exchange) already exists with other "
            f"settings than `declare:` asks for: {exc}"
        ) from None
    except aiormq.exceptions.ChannelAccessRefused as exc:
        raise QueueSetupError(f"the broker refused to declare {config.queue!r}: {exc}") from None
