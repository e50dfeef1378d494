"""FIFO message groups: at most one batch in flight per group within a mapping."""

from __future__ import annotations

import asyncio
from collections.abc import Collection


class GroupGate:
    """Admits a batch once none of its message groups is held by another batch.

    The embedded FIFO queue already hides a group while any of its messages is in flight;
    the gate also covers a slow batch that outlives its visibility timeout so that the
    group's messages are received again: the new batch waits for the old one to end, and
    one group is never handled by two batches at once.
    """

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._changed = asyncio.Event()

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    async def acquire(self, groups: Collection[str]) -> None:
        """Wait until no group in ``groups`` is held, then hold them all (cancel-safe)."""
        while not self._held.isdisjoint(groups):
            await self._changed.wait()
        self._held.update(groups)

    def release(self, groups: Collection[str]) -> None:
        """Let the next batch of these groups in."""
        self._held.difference_update(groups)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
