"""Delivery of one function's Event invocations: durable, retried, aged out, reported.

An accepted event is committed to the store before the caller hears 202. The
dispatcher takes events as they arrive (handed over directly when it has room) or
leases due ones from the store, invokes the function (waiting for concurrency: a
throttle never uses a retry), and afterwards either deletes the event or schedules
its retry. Its destination record is delivered *before* the event is deleted, so a
kill -9 at any point repeats work rather than losing it (at-least-once).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from eventhub.events.records import async_invocation_record
from eventhub.invoke.destinations import DestinationPool
from eventhub.invoke.invoker import FunctionNotFound, Invoker
from eventhub.runtime.errors import Throttled
from eventhub.runtime.result import InvocationResult
from eventhub.store.async_events import AsyncEvent
from eventhub.store.db import Operation

log = structlog.get_logger("eventhub.async")

Condition = Literal["Success", "RetriesExhausted", "EventAgeExceeded"]

MAX_IN_FLIGHT = 256


class AsyncDispatcher:
    """Runs ``function``'s async queue until ``stop``; see the module docstring."""

    def __init__(self, function: str, invoker: Invoker, destinations: DestinationPool) -> None:
        self.function = function
        self._invoker = invoker
        self._events = invoker.events
        self._destinations = destinations
        self._clock = invoker.clock
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._backlog = True  # unknown at start: look in the store first
        self._depth = invoker.metrics.async_queue_depth.labels(function)

    @property
    def capacity(self) -> int:
        try:
            limit = self._invoker.get(self.function).limiter.limit
        except FunctionNotFound:
            return 0
        return max(1, min(limit, MAX_IN_FLIGHT))

    async def accept(self, request_id: str, payload: bytes, also: Operation | None = None) -> None:
        """Persist one event (durable on return) and start it at once if there is room.
        ``also`` commits in the same transaction as the event (see AsyncEventStore.add)."""
        direct = not self._backlog and len(self._in_flight) < self.capacity
        event = await self._events.add(
            self.function, request_id, payload, self._clock(), leased=direct, also=also
        )
        self._depth.inc()
        if direct and not self._stopping.is_set():
            self._start(event)
        else:
            self._backlog = True
            self._wake.set()

    async def run(self) -> None:
        """Lease and deliver events until ``stop``; in-flight ones are left to ``stop``."""
        self._depth.set(await self._events.depth(self.function))
        while not self._stopping.is_set():
            free = self.capacity - len(self._in_flight)
            if free > 0:
                leased = await self._events.lease_due(self.function, self._clock(), free)
                for event in leased:
                    self._start(event)
                if len(leased) == free:
                    continue
                self._backlog = False
            await self._sleep_until_due()

    async def _sleep_until_due(self) -> None:
        self._wake.clear()
        next_due = await self._events.next_due(self.function)
        timeout = None
        if next_due is not None:  # a retry is scheduled: wake when it is due
            timeout = max(0.0, next_due - self._clock())
        waits = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        try:
            done, _ = await asyncio.wait(
                waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                self._backlog = True  # the retry is due now; new events queue behind it
        finally:
            for waiter in waits:
                waiter.cancel()

    async def stop(self, grace: float) -> None:
        """Stop leasing; wait up to ``grace`` for in-flight events, then cancel them
        (their leases are released at the next start, so they are retried)."""
        self._stopping.set()
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    def _start(self, event: AsyncEvent) -> None:
        task = asyncio.create_task(self._deliver(event), name=f"async:{self.function}:{event.id}")
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("async delivery failed", function=self.function, error=repr(task.exception()))

    async def _deliver(self, event: AsyncEvent) -> None:
        settings = self._invoker.async_settings(self.function)
        age = self._clock() - event.accepted_at
        if age > settings.max_event_age:
            await self._give_up(
                event, "EventAgeExceeded", event.attempts, _json(event.last_response)
            )
            return
        try:
            runtime = self._invoker.get(self.function)
        except FunctionNotFound:
            await self._events.retry_later(
                event.id, self._clock() + 60, event.attempts, event.throttles, None
            )
            return
        if runtime.limits.reserved_concurrency == 0:  # Lambda: straight to on_failure, no retries
            await self._give_up(event, "RetriesExhausted", event.attempts, None)
            return
        self._invoker.metrics.async_event_age.labels(self.function).observe(age)
        try:  # through the Invoker: a reload may replace the runtime while this waits
            result = await self._invoker.invoke(
                self.function,
                json.loads(event.payload),
                wait=True,
                wait_at_most=settings.max_event_age - age,  # throttled until too old
                request_id=event.request_id,
            )
        except Throttled:
            await self._give_up(
                event, "EventAgeExceeded", event.attempts, _json(event.last_response)
            )
            return
        except FunctionNotFound:  # removed by a reload meanwhile
            await self._events.retry_later(
                event.id, self._clock() + 60, event.attempts, event.throttles, None
            )
            return
        await self._after(event, result)

    async def _after(self, event: AsyncEvent, result: InvocationResult) -> None:
        settings = self._invoker.async_settings(self.function)
        attempts = event.attempts + 1
        if result.ok:
            await self._record(settings.on_success, event, "Success", attempts, result)
            await self._remove(event)
        elif attempts > settings.max_retry_attempts:
            await self._give_up(event, "RetriesExhausted", attempts, result)
        else:
            delay = settings.retry_base_delay * 2 ** (attempts - 1)
            log.info(
                "async invocation failed; retrying",
                function=self.function,
                request_id=event.request_id,
                attempt=attempts,
                delay=delay,
            )
            await self._events.retry_later(
                event.id, self._clock() + delay, attempts, event.throttles, result.payload
            )

    async def _give_up(
        self,
        event: AsyncEvent,
        condition: Condition,
        attempts: int,
        response: InvocationResult | Any,
    ) -> None:
        settings = self._invoker.async_settings(self.function)
        self._invoker.metrics.async_events_dropped.labels(self.function, condition).inc()
        log.warning(
            "async event given up",
            function=self.function,
            request_id=event.request_id,
            condition=condition,
            attempts=attempts,
        )
        await self._record(settings.on_failure, event, condition, attempts, response)
        await self._remove(event)

    async def _record(
        self, uri: str | None, event: AsyncEvent, condition: Condition, attempts: int, response: Any
    ) -> None:
        if uri is None:
            return
        runtime_arn = self._function_arn()
        if isinstance(response, InvocationResult):
            payload, error = response.value, response.function_error
        else:
            payload, error = response, ("Unhandled" if response is not None else None)
        record = async_invocation_record(
            request_id=event.request_id,
            function_arn=f"{runtime_arn}:$LATEST",
            condition=condition,
            approximate_invoke_count=attempts,
            request_payload=json.loads(event.payload),
            response_payload=payload,
            function_error=error,
            timestamp=datetime.now(UTC),
        )
        if not await self._destinations.send(uri, record):
            self._invoker.metrics.destination_failures.labels(
                self.function, uri.split(":")[0]
            ).inc()

    def _function_arn(self) -> str:
        try:
            return self._invoker.get(self.function).arn
        except FunctionNotFound:
            return self.function

    async def _remove(self, event: AsyncEvent) -> None:
        await asyncio.shield(self._events.remove(event.id))
        self._depth.dec()


def _json(data: bytes | None) -> Any:
    return None if data is None else json.loads(data)
