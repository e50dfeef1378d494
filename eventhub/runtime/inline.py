"""The inline runtime: handlers run in the daemon process.

``async def`` handlers run on the event loop; ``def`` handlers on the function's own
bounded thread pool, so a slow or stuck handler can only exhaust its own function.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import functools
import inspect
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from eventhub.runtime.context import LambdaContext
from eventhub.runtime.deadline import run_within
from eventhub.runtime.environ import current_overlay
from eventhub.runtime.environment import EnvironmentSpec, HandlerReturn
from eventhub.runtime.errors import HandlerEscaped, InitError, InvocationTimeout, LoopBlocked
from eventhub.runtime.loader import Handler, import_handler
from eventhub.runtime.logcapture import InvocationLog, current_log
from eventhub.runtime.loopguard import HandlerBlockedLoop, IsolatedLoop, loop_guard

# Lambda gives a function's init phase 10 s, then retries it within the first invocation's
# timeout (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
INIT_LIMIT = 10.0

log = structlog.get_logger("eventhub.runtime")


class HandlerInterrupted(BaseException):  # noqa: N818 - injected, never caught by handlers' `except Exception`
    """Raised inside a ``def`` handler's thread when its invocation timed out."""


class _ThreadCall:
    """A handler call on a pool thread that can be interrupted once it timed out."""

    __slots__ = ("_finished", "_lock", "_thread_id")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread_id: int | None = None
        self._finished = False

    def run(self, handler: Handler, event: Any, context: LambdaContext) -> Any:
        self._thread_id = threading.get_ident()
        try:
            return handler(event, context)
        except (KeyboardInterrupt, GeneratorExit, asyncio.CancelledError) as exc:
            raise HandlerEscaped(exc) from None
        finally:
            with self._lock:
                self._finished = True

    def interrupt(self) -> bool:
        """Raise HandlerInterrupted in the thread at its next bytecode; False if it finished."""
        with self._lock:
            if self._finished or self._thread_id is None:
                return False
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread_id), ctypes.py_object(HandlerInterrupted)
            )
            return True


class InlineEnvironment:
    """One function's handler, imported once into the daemon and reused."""

    def __init__(self, spec: EnvironmentSpec) -> None:
        self.spec = spec
        self._overlay = dict(spec.variables)
        self._handler: Handler | None = None
        self._is_async = False
        self._loading: asyncio.Future[float] | None = None  # the import under way
        self._executor = self._new_executor()
        self._isolated: IsolatedLoop | None = None

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(
            max_workers=max(1, min(self.spec.max_concurrency, 1000)),
            thread_name_prefix=f"fn-{self.spec.function}",
        )

    async def invoke(
        self, event: Any, context: LambdaContext, log: InvocationLog, budget: float
    ) -> HandlerReturn:
        overlay_token = current_overlay.set(self._overlay)
        log_token = current_log.set(log)
        try:
            # As in Lambda, init has its own budget: the timeout starts with the handler.
            init_ms = None if self._handler is not None else await self._ensure_loaded()
            log.init_ms = init_ms
            if self._is_async:
                value = await self._run_async(event, context, budget)
            else:
                value = await self._run_thread(event, context, budget)
            return HandlerReturn(value, init_ms)
        finally:
            current_log.reset(log_token)
            current_overlay.reset(overlay_token)

    async def _ensure_loaded(self) -> float | None:
        """Import the handler once. As in Lambda, init may take ``INIT_LIMIT`` seconds and
        then the invocation's own timeout; past that the invocation times out, while the
        import (a thread cannot be stopped) goes on and later invocations wait for it.
        Called only while the handler is not loaded: ``invoke`` checks, so warm calls skip it."""
        loading = self._loading
        first = loading is None
        if loading is None:
            loading = self._loading = asyncio.ensure_future(self._load())
        try:
            async with asyncio.timeout(INIT_LIMIT + self.spec.timeout):
                init_ms = await asyncio.shield(loading)
        except TimeoutError:
            raise InvocationTimeout(self.spec.timeout) from None
        except BaseException:
            if loading.done() and self._loading is loading:
                self._loading = None  # a failed import is tried again by the next invocation
            raise
        return init_ms if first else None  # only the invocation that ran init reports it

    async def _load(self) -> float:
        started = time.perf_counter()
        spec = self.spec
        ctx = contextvars.copy_context()
        load = functools.partial(
            import_handler,
            spec.handler,
            spec.module,
            spec.attribute,
            spec.code_dir,
            reimport=spec.reimport,
        )
        handler = await asyncio.get_running_loop().run_in_executor(self._executor, ctx.run, load)
        self._is_async = _is_coroutine_function(handler)
        if self._is_async:
            loop_guard.register(spec.function, handler)
        self._handler = handler
        return (time.perf_counter() - started) * 1000

    async def _run_async(self, event: Any, context: LambdaContext, budget: float) -> Any:
        assert self._handler is not None  # noqa: S101 - set by _ensure_loaded
        if loop_guard.isolated(self.spec.function):
            return await self._run_isolated(event, context, budget)
        try:
            return await run_within(self._handler(event, context), budget)
        except TimeoutError:
            raise InvocationTimeout(self.spec.timeout) from None
        except HandlerBlockedLoop as blocked:
            raise LoopBlocked(str(blocked)) from None

    async def _run_isolated(self, event: Any, context: LambdaContext, budget: float) -> Any:
        """A function that blocked the event loop runs on a loop of its own thread."""
        assert self._handler is not None  # noqa: S101 - set by _ensure_loaded
        if self._isolated is None:
            self._isolated = IsolatedLoop(f"fn-{self.spec.function}-loop")
        try:
            return await self._isolated.run(
                _escaping(self._handler(event, context)), contextvars.copy_context(), budget
            )
        except TimeoutError:
            raise InvocationTimeout(self.spec.timeout) from None

    async def _run_thread(self, event: Any, context: LambdaContext, budget: float) -> Any:
        assert self._handler is not None  # noqa: S101 - set by _ensure_loaded
        call = _ThreadCall()
        ctx = contextvars.copy_context()
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, ctx.run, call.run, self._handler, event, context
        )
        try:
            value = await asyncio.wait_for(future, budget)
        except TimeoutError:
            if call.interrupt():
                self._retire_executor()
            raise InvocationTimeout(self.spec.timeout) from None
        if inspect.isawaitable(value):  # a def that returned a coroutine: finish it on the loop
            return await self._await_with_timeout(value, budget)
        return value

    async def _await_with_timeout(self, awaitable: Any, budget: float) -> Any:
        try:
            return await run_within(awaitable, budget)
        except TimeoutError:
            raise InvocationTimeout(self.spec.timeout) from None

    def _retire_executor(self) -> None:
        """A timed-out thread may stay stuck in C code: give new invocations fresh threads."""
        old, self._executor = self._executor, self._new_executor()
        old.shutdown(wait=False, cancel_futures=False)
        log.warning("handler thread abandoned after timeout", function=self.spec.function)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._isolated is not None:
            self._isolated.close()


async def _escaping(coro: Any) -> Any:
    """Await a handler's coroutine on a loop of its own, whose tasks must not re-raise
    KeyboardInterrupt out of the loop (asyncio does) and so end it."""
    try:
        return await coro
    except (KeyboardInterrupt, GeneratorExit) as exc:
        raise HandlerEscaped(exc) from None


def _is_coroutine_function(handler: Handler) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


__all__ = ["HandlerInterrupted", "InitError", "InlineEnvironment"]
