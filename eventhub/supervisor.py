"""Keeps one source running: restarts it with capped exponential backoff and jitter,
pauses and resumes it (enable/disable), and stops it within a grace period."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import structlog

from eventhub.sources import ManagedSource, SourceStatus

log = structlog.get_logger("eventhub.supervisor")

BACKOFF_START = 0.5
BACKOFF_CAP = 30.0


class Supervisor:
    """Runs fresh instances from ``factory`` until stopped; a failure never escapes."""

    def __init__(
        self,
        name: str,
        kind: str,
        function: str,
        factory: Callable[[], ManagedSource],
        *,
        enabled: bool = True,
    ) -> None:
        self.name = name
        self._kind = kind
        self._function = function
        self._factory = factory
        self._enabled = enabled
        self._source: ManagedSource | None = None
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._toggling = asyncio.Lock()
        self._failures = 0
        self._last_error: str | None = None
        self._state = "starting" if enabled else "disabled"

    @property
    def enabled(self) -> bool:
        return self._enabled

    async def run(self) -> None:
        """Serve until ``stop``; returns normally."""
        while not self._stopping.is_set():
            if not self._enabled:
                self._state = "disabled"
                await self._wait_for_change()
                continue
            await self._run_once()

    async def _run_once(self) -> None:
        try:
            source = self._source = self._factory()
            self._state = "running"
            await source.run()
            self._failures = 0
            # Stopped by us (disable, stop) unless it is still the current instance.
            if self._source is source and not self._stopping.is_set():
                raise RuntimeError("source stopped on its own")  # noqa: TRY301 - same path as a crash
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is answered by a restart
            self._failures += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            delay = min(BACKOFF_CAP, BACKOFF_START * 2 ** (self._failures - 1))
            delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not crypto
            self._state = "backoff"
            log.warning(
                "source failed; restarting",
                source=self.name,
                error=self._last_error,
                delay=round(delay, 2),
            )
            await self._wait_for_change(within=delay)

    async def _wait_for_change(self, within: float | None = None) -> None:
        self._changed.clear()
        waiters = {
            asyncio.ensure_future(self._changed.wait()),
            asyncio.ensure_future(self._stopping.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def stop(self, grace: float) -> None:
        """Stop the running instance within ``grace`` seconds; ``run`` then returns."""
        self._stopping.set()
        self._changed.set()
        await self._stop_source(grace)
        self._state = "stopped"

    async def set_enabled(self, enabled: bool, grace: float) -> None:
        """Disable: drain and stop the instance (checkpoints kept). Enable: start anew."""
        async with self._toggling:  # a second request waits until the first one is done
            if enabled == self._enabled:
                return
            self._enabled = enabled
            if not enabled:
                await self._stop_source(grace)
            self._state = "starting" if enabled else "disabled"
            self._changed.set()

    async def _stop_source(self, grace: float) -> None:
        source, self._source = self._source, None
        if source is not None:
            try:
                await source.stop(grace)
            except Exception:  # noqa: BLE001 - stopping must go on for the others
                log.exception("stopping source failed", source=self.name)

    def status(self) -> SourceStatus:
        """The instance's status, with the supervisor's view of its state."""
        if self._source is not None:
            status = self._source.status()
        else:
            status = SourceStatus(self.name, self._kind, self._function)
        if self._state != "running":
            status.state = self._state
            status.connected = status.connected and self._state == "running"
        if self._last_error and status.last_error is None:
            status.last_error = self._last_error
        status.detail.setdefault("restarts", self._failures)
        return status
