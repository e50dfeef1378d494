"""What the aiohttp applications share with the hub, under typed app keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from eventhub.config.models import FunctionConfig, HubConfig
from eventhub.invoke.invoker import Invoker

# An AWS JSON-protocol operation: ``X-Amz-Target`` value -> handler of the request.
TargetHandler = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]
# Requests no built-in route matched (HTTP sources plug in here).
Fallback = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


@dataclass
class MainContext:
    """State of the main listener. ``hub`` is read live: reload swaps it."""

    invoker: Invoker
    hub: Callable[[], HubConfig]
    functions: Callable[[], Mapping[str, FunctionConfig]] = dict
    targets: dict[str, TargetHandler] = field(default_factory=dict)
    fallbacks: list[Fallback] = field(default_factory=list)


MAIN = web.AppKey("eventhub_main", MainContext)
