"""Lazy registry of connectors by import path, so importing eventhub pulls in no broker client."""

from __future__ import annotations

import importlib
from typing import Any

# sources: type -> "module:Factory"; ``Factory(name, config, env: HubEnv) -> ManagedSource``.
SOURCES: dict[str, str] = {
    "stream": "connectors.stream:stream_source",
    "kafka": "connectors.kafka:kafka_source",
    "http": "connectors.http:HttpSource",
    "files": "connectors.files:FilesSource",
    "schedule": "connectors.schedule:ScheduleSource",
    "queue": "connectors.queue:queue_source",
    "rabbitmq": "connectors.rabbitmq:rabbitmq_source",
}

# embedded services started with the hub: name -> "module:Class"; ``Class() -> Service``.
SERVICES: dict[str, str] = {
    "streams": "connectors.stream_service:EmbeddedStreams",
    "http-routes": "connectors.http:HttpRouter",  # the route table of `http` sources
    "queues": "connectors.queue_service:EmbeddedQueues",
}

# destinations: URI scheme -> "module:Class" with ``from_ref(ref, context)``.
DESTINATIONS: dict[str, str] = {
    "file": "connectors.file:FileDestination",
    "http": "connectors.webhook:HttpDestination",
    "function": "eventhub.invoke.destinations:FunctionDestination",
    "stream": "connectors.stream_destination:StreamDestination",
    "kafka": "connectors.kafka_destination:KafkaDestination",
    "queue": "connectors.queue:QueueDestination",
    "rabbitmq": "connectors.rabbitmq_destination:RabbitMQDestination",
}


def load(path: str) -> Any:
    """Import ``module:attribute``."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
