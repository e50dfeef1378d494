"""The process runtime: each function gets a warm pool of worker processes.

A worker is one execution environment, as in Lambda: it imports the handler on its
first invocation (cold start, Init Duration), then serves one invocation at a time
(warm). The pool grows on demand up to ``spec.max_concurrency`` workers and keeps idle
ones warm; beyond the most recently used one, a worker idle for ``idle_ttl`` seconds is
stopped. A worker that times out, crashes, fails to init or runs out of memory is
killed and dropped; the next invocation starts a fresh one (a cold start).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from eventhub.runtime.context import LambdaContext
from eventhub.runtime.environment import EnvironmentSpec, HandlerReturn
from eventhub.runtime.errors import InitError, InvocationFailure
from eventhub.runtime.logcapture import InvocationLog
from eventhub.runtime.marshal import to_json
from eventhub.runtime.process_protocol import context_data
from eventhub.runtime.process_worker import (
    HandlerFailed,
    OutOfMemory,
    UnmarshalError,
    WorkerProcess,
    WorkerSettings,
)

log = structlog.get_logger("eventhub.runtime.process")


class EnvironmentClosed(InvocationFailure):  # noqa: N818 - an outcome, like its siblings
    """The function's environment was shut down (daemon stopping or function replaced)."""


class ProcessEnvironment:
    """One function's handler, run in a pool of worker processes (see the module docstring).

    ``invoke`` raises ``InitError``, ``InvocationTimeout``, ``RuntimeExit``,
    ``OutOfMemory``, ``MarshalError``, ``UnmarshalError``, ``HandlerFailed`` (the
    handler's own exception, as its error document) or ``EnvironmentClosed``.
    """

    def __init__(self, spec: EnvironmentSpec, settings: WorkerSettings | None = None) -> None:
        self.spec = spec
        self.settings = settings or WorkerSettings()
        self._slots = asyncio.Semaphore(max(1, spec.max_concurrency))
        self._idle: list[WorkerProcess] = []  # most recently used last
        self._workers: set[WorkerProcess] = set()
        self._retiring: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (busy or idle)."""
        return sorted(worker.pid for worker in self._workers)

    async def invoke(
        self, event: Any, context: LambdaContext, log: InvocationLog, budget: float
    ) -> HandlerReturn:
        request_id = context.aws_request_id
        try:
            body = to_json(event)
        except (TypeError, ValueError) as exc:
            raise UnmarshalError(f"Unable to marshal the event as JSON: {exc}") from None
        header = {"t": "invoke", "id": request_id, "context": context_data(context, budget)}
        async with self._slots:
            worker = self._take() or await self._spawn(request_id)
            try:
                return await worker.invoke(header, body, log, budget, self.settings.init_timeout)
            finally:
                self._give_back(worker)

    def _take(self) -> WorkerProcess | None:
        if self._closed:
            raise EnvironmentClosed(f"function {self.spec.function} is shut down")
        while self._idle:
            worker = self._idle.pop()
            if worker.usable:
                return worker
        return None

    async def _spawn(self, request_id: str) -> WorkerProcess:
        try:
            worker = await WorkerProcess.start(self.spec, self.settings, self._exited)
        except OSError as exc:
            raise InitError(
                "Runtime.ImportModuleError",
                f"Unable to import module '{self.spec.module}': cannot start a worker "
                f"in {self.spec.code_dir}: {exc}",
            ) from None
        self._workers.add(worker)
        log.debug("worker started", function=self.spec.function, pid=worker.pid, id=request_id)
        if self._closed:  # closed while we were spawning
            self._retire(worker)
            raise EnvironmentClosed(f"function {self.spec.function} is shut down")
        return worker

    def _give_back(self, worker: WorkerProcess) -> None:
        if worker.usable and not self._closed:
            worker.idle_since = time.monotonic()
            self._idle.append(worker)
            self._schedule_reaper()
        else:
            self._retire(worker)

    def _exited(self, worker: WorkerProcess) -> None:
        """Called once a worker process ended, whether we killed it or not."""
        self._workers.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
            log.warning("idle worker exited", function=self.spec.function, pid=worker.pid)

    def _retire(self, worker: WorkerProcess) -> None:
        """Kill a worker and reap it in the background (the caller's answer does not wait)."""
        worker.kill()
        if worker in self._idle:
            self._idle.remove(worker)
        task = asyncio.get_running_loop().create_task(
            worker.wait_closed(), name=f"worker-reap:{worker.pid}"
        )
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _schedule_reaper(self) -> None:
        if self._reaper is None and len(self._idle) > 1:
            loop = asyncio.get_running_loop()
            self._reaper = loop.call_later(self.settings.idle_ttl, self._reap_idle)

    def _reap_idle(self) -> None:
        """Stop workers idle longer than ``idle_ttl``, always keeping the last used one warm."""
        self._reaper = None
        cutoff = time.monotonic() - self.settings.idle_ttl
        for worker in [w for w in self._idle[:-1] if w.idle_since <= cutoff]:
            self._retire(worker)
        self._schedule_reaper()

    async def aclose(self) -> None:
        """Kill every worker and wait until they are reaped; in-flight invocations end with
        ``RuntimeExit`` (``signal: killed``) and later ones with ``EnvironmentClosed``."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        workers = list(self._workers)
        self._idle.clear()
        for worker in workers:
            worker.kill()
        await asyncio.gather(
            *(worker.wait_closed() for worker in workers), *self._retiring, return_exceptions=True
        )


__all__ = [
    "EnvironmentClosed",
    "HandlerFailed",
    "OutOfMemory",
    "ProcessEnvironment",
    "UnmarshalError",
    "WorkerSettings",
]
