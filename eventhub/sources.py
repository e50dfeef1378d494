"""The small protocols connectors implement, and what the hub needs of every source.

Each method says what it guarantees and what it raises. Engines in ``eventhub/mapping``
hold the semantics (ordering, retries, dead letters); connectors only move bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
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


# -- stream sources (ordered shards): the embedded stream and Kafka ------------------------
# (SourceUnavailable is raised by queue sources too.)


class SourceUnavailable(Exception):  # noqa: N818 - a condition the supervisor answers
    """The source cannot be used now: broker unreachable, stream or topic unknown, connection
    lost. The message is for people (it names the broker, topic or stream); the hub's
    supervisor restarts the source with backoff and ``/ready`` shows it disconnected."""


@dataclass(frozen=True, slots=True)
class StartingPosition:
    """Where a shard without a checkpoint starts: ``trim_horizon`` (oldest record kept),
    ``latest`` (records added from now on) or ``at_timestamp`` (first record that arrived at
    or after ``timestamp``, POSIX seconds)."""

    kind: str
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """One shard (a Kafka topic-partition, an embedded stream shard).

    ``id`` is unique within the source (``shardId-000000000003``, ``orders-3``); ``stream`` is
    the stream or topic name and ``index`` the shard or partition number. ``start`` is the
    position reading resumes at (the committed checkpoint), when the source knows it.
    """

    id: str
    stream: str
    index: int
    sequence_prefix: str = ""
    sequence_width: int = 0
    start: int | None = None

    def sequence_number(self, position: int) -> str:
        """The Kinesis-style decimal sequence number of ``position`` in this shard."""
        return self.sequence_formatter()(position)

    def sequence_formatter(self) -> Callable[[int], str]:
        """A fast ``sequence_number`` for builders that format many positions."""
        if not self.sequence_width:
            return str
        pattern = f"{self.sequence_prefix.replace('%', '%%')}%0{self.sequence_width}d"
        return pattern.__mod__


class RecordBuilder(Protocol):
    """The engine's per-shard builder a connector calls once per record, in shard order.

    ``position`` grows within the shard (a Kafka offset, an embedded sequence counter);
    ``key`` is the partition key (None: no key); ``data`` None is a Kafka tombstone;
    ``timestamp_ms`` is the arrival / Kafka timestamp; ``timestamp_type`` is Kafka's
    (0 CREATE_TIME, 1 LOG_APPEND_TIME). Returns the engine's entry for the record.
    """

    def __call__(
        self,
        position: int,
        key: bytes | None,
        data: bytes | None,
        timestamp_ms: int,
        headers: Sequence[tuple[str, bytes]],
        timestamp_type: int = 0,
    ) -> Any: ...


class ShardListener(Protocol):
    """What a stream source tells the engine about shard ownership."""

    def assigned(self, shards: Sequence[ShardInfo]) -> Mapping[str, RecordBuilder]:
        """These shards are now ours; returns the builder to use for each shard's records."""
        ...

    async def revoked(self, shard_ids: Sequence[str]) -> None:
        """These shards are being taken away: returns once work on them stopped (within the
        engine's grace) and what finished was committed. Never raises."""
        ...


# Lambda's LastProcessingResult while an event source mapping cannot reach its broker.
CONNECTION_PROBLEM = "PROBLEM: Connection error."


class StreamSource(Protocol):
    """A source of ordered shards, read by ``eventhub.mapping.stream.StreamMapping``.

    Positions are integers that grow within a shard. A checkpoint is the *next* position to
    read: everything before it has been processed. The source resumes every shard from its
    committed checkpoint; only a shard without one starts at the ``StartingPosition``, and
    the source commits that resolved start at once, so a restart never skips records that
    arrived in between.
    """

    async def open(self, listener: ShardListener) -> None:
        """Connect and start delivering shards (``listener.assigned``; Kafka later also on
        rebalances). Raises SourceUnavailable with a message naming what is missing."""
        ...

    async def fetch(self, wait: float) -> Mapping[str, Sequence[Any]]:
        """Built records of assigned, unpaused shards, keyed by shard id, each list in shard
        order and continuing where that shard's previous list ended. Waits up to ``wait``
        seconds for records and returns ``{}`` if none came. Raises SourceUnavailable if the
        source is gone for good (the engine then stops and is restarted)."""
        ...

    def pause(self, shard_id: str) -> None:
        """Stop fetching ``shard_id`` (backpressure); records not yet returned are not lost,
        they come after ``resume``."""
        ...

    def resume(self, shard_id: str) -> None:
        """Fetch ``shard_id`` again."""
        ...

    async def commit(self, positions: Mapping[str, int]) -> None:
        """Durably record checkpoints (next position to read) of the given shards; returns
        once they are stored. Raises SourceUnavailable when they could not be (the engine
        retries; a shard that is no longer ours is dropped)."""
        ...

    @property
    def connected(self) -> bool:
        """Whether the broker (or store) answered recently; shown by ``/ready``."""
        ...

    @property
    def problem(self) -> str | None:
        """Why the source is not connected (``last_error`` then); None while it is."""
        ...

    def lag(self, shard_id: str) -> int | None:
        """Records in the shard after the last fetched one, when known."""
        ...

    async def close(self) -> None:
        """Release connections; idempotent. Commits nothing by itself."""
        ...


# -- queue sources (unordered or FIFO groups): the embedded queue and RabbitMQ ------------


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

    @property
    def problem(self) -> str | None:
        """Why the queue is not connected (``last_error`` then); None while it is."""
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
