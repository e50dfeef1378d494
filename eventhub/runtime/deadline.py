"""Time limits for awaits on the per-invocation hot path.

Every invocation of an ``async def`` handler needs a timeout. ``asyncio.timeout`` (or a
timer handle of one's own) costs a heap push and a cancelled handle per invocation;
here deadlines are rounded up to the next ``GRANULARITY`` and share one timer per
slot, so an invocation costs a dict lookup and a set insertion. A timeout therefore
fires up to 10 ms late, which Lambda's own timeouts do not beat either. The
cancellation bookkeeping (``uncancel``) follows asyncio.timeout's so an outer
cancellation (shutdown) is never mistaken for a timeout.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

GRANULARITY = 0.01


class Expiry:
    """One armed deadline; ``expired`` tells a timeout from an outer cancellation."""

    __slots__ = ("expired", "slot", "task")

    def __init__(self, task: asyncio.Task[object], slot: int) -> None:
        self.task = task
        self.slot = slot
        self.expired = False


class DeadlineWheel:
    """Deadlines of one event loop, grouped in slots of ``GRANULARITY`` seconds."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots: dict[int, set[Expiry]] = {}

    def arm(self, task: asyncio.Task[object], budget: float) -> Expiry:
        """Cancel ``task`` once ``budget`` seconds have passed, unless disarmed first."""
        slot = math.ceil((self._loop.time() + budget) / GRANULARITY)
        expiries = self._slots.get(slot)
        if expiries is None:
            expiries = self._slots[slot] = set()
            self._loop.call_at(slot * GRANULARITY, self._fire, slot)
        expiry = Expiry(task, slot)
        expiries.add(expiry)
        return expiry

    def disarm(self, expiry: Expiry) -> None:
        expiries = self._slots.get(expiry.slot)
        if expiries is not None:
            expiries.discard(expiry)

    def _fire(self, slot: int) -> None:
        for expiry in self._slots.pop(slot, ()):
            expiry.expired = True
            expiry.task.cancel()


_wheels: dict[asyncio.AbstractEventLoop, DeadlineWheel] = {}


def wheel() -> DeadlineWheel:
    """The running loop's wheel."""
    loop = asyncio.get_running_loop()
    found = _wheels.get(loop)
    if found is None:
        for stale in [known for known in _wheels if known.is_closed()]:
            del _wheels[stale]
        found = _wheels[loop] = DeadlineWheel(loop)
    return found


async def run_within(awaitable: Awaitable[T], budget: float) -> T:
    """Await ``awaitable``; if ``budget`` seconds pass first it is cancelled and
    TimeoutError is raised. A cancellation from outside propagates unchanged."""
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - always inside a task under asyncio
        raise RuntimeError("run_within needs a running task")
    deadlines = wheel()
    expiry = deadlines.arm(task, budget)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if expiry.expired and task.uncancel() == 0:
            raise TimeoutError from None
        raise
    finally:
        deadlines.disarm(expiry)
