"""``kafka:CONNECTION/TOPIC`` destination: each record produced to a topic as JSON.

One producer per destination (``acks=all``), started on first use so a broker
that is down does not stop the hub from starting; ``send`` returns once the broker
acknowledged the record and raises DestinationError otherwise (the caller retries).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from connectors.kafka_client import client_options, describe, quiet_aiokafka, stop_quietly
from eventhub.config.destinations import DestinationRef
from eventhub.config.models import KafkaConnection
from eventhub.sources import DestinationError

if TYPE_CHECKING:
    from eventhub.invoke.destinations import DestinationContext

SEND_TIMEOUT: Final = 15.0


class KafkaDestination:
    """Produces records to one topic of one Kafka connection."""

    def __init__(self, context: DestinationContext, connection: str, topic: str) -> None:
        self._context = context
        self._connection = connection
        self._topic = topic
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_ref(cls, ref: DestinationRef, context: DestinationContext) -> KafkaDestination:
        return cls(context, ref.parts[0], ref.parts[1])

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is not None:
                return self._producer
            connection = self._context.loaded.config.connections.get(self._connection)
            if not isinstance(connection, KafkaConnection):
                raise DestinationError(f"{self._connection!r} is not a kafka connection")
            quiet_aiokafka()
            producer = AIOKafkaProducer(
                **client_options(connection, self._context.loaded),
                acks="all",
                request_timeout_ms=int(SEND_TIMEOUT * 1000),
            )
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    await producer.start()
            except (KafkaError, OSError, TimeoutError) as exc:
                await stop_quietly(producer)
                raise DestinationError(
                    f"cannot reach Kafka at {describe(connection)}: {exc or type(exc).__name__}"
                ) from exc
            self._producer = producer
            return producer

    async def send(self, record: Any) -> None:
        producer = await self._started()
        value = json.dumps(record, separators=(",", ":"), default=str).encode()
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await producer.send_and_wait(self._topic, value)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise DestinationError(
                f"producing to {self._topic!r} failed: {exc or type(exc).__name__}"
            ) from exc

    async def aclose(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await stop_quietly(producer)
