"""Committing shard checkpoints: coalesced, in order, shielded from cancellation.

Lanes ``mark`` a shard's checkpoint after each settled batch; one committer task writes the
latest marks of all shards in one call to the source (a SQLite transaction, a Kafka
OffsetCommit). Commits run under ``asyncio.shield``: cancelling the mapping never leaves a
commit half done, and a commit that failed is retried with backoff (a newer mark of the same
shard replaces it). Marks only ever move forward, so commits are at-least-once: a crash
replays at most what was marked after the last commit, and never skips a record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping

import structlog

from eventhub.sources import SourceUnavailable

log = structlog.get_logger("eventhub.mapping.checkpoints")

Commit = Callable[[Mapping[str, int]], Awaitable[None]]


class Committer:
    """Coalesces checkpoint marks into commits. ``run`` is its task; ``flush`` waits."""

    def __init__(
        self,
        commit: Commit,
        *,
        retry_delay: float = 0.5,
        max_delay: float = 10.0,
        source: str = "",
    ) -> None:
        self._commit = commit
        self._source = source  # for log lines
        self._pending: dict[str, int] = {}
        self._dropped: set[str] = set()  # shards dropped while a commit was in flight
        self._version = 0
        self._committed_version = 0
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._retry_delay = retry_delay
        self._max_delay = max_delay
        self.committed: dict[str, int] = {}
        self.failures = 0

    def mark(self, shard_id: str, position: int) -> None:
        """Everything before ``position`` in ``shard_id`` is finished."""
        self._pending[shard_id] = position
        self._version += 1
        self._wake.set()

    def drop(self, shard_ids: Iterable[str]) -> None:
        """Forget marks of shards that are no longer ours (after a revoke)."""
        for shard_id in shard_ids:
            self._pending.pop(shard_id, None)
            self.committed.pop(shard_id, None)
            self._dropped.add(shard_id)

    async def run(self) -> None:
        """Commit marks as they come, until cancelled."""
        delay = self._retry_delay
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                await self._settled(self._version)
                continue
            snapshot, target = self._pending, self._version
            self._pending = {}
            self._dropped.clear()
            try:
                await asyncio.shield(self._commit(snapshot))
            except SourceUnavailable as exc:
                self.failures += 1
                log.warning(
                    "checkpoint commit failed; retrying",
                    source=self._source,
                    error=str(exc),
                    delay=delay,
                )
                # A shard revoked meanwhile may come back with a new position (or to a
                # broker that lost its log): its old mark must not be retried then.
                for shard_id, position in snapshot.items():
                    if shard_id not in self._dropped:
                        self._pending.setdefault(shard_id, position)
                await asyncio.sleep(delay)
                delay = min(self._max_delay, delay * 2)
                self._wake.set()
                continue
            delay = self._retry_delay
            self.committed.update(
                (shard, position)
                for shard, position in snapshot.items()
                if shard not in self._dropped
            )
            await self._settled(target)

    async def _settled(self, version: int) -> None:
        async with self._progress:
            self._committed_version = max(self._committed_version, version)
            self._progress.notify_all()

    async def flush(self, within: float) -> bool:
        """Wait until every mark made so far is committed; False after ``within`` seconds
        (the marks stay pending and the committer keeps trying)."""
        target = self._version
        if self._committed_version >= target and not self._pending:
            return True
        self._wake.set()
        try:
            async with asyncio.timeout(within):
                async with self._progress:
                    await self._progress.wait_for(lambda: self._committed_version >= target)
        except TimeoutError:
            return False
        return True
