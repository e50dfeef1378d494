"""The small protocols connectors implement, and what the hub needs of every source.

Each method says what it guarantees and what it raises. Engines in ``eventhub/mapping``
hold the semantics (ordering, retries, dead letters); connectors only move bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
