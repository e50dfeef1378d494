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
    the stream or topic name and ``index`` the shard or partition number.
    """

    id: str
    stream: str
    index: int
    sequence_prefix: str = ""
    sequence_width: int = 0

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

    def lag(self, shard_id: str) -> int | None:
        """Records in the shard after the last fetched one, when known."""
        ...

    async def close(self) -> None:
        """Release connections; idempotent. Commits nothing by itself."""
        ...
