"""The worker of one shard: a bounded buffer feeding its lanes, and its checkpoint.

The mapping's fetch loop ``feed``s each shard's records in order. The worker splits them
over its lanes (all to one lane, or by partition key with ``parallelization_factor``),
pauses reads of the shard while its buffer is full and resumes them once the lanes drained
it. After every settled batch it computes the shard's checkpoint (the first unfinished
position over all lanes, or past the last record fed when all are finished) and hands it to
the mapping's committer when it moved forward.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import structlog

from eventhub.mapping.lane import Lane
from eventhub.mapping.stream_format import KEY, POSITION, SIZE, Entry, EventFormat
from eventhub.mapping.stream_settings import Ports, StreamSettings
from eventhub.mapping.stream_stats import ShardStats, StreamMetrics
from eventhub.sources import ShardInfo

log = structlog.get_logger("eventhub.mapping.stream")


class ShardHost(Protocol):
    """What a shard worker and its lanes use of the mapping that runs them."""

    name: str
    settings: StreamSettings
    format: EventFormat
    ports: Ports
    metrics: StreamMetrics

    def checkpoint(self, shard_id: str, position: int) -> None:
        """Everything before ``position`` in the shard is finished: commit it (async)."""
        ...

    def pause(self, shard_id: str) -> None: ...

    def resume(self, shard_id: str) -> None: ...

    def note_failure(self, reason: str | None) -> None:
        """A batch failed (for ``last_result`` / ``last_error``)."""
        ...

    def blocked_changed(self) -> None:
        """A lane started or stopped retrying a failing batch."""
        ...


class ShardWorker:
    """Runs the lanes of one shard until ``stop``."""

    def __init__(self, info: ShardInfo, core: ShardHost) -> None:
        self.info = info
        self.core = core
        self.stats = ShardStats(info.id)
        self.stats.checkpoint = info.start  # shown in /sources before any record arrives
        self.stopping = False
        self._stop_event = asyncio.Event()
        settings = core.settings
        self.lanes = [Lane(self, index) for index in range(settings.parallelization)]
        self._buffered_bytes = 0
        self._paused = False
        self._fed_next: int | None = None
        self._reported: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._high_records = settings.buffer_records
        self._high_bytes = settings.buffer_bytes

    def start(self, group: asyncio.TaskGroup) -> None:
        """Start the lane tasks in the mapping's task group."""
        for lane in self.lanes:
            name = f"lane:{self.core.name}:{self.info.id}:{len(self._tasks)}"
            self._tasks.append(group.create_task(lane.run(), name=name))

    # -- intake ---------------------------------------------------------------------

    def feed(self, entries: Sequence[Entry]) -> None:
        """Append the shard's next records (in order) to the lanes; pause when full."""
        if self.stopping or not entries:
            return
        lanes = self.lanes
        if len(lanes) == 1:
            lanes[0].extend(list(entries))
        else:
            count = len(lanes)
            for entry in entries:
                lanes[hash(entry[KEY]) % count].append(entry)
        if self._fed_next is None and self.stats.checkpoint is None:
            # the shard resumes here: everything before it was committed earlier
            self.stats.checkpoint = entries[0][POSITION]
        self._fed_next = entries[-1][POSITION] + 1
        self.stats.buffered += len(entries)
        self._buffered_bytes += sum(entry[SIZE] for entry in entries)
        if not self._paused and (
            self.stats.buffered >= self._high_records or self._buffered_bytes >= self._high_bytes
        ):
            self._paused = True
            self.core.pause(self.info.id)

    def unfinished(self) -> int:
        """Records fed to the lanes and not finished yet (waiting, in flight, or retried)."""
        return sum(lane.unfinished() for lane in self.lanes)

    def taken(self, count: int, size: int) -> None:
        """A lane took ``count`` buffered records into a batch; resume below half full."""
        self.stats.buffered -= count
        self._buffered_bytes -= size
        if (
            self._paused
            and self.stats.buffered <= self._high_records // 2
            and self._buffered_bytes <= self._high_bytes // 2
        ):
            self._paused = False
            self.core.resume(self.info.id)

    # -- progress -------------------------------------------------------------------

    def finished(self, entries: list[Entry], matched: int, result: str) -> None:
        """A lane finished ``entries`` (``matched`` of them invocable) with ``result``."""
        stats = self.stats
        filtered = len(entries) - matched
        stats.filtered += filtered
        if result in ("success", "partial"):
            stats.records += matched
        elif result == "given_up":
            stats.given_up += matched
        if matched:
            stats.batches += 1
            self.core.metrics.batch(result, matched)
        if filtered:
            self.core.metrics.batch("filtered", filtered)
        self.progress()

    def progress(self) -> None:
        """Hand the checkpoint to the committer if it moved forward."""
        firsts = [p for lane in self.lanes if (p := lane.first_unfinished()) is not None]
        candidate = min(firsts) if firsts else self._fed_next
        if candidate is None or (self._reported is not None and candidate <= self._reported):
            return
        self._reported = candidate
        self.stats.checkpoint = candidate
        self.core.checkpoint(self.info.id, candidate)
        if not firsts:
            self.observe_age(0)

    def observe_age(self, age_ms: int) -> None:
        """Iterator age: how old the last record of the batch being invoked is."""
        age = max(0, age_ms)
        self.stats.iterator_age_ms = age
        self.core.metrics.iterator_age(self.info.id, age)

    # -- stopping ---------------------------------------------------------------------

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when the worker is (or gets) stopped."""
        if self.stopping:
            return False
        if seconds <= 0:
            await asyncio.sleep(0)
            return not self.stopping
        try:
            async with asyncio.timeout(seconds):
                await self._stop_event.wait()
        except TimeoutError:
            return not self.stopping
        return False

    async def stop(self, grace: float) -> None:
        """Stop taking batches; let in-flight ones settle within ``grace``; cancel the rest.

        What settled is checkpointed (through the host); nothing unsettled is."""
        self.stopping = True
        self._stop_event.set()
        for lane in self.lanes:
            lane.wake.set()
        tasks = [task for task in self._tasks if not task.done()]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            log.warning(
                "in-flight batch abandoned after the grace period",
                source=self.core.name,
                shard=self.info.id,
                grace=grace,
            )
            await asyncio.wait(late)
