"""The ordered-shard engine: one stream event source mapping (embedded stream or Kafka).

``StreamMapping`` is the ``ManagedSource`` the hub runs for a ``stream`` or ``kafka``
source. It opens a ``StreamSource`` (the connector), runs one ``ShardWorker`` per shard it
is assigned, feeds them from a single fetch loop, and commits checkpoints through a
``Committer``. Semantics (ordering, batching, retries, bisect, partial responses, on-failure
records, tumbling windows, filters) live in the shard workers and their lanes; connectors
only move bytes.

Stopping (``stop(grace)``, a Kafka revoke, or a lost connection) happens in stages: stop
fetching, let in-flight batches settle within the grace period, cancel the rest, commit
what settled, close the connector.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import structlog

from eventhub.mapping.checkpoints import Committer
from eventhub.mapping.shard import ShardWorker
from eventhub.mapping.stream_format import EventFormat
from eventhub.mapping.stream_settings import Ports, StreamSettings
from eventhub.mapping.stream_stats import (
    ShardStats,
    StreamMetrics,
    StreamStatistics,
    retire,
    snapshot,
)
from eventhub.sources import (
    CONNECTION_PROBLEM,
    RecordBuilder,
    ShardInfo,
    SourceStatus,
    SourceUnavailable,
    StreamSource,
)

log = structlog.get_logger("eventhub.mapping.stream")

FETCH_WAIT = 1.0
COMMIT_FLUSH_TIMEOUT = 10.0


class StreamMapping:
    """Runs one stream mapping until stopped; implements ``ManagedSource`` and
    ``ShardListener``. A new instance is made for every (re)start."""

    def __init__(
        self,
        name: str,
        kind: str,
        settings: StreamSettings,
        source: StreamSource,
        event_format: EventFormat,
        ports: Ports,
        metrics: StreamMetrics,
    ) -> None:
        self.name = name
        self.kind = kind
        self.settings = settings
        self.format = event_format
        self.ports = ports
        self.metrics = metrics
        self._source = source
        self._committer = Committer(
            source.commit, retry_delay=settings.commit_retry_delay, source=name
        )
        self._workers: dict[str, ShardWorker] = {}
        self._retired = ShardStats("")
        self._group: asyncio.TaskGroup | None = None
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._started = False
        self._grace = settings.revoke_grace
        self._failure: SourceUnavailable | None = None
        self._opened = False
        self._last_result = "No records processed"
        self._last_error: str | None = None
        self._state = "starting"

    # -- ManagedSource ---------------------------------------------------------------

    async def run(self) -> None:
        """Serve until ``stop``; raises SourceUnavailable if the source fails."""
        self._started = True
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                committer = group.create_task(self._committer.run(), name=f"commit:{self.name}")
                await self._serve(group)
                committer.cancel()
        finally:
            self._group = None
            self._state = "stopped"
            try:
                await self._source.close()
            finally:  # whatever close raised, ``stop`` must not wait for us forever
                self._finished.set()
        if self._failure is not None:
            raise self._failure

    async def _serve(self, group: asyncio.TaskGroup) -> None:
        try:
            await self._source.open(self)
        except SourceUnavailable as exc:
            self._failure = exc
            self._last_error = str(exc)
            return
        self._opened = True
        self._state = "running"
        fetcher = group.create_task(self._fetch_loop(), name=f"fetch:{self.name}")
        await self._stopping.wait()
        fetcher.cancel()
        failed = self._failure is not None
        await self._stop_workers(list(self._workers), 0.0 if failed else self._grace, failed)

    async def stop(self, grace: float) -> None:
        """Stop fetching, let in-flight batches settle within ``grace``, commit, return."""
        self._grace = grace
        self._stopping.set()
        if self._started:
            await self._finished.wait()

    def status(self) -> SourceStatus:
        stats = self.statistics()
        connected = self._opened and self._failure is None and self._source.connected
        result, error = self._last_result, self._last_error
        if self._opened and self._failure is None and not connected:  # an outage, now
            result, error = CONNECTION_PROBLEM, self._source.problem or error
        return SourceStatus(
            name=self.name,
            type=self.kind,
            function=self.settings.function,
            state=self._state,
            connected=connected,
            last_result=result,
            last_error=error,
            detail=stats.detail(),
        )

    def statistics(self) -> StreamStatistics:
        """Totals and per-shard counters: iterator age, lag, batches, retries, blocked.

        A shard's lag counts every record not processed yet: those the source still holds
        and those fed to the shard's lanes and not finished (a blocked batch included)."""
        return snapshot(
            [
                (worker.stats, _plus(self._source.lag(shard), worker.unfinished()))
                for shard, worker in self._workers.items()
            ],
            self._retired,
        )

    # -- ShardListener ---------------------------------------------------------------

    def assigned(self, shards: Sequence[ShardInfo]) -> Mapping[str, RecordBuilder]:
        group = self._group
        if group is None:
            raise RuntimeError("shards assigned to a mapping that is not running")
        builders: dict[str, RecordBuilder] = {}
        for shard in shards:
            worker = ShardWorker(shard, self)
            worker.start(group)
            self._workers[shard.id] = worker
            builders[shard.id] = self.format.builder(shard)
        log.info("shards assigned", source=self.name, shards=[s.id for s in shards])
        return builders

    async def revoked(self, shard_ids: Sequence[str]) -> None:
        ids = [shard_id for shard_id in shard_ids if shard_id in self._workers]
        if not ids:
            return
        await self._stop_workers(ids, self._grace)
        log.info("shards revoked", source=self.name, shards=ids)

    async def _stop_workers(self, shard_ids: list[str], grace: float, failed: bool = False) -> None:
        workers = [self._workers[shard_id] for shard_id in shard_ids]
        await asyncio.gather(*(worker.stop(grace) for worker in workers))
        if not await self._committer.flush(1.0 if failed else COMMIT_FLUSH_TIMEOUT):
            log.warning("checkpoints not committed before stopping", source=self.name)
        self._committer.drop(shard_ids)
        for shard_id in shard_ids:
            worker = self._workers.pop(shard_id, None)
            if worker is not None:
                retire(self._retired, worker.stats)
            self.metrics.forget(shard_id)
        self.blocked_changed()

    # -- the fetch loop ------------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        source, workers = self._source, self._workers
        try:
            while True:
                fetched = await source.fetch(FETCH_WAIT)
                for shard_id, entries in fetched.items():
                    worker = workers.get(shard_id)
                    if worker is not None:
                        worker.feed(entries)
        except SourceUnavailable as exc:
            log.warning("stream source failed", source=self.name, error=str(exc))
            self._failure = exc
            self._last_error = str(exc)
            self._stopping.set()

    # -- ShardHost -----------------------------------------------------------------------

    def checkpoint(self, shard_id: str, position: int) -> None:
        self._committer.mark(shard_id, position)
        if self._last_result == "No records processed":
            self._last_result = "OK"

    def pause(self, shard_id: str) -> None:
        self._source.pause(shard_id)

    def resume(self, shard_id: str) -> None:
        self._source.resume(shard_id)

    def note_failure(self, reason: str | None) -> None:
        self._last_result = "PROBLEM: Function call failed"
        self._last_error = reason

    def blocked_changed(self) -> None:
        blocked = sum(1 for worker in self._workers.values() if worker.stats.blocked_lanes)
        self.metrics.blocked_shards(blocked)
        if not blocked and self._last_result.startswith("PROBLEM"):
            self._last_result = "OK"


def _plus(unread: int | None, unfinished: int) -> int | None:
    return None if unread is None else unread + unfinished
