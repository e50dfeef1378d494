"""An in-memory ``QueueSource`` with SQS-like semantics, and a scripted function, for unit
tests of the queue engine (no broker, no clock: released messages are visible at once)."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventhub.runtime.result import InvocationResult, Outcome
from eventhub.sources import QueueMessage, SourceUnavailable


@dataclass
class Stored:
    message_id: str
    body: str
    group_id: str | None = None
    receive_count: int = 0
    in_flight: bool = False
    properties: dict[str, Any] | None = None


@dataclass
class FakeQueue:
    """Messages live in ``ready`` order; a received message is in flight until settled.

    ``counts=False`` behaves like a classic RabbitMQ queue: deliveries carry
    ``receive_count=0`` and only the ``redelivered`` flag.
    """

    fifo: bool = False
    redelivers_at_once: bool = False
    counts: bool = True
    queue_name: str = "fake"
    messages: list[Stored] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    receives: dict[str, int] = field(default_factory=dict)
    unavailable: int = 0  # fail this many receive calls with SourceUnavailable
    fail_deletes: bool = False
    closed: bool = False

    def __post_init__(self) -> None:
        self._changed = asyncio.Event()
        self._seq = itertools.count()

    @property
    def connected(self) -> bool:
        return True

    @property
    def problem(self) -> str | None:
        return None

    def put(self, body: str, group_id: str | None = None, **props: Any) -> str:
        message_id = props.pop("message_id", None) or str(uuid.uuid4())
        self.messages.append(Stored(message_id, body, group_id, properties=props or None))
        self._changed.set()
        return message_id

    def put_many(self, bodies: Sequence[str], group_id: str | None = None) -> list[str]:
        return [self.put(b, group_id) for b in bodies]

    @property
    def settled(self) -> int:
        return len(self.deleted) + len(self.dead)

    async def open(self) -> None:
        return None

    def _locked_groups(self) -> set[str | None]:
        return {m.group_id for m in self.messages if m.in_flight} if self.fifo else set()

    def _take(self, limit: int) -> list[QueueMessage]:
        locked = self._locked_groups()
        out: list[QueueMessage] = []
        for stored in self.messages:
            if len(out) >= limit:
                break
            if stored.in_flight or stored.group_id in locked and self.fifo:
                continue
            stored.in_flight = True
            stored.receive_count += 1
            self.receives[stored.message_id] = stored.receive_count
            out.append(self._message(stored))
        return out

    def _message(self, stored: Stored) -> QueueMessage:
        return QueueMessage(
            message_id=stored.message_id,
            body=stored.body,
            receive_count=stored.receive_count if self.counts else 0,
            handle=(stored, next(self._seq)),
            receipt_handle=f"rh-{stored.message_id}-{stored.receive_count}",
            group_id=stored.group_id,
            redelivered=stored.receive_count > 1,
            attributes={
                "SentTimestamp": "1",
                "SenderId": "fake",
                "ApproximateFirstReceiveTimestamp": "1",
            },
            message_attributes={},
            properties=stored.properties,
            count_key=stored.message_id if not self.counts else "",
        )

    async def receive(
        self, max_messages: int, wait: float, visibility_timeout: float | None = None
    ) -> list[QueueMessage]:
        if self.unavailable:
            self.unavailable -= 1
            raise SourceUnavailable("broker down")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            self._changed.clear()
            got = self._take(max_messages)
            if got or loop.time() >= deadline:
                return got
            try:
                # not wait_for: on 3.11 it can swallow a cancellation that races a wake-up
                async with asyncio.timeout(deadline - loop.time()):
                    await self._changed.wait()
            except TimeoutError:
                return []

    def _remove(self, messages: Sequence[QueueMessage], into: list[str]) -> None:
        for message in messages:
            stored = message.handle[0]
            if stored in self.messages and stored.in_flight:
                self.messages.remove(stored)
                into.append(stored.message_id)
        self._changed.set()

    def _back(self, messages: Sequence[QueueMessage], into: list[str]) -> None:
        for message in messages:
            stored = message.handle[0]
            stored.in_flight = False
            into.append(stored.message_id)
        self._changed.set()

    async def delete(self, messages: Sequence[QueueMessage]) -> None:
        if self.fail_deletes:
            raise SourceUnavailable("channel closed")
        self._remove(messages, self.deleted)

    async def release(self, messages: Sequence[QueueMessage]) -> None:
        self._back(messages, self.released)

    async def abandon(self, messages: Sequence[QueueMessage]) -> None:
        self._back(messages, self.abandoned)

    async def dead_letter(self, messages: Sequence[QueueMessage]) -> None:
        self._remove(messages, self.dead)

    async def statistics(self) -> dict[str, int]:
        in_flight = sum(1 for m in self.messages if m.in_flight)
        return {"visible": len(self.messages) - in_flight, "in_flight": in_flight}

    async def aclose(self) -> None:
        self.closed = True


def result(value: Any = None, ok: bool = True) -> InvocationResult:
    """An InvocationResult as the runtime makes it."""
    if not ok and value is None:
        value = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}
    return InvocationResult(
        request_id=str(uuid.uuid4()),
        outcome=Outcome.SUCCESS if ok else Outcome.FUNCTION_ERROR,
        value=value,
        payload=json.dumps(value).encode(),
        duration_ms=1.0,
        init_ms=None,
    )


Behaviour = Callable[[dict[str, Any]], Any]


class ScriptedFunction:
    """An ``Invoke`` callable: records every event; ``behaviour(event)`` returns the handler's
    value, raises to fail the invocation, or is a coroutine function."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour
        self.events: list[dict[str, Any]] = []
        self.running = 0
        self.most_running = 0

    async def __call__(self, event: dict[str, Any]) -> InvocationResult:
        self.events.append(event)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            value = self.behaviour(event) if self.behaviour else None
            if asyncio.iscoroutine(value):
                value = await value
        except Exception as exc:  # noqa: BLE001 - becomes a function error, as in the runtime
            return result({"errorMessage": str(exc), "errorType": type(exc).__name__}, ok=False)
        finally:
            self.running -= 1
        return result(value)

    def bodies(self) -> list[str]:
        return [r["body"] for e in self.events for r in e.get("Records", [])]
