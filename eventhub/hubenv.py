"""What the hub hands to source factories and embedded services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from eventhub.api.state import MainContext
from eventhub.config.loader import LoadedConfig
from eventhub.invoke.destinations import DestinationPool
from eventhub.invoke.invoker import Invoker
from eventhub.metrics import Metrics
from eventhub.store.db import Store


@dataclass
class HubEnv:
    """The hub's shared parts. ``loaded`` is replaced on reload; read it at use time."""

    loaded: LoadedConfig
    invoker: Invoker
    store: Store
    destinations: DestinationPool
    metrics: Metrics
    main: MainContext
    services: dict[str, Any] = field(default_factory=dict)


class Service(Protocol):
    """A hub-wide embedded service (the embedded streams, the embedded queues): started
    before sources, told about every reload, closed after sources stopped."""

    async def start(self, env: HubEnv) -> None: ...

    async def reconfigure(self, env: HubEnv) -> None: ...

    async def aclose(self) -> None: ...
