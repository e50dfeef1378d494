"""Building a ``StreamMapping`` from a ``stream`` or ``kafka`` source's configuration.

The connectors' factories call ``build_stream_mapping`` with their ``StreamSource``; this is
where config values become engine settings and the hub's invoker and destinations become
the engine's ports.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from eventhub.config.sources import StreamMappingBase
from eventhub.functions import function_arn
from eventhub.hubenv import HubEnv
from eventhub.mapping.filters import FilterSet
from eventhub.mapping.retry import RetryPolicy
from eventhub.mapping.stream import StreamMapping
from eventhub.mapping.stream_format import EventFormat, FormatContext, KafkaFormat, KinesisFormat
from eventhub.mapping.stream_settings import Ports, StreamSettings
from eventhub.mapping.stream_stats import StreamMetrics
from eventhub.runtime.result import InvocationResult
from eventhub.sources import StartingPosition, StreamSource


def starting_position(config: StreamMappingBase) -> StartingPosition:
    """The configured starting position (naive timestamps are UTC)."""
    moment = config.starting_timestamp
    if moment is None:
        return StartingPosition(config.starting_position)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return StartingPosition(config.starting_position, moment.timestamp())


def stream_settings(config: StreamMappingBase, grace: float) -> StreamSettings:
    """Engine settings from validated config values."""
    return StreamSettings(
        function=config.function,
        batch_size=config.batch_size,
        batch_window=config.batch_window,
        parallelization=config.parallelization_factor,
        report_batch_item_failures=config.report_batch_item_failures,
        tumbling_window=config.tumbling_window,
        retry=RetryPolicy(
            max_retry_attempts=config.max_retry_attempts,
            max_record_age=config.max_record_age,
            bisect=config.bisect_on_error,
            base_delay=config.retry_base_delay,
            max_delay=config.retry_max_delay,
        ),
        on_failure=config.on_failure,
        revoke_grace=grace,
    )


def build_stream_mapping(
    name: str,
    kind: str,
    config: StreamMappingBase,
    source: StreamSource,
    env: HubEnv,
    *,
    event_format: str,
    bootstrap_servers: str = "",
) -> StreamMapping:
    """The mapping of source ``name`` reading ``source``."""
    hub = env.loaded.config.hub
    context = FormatContext(
        region=hub.region,
        account_id=hub.account_id,
        function_arn=function_arn(hub.region, hub.account_id, config.function),
        filters=FilterSet(config.filters) if config.filters else None,
        bootstrap_servers=bootstrap_servers,
    )
    shape: EventFormat
    shape = KinesisFormat(context) if event_format == "kinesis" else KafkaFormat(context)
    function = config.function
    invoker = env.invoker

    async def invoke(event: Any) -> InvocationResult:
        return await invoker.invoke(function, event, wait=True)

    on_failure = config.on_failure
    destinations = env.destinations

    async def deliver(record: dict[str, Any]) -> bool:
        assert on_failure is not None  # noqa: S101 - only wired when configured
        return await destinations.send(on_failure, record)

    ports = Ports(invoke=invoke, deliver_failure=deliver if on_failure else None)
    settings = stream_settings(config, hub.shutdown_grace)
    metrics = StreamMetrics(env.metrics, name)
    return StreamMapping(name, kind, settings, source, shape, ports, metrics)
