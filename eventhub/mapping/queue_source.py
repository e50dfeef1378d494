"""A queue mapping as the hub runs it: a ``QueueSource`` connector driven by the engine.

Connectors build one of these in their source factory; it opens the connector, runs the
``QueueMapping``, keeps the queue's depth figures fresh for ``/sources`` and metrics, and
closes the connector when the mapping ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from eventhub.config.sources import QueueMappingBase
from eventhub.hubenv import HubEnv
from eventhub.mapping.queue import DeadLetterSink, QueueMapping, QueueMappingSettings
from eventhub.mapping.queue_format import QueueEventFormat
from eventhub.mapping.queue_outcome import describe_error
from eventhub.mapping.queue_stats import QueueCounters
from eventhub.runtime.result import InvocationResult
from eventhub.sources import CONNECTION_PROBLEM, QueueSource, SourceStatus, SourceUnavailable

log = structlog.get_logger("eventhub.mapping.queue")

STATS_INTERVAL = 5.0

# Lambda's LastProcessingResult values, as stream mappings report them too.
NO_RECORDS = "No records processed"
OK = "OK"
FAILED = "PROBLEM: Function call failed"


def mapping_settings(
    config: QueueMappingBase,
    env: HubEnv,
    *,
    max_receive_count: int | None = None,
) -> QueueMappingSettings:
    """The engine settings of a queue source's configuration."""
    return QueueMappingSettings(
        batch_size=config.batch_size,
        batch_window=config.batch_window,
        max_concurrency=config.max_concurrency,
        report_batch_item_failures=config.report_batch_item_failures,
        max_receive_count=max_receive_count,
        max_payload=env.loaded.config.hub.max_sync_payload,
    )


class QueueMappingSource:
    """``ManagedSource`` of one queue mapping (embedded queue or RabbitMQ)."""

    def __init__(
        self,
        name: str,
        config: Any,
        env: HubEnv,
        source: QueueSource,
        fmt: QueueEventFormat,
        settings: QueueMappingSettings,
        *,
        dead_letter_uri: str | None = None,
    ) -> None:
        self.name = name
        self._config = config
        self._env = env
        self.source = source
        self._function: str = config.function
        self._last_result = NO_RECORDS
        self._last_error: str | None = None
        self._opened = False
        self._figures: dict[str, int] = {}
        self._opening: asyncio.Future[None] | None = None
        self._stopped = False
        self.counters = QueueCounters(name, env.metrics)
        sink: DeadLetterSink | None = None
        if dead_letter_uri is not None:
            uri = dead_letter_uri

            async def sink(record: dict[str, Any]) -> bool:
                return await env.destinations.send(uri, record)

        self.mapping = QueueMapping(
            source,
            fmt,
            self._invoke,
            settings,
            counters=self.counters,
            dead_letter_sink=sink,
            name=name,
        )

    async def _invoke(self, event: dict[str, Any]) -> InvocationResult:
        result = await self._env.invoker.invoke(self._function, event, wait=True)
        if result.ok:
            self._last_result = OK
        else:
            self._last_result = FAILED
            self._last_error = describe_error(result)
        return result

    async def run(self) -> None:
        """Open the connector and run the mapping until ``stop``. Raises QueueSetupError or
        SourceUnavailable when the queue cannot be opened (the supervisor retries)."""
        try:
            self._opening = asyncio.ensure_future(self.source.open())
            try:
                await self._opening
            except asyncio.CancelledError:
                if self._stopped:
                    return  # stopped while still connecting
                raise
            self._opened = True
            refresher = asyncio.create_task(self._refresh(), name=f"queue-stats:{self.name}")
            try:
                await self.mapping.run()
            finally:
                refresher.cancel()
                await asyncio.gather(refresher, return_exceptions=True)  # ours propagates
        finally:
            await self.source.aclose()

    async def stop(self, grace: float) -> None:
        self._stopped = True
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        await self.mapping.stop(grace)

    async def _refresh(self) -> None:
        while True:
            try:
                # a broker that stops answering must not freeze the figures /sources shows
                async with asyncio.timeout(STATS_INTERVAL):
                    self._figures = await self.source.statistics()
                self.counters.depth(self._figures)
            except Exception as exc:  # noqa: BLE001 - figures are best effort
                self._figures = {}  # unknown now: show none rather than stale ones
                if not isinstance(exc, SourceUnavailable | TimeoutError):
                    log.exception("queue statistics failed", source=self.name)
            await asyncio.sleep(STATS_INTERVAL)

    def status(self) -> SourceStatus:
        detail: dict[str, Any] = dict(self.mapping.statistics()._asdict())
        detail.update(self._figures)
        detail["queue"] = self.source.queue_name
        detail["errors"] = detail["failed_invocations"]
        connected = self.source.connected
        result, error = self._last_result, self._last_error
        if self._opened and not connected:  # an outage, now
            result, error = CONNECTION_PROBLEM, self.source.problem or error
        return SourceStatus(
            name=self.name,
            type=self._config.type,
            function=self._function,
            state="running" if self._opened else "starting",
            connected=connected,
            last_result=result,
            last_error=error,
            detail=detail,
        )
