"""The embedded SQS-like queue as a ``QueueSource``, its source factory and ``queue:``
destination.

Failed messages are simply not deleted: they become visible again when their visibility
timeout ends, and the queue's redrive policy moves them to its dead-letter queue after
``max_receive_count`` receives (SQS semantics, applied by the store for every consumer,
the SQS API's included). As AWS does, when ``batch_window`` + the function timeout exceed
the queue's visibility timeout, messages are hidden for window + timeout + 30 s instead.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from connectors.queue_service import EmbeddedQueues, QueueNotFound, system_attributes
from connectors.sqs_params import encode_receipt
from eventhub.config.destinations import DestinationRef
from eventhub.config.sources import QueueSourceConfig
from eventhub.events.sqs import md5_of_body
from eventhub.hubenv import HubEnv
from eventhub.mapping.filters import FilterSet
from eventhub.mapping.queue_format import SqsFormat
from eventhub.mapping.queue_source import QueueMappingSource, mapping_settings
from eventhub.sources import DestinationError, ManagedSource, QueueMessage, QueueSetupError
from eventhub.store.queues import NewMessage, StoredMessage

if TYPE_CHECKING:
    from eventhub.invoke.destinations import DestinationContext

SERVICE = "queues"


class EmbeddedQueue:
    """One embedded queue, consumed by a queue mapping."""

    redelivers_at_once = False

    def __init__(
        self,
        queues: EmbeddedQueues,
        name: str,
        visibility: Callable[[], float | None] = lambda: None,
    ) -> None:
        self._queues = queues
        self.queue_name = name
        self._visibility = visibility
        self.fifo = name.endswith(".fifo")

    @property
    def connected(self) -> bool:
        return True

    @property
    def problem(self) -> str | None:
        return None

    async def open(self) -> None:
        try:
            self.fifo = self._queues.config(self.queue_name).fifo
        except QueueNotFound as exc:
            raise QueueSetupError(str(exc)) from None

    async def receive(
        self, max_messages: int, wait: float, visibility_timeout: float | None = None
    ) -> list[QueueMessage]:
        hidden = visibility_timeout if visibility_timeout is not None else self._visibility()
        rows = await self._queues.receive(self.queue_name, max_messages, wait, hidden)
        sender = self._queues.account_id
        return [self._message(row, sender) for row in rows]

    def _message(self, row: StoredMessage, sender: str) -> QueueMessage:
        return QueueMessage(
            message_id=row.message_id,
            body=row.body,
            receive_count=row.receive_count,
            handle=(row.seq, row.token),
            receipt_handle=encode_receipt(row.seq, row.token),
            group_id=row.group_id,
            redelivered=row.receive_count > 1,
            attributes=system_attributes(row, sender),
            message_attributes=json.loads(row.attributes) if row.attributes else {},
            md5_of_body=row.md5,
        )

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        await self._queues.delete(self.queue_name, [m.handle for m in messages])

    async def release(self, messages: Sequence[QueueMessage]) -> None:
        return None  # visible again when the visibility timeout ends, as in SQS

    async def abandon(self, messages: Sequence[QueueMessage]) -> None:
        await self._queues.change_visibility(self.queue_name, [m.handle for m in messages], 0)

    async def dead_letter(self, messages: Sequence[QueueMessage]) -> None:
        # Without a redrive policy nothing moves and the messages come back after the timeout.
        await self._queues.dead_letter(self.queue_name, [m.handle for m in messages])

    async def statistics(self) -> dict[str, int]:
        depth = await self._queues.depth(self.queue_name)
        figures = {"visible": depth.visible, "in_flight": depth.in_flight, "delayed": depth.delayed}
        redrive = self._queues.config(self.queue_name).redrive
        if redrive is not None:
            dead = await self._queues.depth(redrive.dead_letter_queue)
            figures["dead_letter_depth"] = dead.visible + dead.in_flight + dead.delayed
        return figures

    async def aclose(self) -> None:
        return None


def queue_source(name: str, config: QueueSourceConfig, env: HubEnv) -> ManagedSource:
    """``registry.SOURCES["queue"]``: a mapping of an embedded queue."""
    queues: EmbeddedQueues = env.services[SERVICE]
    hub = env.loaded.config.hub

    def visibility() -> float | None:
        loaded = env.loaded.config
        queue = loaded.queues.get(config.queue)
        function = loaded.functions.get(config.function)
        if queue is None or function is None:
            return None
        needed = config.batch_window + function.timeout
        return needed + 30 if needed > queue.visibility_timeout else None

    return QueueMappingSource(
        name,
        config,
        env,
        EmbeddedQueue(queues, config.queue, visibility),
        SqsFormat(queues.arn(config.queue), hub.region, FilterSet(config.filters)),
        mapping_settings(config, env),
    )


class QueueDestination:
    """``queue:NAME``: each record becomes one message (its JSON as the body). A FIFO queue
    gets the message group ``eventhub`` and a unique deduplication id."""

    def __init__(self, context: DestinationContext, name: str) -> None:
        self._context = context
        self._name = name

    @classmethod
    def from_ref(cls, ref: DestinationRef, context: DestinationContext) -> QueueDestination:
        return cls(context, ref.target)

    async def send(self, record: Any) -> None:
        queues = EmbeddedQueues.of(self._context.store)
        if queues is None:
            raise DestinationError("the embedded queues are not running")
        body = json.dumps(record, ensure_ascii=False, default=str)
        try:
            config = queues.config(self._name)
        except QueueNotFound as exc:
            raise DestinationError(str(exc)) from None
        if len(body.encode()) > config.max_message_size:
            raise DestinationError(
                f"record of {len(body.encode())} bytes exceeds the max_message_size of queue "
                f"{self._name!r} ({config.max_message_size})"
            )
        message = NewMessage(
            message_id=str(uuid.uuid4()),
            body=body,
            md5=md5_of_body(body),
            group_id="eventhub" if config.fifo else None,
            dedup_id=str(uuid.uuid4()) if config.fifo else None,
        )
        await queues.send(self._name, [message])

    async def aclose(self) -> None:
        return None
