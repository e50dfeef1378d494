"""What a running source depends on, so that a reload restarts exactly the sources whose
behaviour would change and leaves every other one running untouched.

A source instance reads some settings once, when it is built and opened (its own entry,
its broker connection, the shard count of its stream...), and others live from
``env.loaded`` (queue visibility timeouts and redrive policies, the function behind a
name, hub settings of requests). Only the first kind belongs in its signature: two equal
signatures mean the running instance would behave exactly as a new one.
"""

from __future__ import annotations

from typing import Any

from eventhub.config.loader import LoadedConfig
from eventhub.config.sources import (
    KafkaSourceConfig,
    QueueSourceConfig,
    RabbitMQSourceConfig,
    StreamSourceConfig,
)


def source_signature(loaded: LoadedConfig, name: str) -> tuple[Any, ...]:
    """Everything source ``name`` reads when it starts; equal signatures keep it running.

    Not in it, on purpose: the function's settings (sources invoke by name and always reach
    the current runtime), ``description`` (free text), settings the source reads at use
    time (embedded queues' visibility timeout and redrive, the retention of a stream), and
    ``hub.state_dir`` (the store is opened once per process: changing it needs a restart).
    """
    config = loaded.config
    source = config.sources[name]
    hub = config.hub
    deps: list[Any] = [
        source.model_copy(update={"description": ""}),
        hub.region,  # ARNs of events and records
        hub.account_id,
    ]
    if isinstance(source, StreamSourceConfig):
        stream = config.streams.get(source.stream)
        deps.append(None if stream is None else stream.shards)  # shards are assigned at open
    elif isinstance(source, KafkaSourceConfig | RabbitMQSourceConfig):
        deps.append(config.connections.get(source.connection))
    if isinstance(source, QueueSourceConfig):
        queue = config.queues.get(source.queue)
        deps.append(None if queue is None else queue.fifo)  # FIFO groups are set up at open
    if isinstance(source, QueueSourceConfig | RabbitMQSourceConfig):
        deps.append(hub.max_sync_payload)  # the batch payload cap of the queue engine
    return tuple(deps)
