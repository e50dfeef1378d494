"""Lazy registry of connectors by import path, so importing eventhub pulls in no broker client."""

from __future__ import annotations

import importlib
from typing import Any

# sources: type -> "module:Factory"; ``Factory(name, config, env: HubEnv) -> ManagedSource``.
SOURCES: dict[str, str] = {
    "queue": "connectors.queue:source",
    "rabbitmq": "connectors.rabbitmq:source",
}

# embedded services started with the hub: name -> "module:Class"; ``Class() -> Service``.
SERVICES: dict[str, str] = {
    "queues": "connectors.queue_service:EmbeddedQueues",
}

# destinations: URI scheme -> "module:Class" with ``from_ref(ref, context)``.
DESTINATIONS: dict[str, str] = {
    "file": "connectors.file:FileDestination",
    "http": "connectors.webhook:HttpDestination",
    "function": "eventhub.invoke.destinations:FunctionDestination",
    "queue": "connectors.queue:QueueDestination",
    "rabbitmq": "connectors.rabbitmq_destination:RabbitMQDestination",
}


def load(path: str) -> Any:
    """Import ``module:attribute``."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
