"""Concurrency caps: reserved concurrency per function, or the shared account pool."""

from __future__ import annotations

import asyncio
from collections import deque


class Limiter:
    """A counting limit whose size can change at runtime (on reload).

    ``try_acquire`` never waits (sync invokes get 429 instead); ``acquire`` waits in
    FIFO order (async events and polled batches wait for capacity).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_use(self) -> int:
        return self._in_use

    def resize(self, limit: int) -> None:
        """Change the cap; waiters are admitted if there is room now."""
        self._limit = limit
        self._wake()

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody is queued before us."""
        if self._in_use < self._limit and not self._waiters:
            self._in_use += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting as long as it takes (cancellation-safe)."""
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # admitted just as we were cancelled: give the slot back
            elif waiter in self._waiters:  # _wake may already have dropped it as done
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self._in_use -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_use < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)
