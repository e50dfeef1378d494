"""The Invoker: the one door to functions for the API, the engines and the triggers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eventhub.config.models import AsyncConfig
from eventhub.metrics import Metrics
from eventhub.runtime.context import ClientContext
from eventhub.runtime.errors import Retired
from eventhub.runtime.function import FunctionRuntime
from eventhub.runtime.result import InvocationResult
from eventhub.store.async_events import AsyncEventStore
from eventhub.store.db import Operation

if TYPE_CHECKING:
    from eventhub.invoke.async_queue import AsyncDispatcher


class FunctionNotFound(LookupError):  # noqa: N818 - mirrors ResourceNotFoundException
    """No function of that name is configured."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Function not found: {name}")
        self.name = name


class Invoker:
    """Sync invocation (``invoke``) and durable async invocation (``enqueue``).

    The set of functions changes on reload (``replace``); callers always look a
    function up by name at call time, so sources never hold a stale runtime.
    """

    def __init__(
        self,
        events: AsyncEventStore,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.events = events
        self.metrics = metrics
        self.clock = clock
        self._functions: dict[str, FunctionRuntime] = {}
        self._async: dict[str, AsyncConfig] = {}
        self._dispatchers: dict[str, AsyncDispatcher] = {}

    def replace(
        self, functions: dict[str, FunctionRuntime], settings: dict[str, AsyncConfig]
    ) -> None:
        """Install a new set of functions (on start and on reload)."""
        self._functions = dict(functions)
        self._async = dict(settings)

    def attach(self, name: str, dispatcher: AsyncDispatcher | None) -> None:
        """Register (or with None, remove) the dispatcher delivering ``name``'s events."""
        if dispatcher is None:
            self._dispatchers.pop(name, None)
        else:
            self._dispatchers[name] = dispatcher

    def names(self) -> list[str]:
        return list(self._functions)

    def get(self, name: str) -> FunctionRuntime:
        """The runtime of ``name``; raises FunctionNotFound."""
        try:
            return self._functions[name]
        except KeyError:
            raise FunctionNotFound(name) from None

    def async_settings(self, name: str) -> AsyncConfig:
        return self._async.get(name) or AsyncConfig()

    async def invoke(
        self,
        name: str,
        event: Any,
        *,
        wait: bool = False,
        wait_at_most: float | None = None,
        request_id: str | None = None,
        client_context: ClientContext | None = None,
    ) -> InvocationResult:
        """Invoke synchronously (RequestResponse). Raises FunctionNotFound, or Throttled
        when no concurrency is free and ``wait`` is false (or after ``wait_at_most``
        seconds of waiting). A call that waited for concurrency while a reload replaced
        the function runs on the new runtime."""
        while True:
            try:
                return await self.get(name).invoke(
                    event,
                    wait=wait,
                    wait_at_most=wait_at_most,
                    request_id=request_id,
                    client_context=client_context,
                )
            except Retired:
                continue

    async def enqueue(self, name: str, payload: bytes, *, also: Operation | None = None) -> str:
        """Accept an Event invocation durably; returns its request id once committed.

        Raises FunctionNotFound. ``payload`` must be a JSON document (callers check).
        ``also`` (a store operation) commits atomically with the event: triggers use it
        to record "announced" / "fired" so a kill -9 can neither lose nor repeat it.
        """
        self.get(name)
        request_id = str(uuid.uuid4())
        dispatcher = self._dispatchers.get(name)
        self.metrics.async_events_received.labels(name).inc()
        if dispatcher is not None:
            await dispatcher.accept(request_id, payload, also)
        else:  # not running (yet): stored, delivered when its dispatcher starts
            await self.events.add(name, request_id, payload, self.clock(), leased=False, also=also)
        return request_id
