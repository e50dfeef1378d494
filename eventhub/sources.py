"""The small protocols connectors implement, and what the hub needs of every source.

Each method says what it guarantees and what it raises. Engines in ``eventhub/mapping``
hold the semantics (ordering, retries, dead letters); connectors only move bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class DestinationError(Exception):
    """A record could not be delivered; the caller decides whether to retry."""


class Destination(Protocol):
    """Where on_success / on_failure records and dead letters go."""

    async def send(self, record: Any) -> None:
        """Deliver one JSON-serialisable record. Returns only once the target has it
        (written, acknowledged, confirmed); raises DestinationError otherwise."""
        ...

    async def aclose(self) -> None:
        """Flush and release connections; idempotent."""
        ...


@dataclass(slots=True)
class SourceStatus:
    """What ``/sources``, ``/ready`` and metrics show of one source."""

    name: str
    type: str
    function: str
    state: str = "starting"  # starting | running | disabled | backoff | stopped | failed
    connected: bool = False
    last_result: str | None = None
    last_error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class ManagedSource(Protocol):
    """What the hub runs for one ``sources:`` entry (a trigger or an event source mapping).

    ``run`` serves until ``stop`` is called and returns normally then; an exception
    from ``run`` is a failure the hub's supervisor answers by restarting it with backoff.
    """

    name: str

    async def run(self) -> None: ...

    async def stop(self, grace: float) -> None:
        """Stop intake now, let in-flight work finish for up to ``grace`` seconds, commit
        what succeeded, then return (``run`` returns too)."""
        ...

    def status(self) -> SourceStatus: ...


SourceFactory = Callable[..., ManagedSource]
Sender = Callable[[Any], Awaitable[None]]


# -- queues --------------------------------------------------------------------------


class SourceUnavailable(Exception):  # noqa: N818 - a state of the broker, not a bug
    """The broker cannot be reached now; the same call may succeed after it reconnects."""


class QueueSetupError(Exception):
    """The queue cannot be consumed as configured (missing queue, refused credentials,
    conflicting declaration). Retrying will not help until the config or broker changes."""


@dataclass(slots=True)
class QueueMessage:
    """One received message as the queue engine sees it, whatever the broker.

    ``message_id`` is the ``itemIdentifier`` of partial batch responses (SQS ``messageId``;
    RabbitMQ's ``message_id`` property or a generated id). ``receive_count`` counts
    deliveries including this one; 0 means the broker cannot tell (a classic RabbitMQ
    queue), and the engine counts by ``count_key`` itself. ``handle`` belongs to the
    connector (row and receipt, or the AMQP delivery). ``attributes`` are SQS system
    attributes other than ApproximateReceiveCount; ``properties`` are AMQP basic properties
    as plain Python (``content_type``, ``headers``, ``timestamp``...).
    """

    message_id: str
    body: str | bytes
    receive_count: int
    handle: Any
    receipt_handle: str = ""
    group_id: str | None = None
    redelivered: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    message_attributes: dict[str, Any] | None = None
    md5_of_body: str | None = None
    properties: dict[str, Any] | None = None
    count_key: str = ""


class QueueSource(Protocol):
    """A queue the queue engine (``eventhub.mapping.queue``) consumes.

    Connectors move messages; the engine decides what happens to them. Every method may
    raise SourceUnavailable while the broker is away (the engine waits and retries).
    """

    queue_name: str
    fifo: bool
    redelivers_at_once: bool
    """True when ``release`` makes a message deliverable immediately (RabbitMQ requeue):
    the engine then backs off before releasing, so a poison message cannot spin."""

    @property
    def connected(self) -> bool:
        """Whether the broker is reachable right now (``/ready``)."""
        ...

    async def open(self) -> None:
        """Connect and check the queue. Raises QueueSetupError when it cannot be consumed
        as configured, SourceUnavailable when the broker is unreachable."""
        ...

    async def receive(
        self, max_messages: int, wait: float, visibility_timeout: float | None = None
    ) -> list[QueueMessage]:
        """Up to ``max_messages`` messages: returns as soon as at least one is available,
        or ``[]`` after ``wait`` seconds. Received messages are hidden from every other
        consumer until deleted or released (the embedded queue: for the queue's visibility
        timeout, or ``visibility_timeout`` seconds if longer). FIFO: messages of one group
        arrive in order and a group with messages in flight yields no more. Cancelling a
        receive leaves no message hidden for longer than its visibility timeout."""
        ...

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        """Remove messages for good (SQS delete, AMQP ack). A message whose lease was lost
        (received again elsewhere, channel closed) is skipped: it will be delivered again."""
        ...

    async def release(self, messages: Sequence[QueueMessage]) -> None:
        """Give up on this delivery: the messages come back for another receive (the
        embedded queue after the visibility timeout, RabbitMQ at once by requeueing)."""
        ...

    async def abandon(self, messages: Sequence[QueueMessage]) -> None:
        """Return messages that were never processed (shutdown): deliverable at once."""
        ...

    async def dead_letter(self, messages: Sequence[QueueMessage]) -> None:
        """Move messages to the queue's own dead letter now (the embedded queue's redrive
        target; RabbitMQ: reject without requeue, so the broker's dead-letter exchange
        takes them, or drops them when the queue has none)."""
        ...

    async def statistics(self) -> dict[str, int]:
        """Best-effort depth figures (``visible``, ``in_flight``, ``delayed``,
        ``dead_letter_depth``); keys the broker cannot tell are left out."""
        ...

    async def aclose(self) -> None:
        """Disconnect; unacknowledged messages return to the queue. Idempotent."""
        ...
