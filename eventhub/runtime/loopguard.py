"""Protection against ``async def`` handlers that block the event loop.

An async handler runs on the daemon's event loop, which is what makes it cheap. A
handler that blocks (``time.sleep``, a synchronous HTTP call, a long computation)
would stall every source, every other function and the API. A watchdog thread
notices when the loop has not turned for ``limit`` seconds and looks at the loop
thread's stack: if an async handler is on it, the watchdog interrupts it (a signal
delivered to the loop thread raises ``HandlerBlockedLoop`` inside the handler, which
also breaks out of ``time.sleep`` and blocking socket calls), that invocation fails
with ``Runtime.EventLoopBlocked``, and the function is moved to an event loop of its
own thread for the rest of the process's life, so it can only stall itself.

Signals are delivered to the main thread, so interruption needs the loop to run
there (it does under ``eventhub run``); elsewhere the guard only reports.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from types import CodeType, FrameType
from typing import Any

import structlog

log = structlog.get_logger("eventhub.loopguard")

DEFAULT_LIMIT = 1.0
_SIGNAL = signal.SIGUSR2


class HandlerBlockedLoop(BaseException):  # noqa: N818 - not an Exception: handlers must not swallow it
    """Raised inside an async handler that blocked the event loop."""


class LoopGuard:
    """Watches one event loop; see the module docstring."""

    def __init__(self, limit: float = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._codes: dict[CodeType, str] = {}
        self._isolated: set[str] = set()
        self._target: CodeType | None = None
        self._beat = time.monotonic()
        self._loop_thread: int | None = None
        self._can_interrupt = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._users = 0
        self._reported = 0.0

    def register(self, function: str, handler: Any) -> None:
        """Watch the code of ``function``'s async handler."""
        call = getattr(handler, "__call__", None)  # noqa: B004 - an object's async __call__
        code = getattr(handler, "__code__", None) or getattr(call, "__code__", None)
        if isinstance(code, CodeType):
            self._codes[code] = function

    def isolated(self, function: str) -> bool:
        """True once ``function`` blocked the loop: run it on a loop of its own."""
        return function in self._isolated

    async def start(self) -> None:
        """Begin watching the running loop (nested starts are counted, as hubs in tests nest)."""
        self._users += 1
        if self._users > 1:
            return
        self._stop.clear()
        self._loop_thread = threading.get_ident()
        self._can_interrupt = threading.current_thread() is threading.main_thread()
        if self._can_interrupt:
            signal.signal(_SIGNAL, self._on_signal)
        self._beat = time.monotonic()
        self._heartbeat = asyncio.get_running_loop().create_task(self._beating(), name="loopguard")
        self._thread = threading.Thread(target=self._watch, name="eventhub-loopguard", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users:
            return
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self._can_interrupt:
            signal.signal(_SIGNAL, signal.SIG_DFL)

    async def _beating(self) -> None:
        interval = self.limit / 4
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(interval)

    def _watch(self) -> None:
        interval = self.limit / 4
        while not self._stop.wait(interval):
            stalled = time.monotonic() - self._beat
            if stalled < self.limit or self._loop_thread is None:
                continue
            frame = sys._current_frames().get(self._loop_thread)  # noqa: SLF001 - the only way to see another thread's stack
            code = self._handler_on_stack(frame)
            if code is None:
                self._report_stall(frame, stalled)
                continue
            if code is self._target:
                continue
            function = self._codes[code]
            self._isolated.add(function)
            self._target = code
            log.error(
                "an async handler blocked the event loop; interrupting it and moving the "
                "function to its own loop thread",
                function=function,
                blocked_seconds=round(stalled, 2),
            )
            if self._can_interrupt:
                signal.pthread_kill(self._loop_thread, _SIGNAL)

    def _report_stall(self, frame: FrameType | None, stalled: float) -> None:
        """Something other than a handler blocks the loop: say where, once per stall."""
        if frame is None or self._reported == self._beat:
            return
        self._reported = self._beat
        log.warning(
            "the event loop is blocked",
            blocked_seconds=round(stalled, 2),
            at=f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}",
        )

    def _handler_on_stack(self, frame: FrameType | None) -> CodeType | None:
        while frame is not None:
            if frame.f_code in self._codes:
                return frame.f_code
            frame = frame.f_back
        return None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        target, self._target = self._target, None
        if target is not None and self._handler_on_stack(frame) is target:
            raise HandlerBlockedLoop(f"handler blocked the event loop for over {self.limit:g} s")


class IsolatedLoop:
    """An event loop on its own thread, for async handlers that cannot share the daemon's."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def run(self, coro: Any, context: Any, budget: float) -> Any:
        """Run ``coro`` there with ``context``; cancelled there if ``budget`` seconds pass."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        outer = asyncio.get_running_loop()

        def settle(task: asyncio.Task[Any]) -> None:
            def deliver() -> None:
                if done.done():
                    return
                if task.cancelled():
                    done.cancel()
                elif (error := task.exception()) is not None:
                    done.set_exception(error)
                else:
                    done.set_result(task.result())

            outer.call_soon_threadsafe(deliver)

        holder: list[asyncio.Task[Any]] = []

        def begin() -> None:
            task = self._loop.create_task(coro, context=context)
            holder.append(task)
            task.add_done_callback(settle)

        self._loop.call_soon_threadsafe(begin)
        try:
            async with asyncio.timeout(budget):
                return await asyncio.shield(done)
        except TimeoutError:
            if holder:
                self._loop.call_soon_threadsafe(holder[0].cancel)
            raise

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


loop_guard = LoopGuard()
"""The process's guard: started by the hub, consulted by the inline runtime."""
