"""Building and caching destinations from their URIs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from eventhub import registry
from eventhub.config.destinations import DestinationRef, parse_destination
from eventhub.sources import Destination, DestinationError

if TYPE_CHECKING:
    from eventhub.config.loader import LoadedConfig
    from eventhub.invoke.invoker import Invoker
    from eventhub.store.db import Store

log = structlog.get_logger("eventhub.destinations")

RETIRE_AFTER = 30.0  # seconds a replaced destination stays open for sends in progress


@dataclass(frozen=True, slots=True)
class DestinationContext:
    """What destination factories may need: the config (paths, connections), the
    invoker (``function:``) and the store (``queue:``, ``stream:``)."""

    loaded: LoadedConfig
    invoker: Invoker
    store: Store


class FunctionDestination:
    """``function:NAME``: the record becomes an Event invocation of another function."""

    def __init__(self, invoker: Invoker, function: str) -> None:
        self._invoker = invoker
        self._function = function

    @classmethod
    def from_ref(cls, ref: DestinationRef, context: DestinationContext) -> FunctionDestination:
        return cls(context.invoker, ref.target)

    async def send(self, record: Any) -> None:
        try:
            await self._invoker.enqueue(self._function, json.dumps(record).encode())
        except LookupError as exc:
            raise DestinationError(str(exc)) from exc

    async def aclose(self) -> None:
        return None


class DestinationPool:
    """One destination object per URI, created on first use (a broker that is down does
    not stop the hub from starting) and shared by everything that sends there."""

    def __init__(self, context: DestinationContext) -> None:
        self.context = context
        self._destinations: dict[str, Destination] = {}
        self._lock = asyncio.Lock()
        self._retired: dict[Destination, asyncio.Task[None]] = {}

    def reconfigure(self, context: DestinationContext) -> None:
        """Use a reloaded configuration. Destinations whose settings changed (the broker
        connection of ``kafka:`` / ``rabbitmq:``, the stream of ``stream:``) are built anew
        on next use; the old ones are closed once sends in progress had time to finish
        (``RETIRE_AFTER``)."""
        old, self.context = self.context, context
        for uri, destination in list(self._destinations.items()):
            if _settings(old, uri) != _settings(context, uri):
                del self._destinations[uri]
                task = asyncio.get_running_loop().create_task(self._close_later(destination))
                self._retired[destination] = task

    async def _close_later(self, destination: Destination) -> None:
        await asyncio.sleep(RETIRE_AFTER)
        self._retired.pop(destination, None)
        await _close(destination)

    async def get(self, uri: str) -> Destination:
        """The destination for ``uri``; raises DestinationError if it cannot be built."""
        found = self._destinations.get(uri)
        if found is not None:
            return found
        async with self._lock:
            found = self._destinations.get(uri)
            if found is None:
                found = self._build(parse_destination(uri))
                self._destinations[uri] = found
            return found

    def _build(self, ref: DestinationRef) -> Destination:
        path = registry.DESTINATIONS.get(ref.kind)
        if path is None:
            raise DestinationError(f"{ref.kind}: destinations are not available in this build")
        factory = registry.load(path)
        destination: Destination = factory.from_ref(ref, self.context)
        return destination

    async def send(self, uri: str, record: Any, *, attempts: int = 3, delay: float = 0.5) -> bool:
        """Deliver with a few quick retries; False (and logged) when it could not."""
        for attempt in range(1, attempts + 1):
            try:
                destination = await self.get(uri)
                await destination.send(record)
            except DestinationError as exc:
                log.warning(
                    "destination delivery failed",
                    destination=_safe(uri),
                    attempt=attempt,
                    error=str(exc),
                )
            else:
                return True
            if attempt < attempts:
                await asyncio.sleep(delay * 2 ** (attempt - 1))
        return False

    async def aclose(self) -> None:
        destinations, self._destinations = list(self._destinations.values()), {}
        retired, self._retired = self._retired, {}
        for task in retired.values():
            task.cancel()
        for destination in [*destinations, *retired]:
            await _close(destination)


async def _close(destination: Destination) -> None:
    try:
        await destination.aclose()
    except Exception:  # noqa: BLE001 - close the others whatever happens
        log.exception("closing destination failed")


def _settings(context: DestinationContext, uri: str) -> object:
    """What a destination reads from the configuration it was built with."""
    ref = parse_destination(uri)
    config = context.loaded.config
    if ref.kind in ("kafka", "rabbitmq"):
        return config.connections.get(ref.target)
    if ref.kind == "stream":
        return config.streams.get(ref.target)
    return None  # file paths resolve against the same directory; queues are read live


def _safe(uri: str) -> str:
    """A URI for logs: no credentials."""
    if "@" in uri and "://" in uri:
        scheme, _, rest = uri.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return uri
