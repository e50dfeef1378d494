"""A configured function: concurrency, the Lambda context, errors and the per-invocation log."""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
import resource
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Any

import eventhub
from eventhub.events.errors import error_document
from eventhub.metrics import Metrics
from eventhub.runtime.concurrency import Limiter
from eventhub.runtime.context import ClientContext, FunctionIdentity, LambdaContext, log_stream_name
from eventhub.runtime.environment import Environment, HandlerReturn
from eventhub.runtime.errors import (
    InvocationFailure,
    MarshalError,
    ResponseTooLarge,
    RuntimeExit,
    Throttled,
)
from eventhub.runtime.logcapture import InvocationLog
from eventhub.runtime.marshal import to_json
from eventhub.runtime.result import InvocationResult, Outcome


@dataclass(frozen=True, slots=True)
class FunctionLimits:
    """Settings of one function that the runtime enforces."""

    timeout: float
    memory_mb: int
    reserved_concurrency: int | None
    max_response_bytes: int


class FunctionRuntime:
    """Invokes one function: takes a concurrency slot, runs the handler in its environment,
    turns the outcome into an ``InvocationResult`` and writes START/END/REPORT lines.

    ``invoke`` raises only ``Throttled`` (no slot free and ``wait`` false, or reserved
    concurrency 0); every other failure is an ``InvocationResult`` with an error object.
    """

    def __init__(
        self,
        identity: FunctionIdentity,
        limits: FunctionLimits,
        environment: Environment,
        limiter: Limiter,
        metrics: Metrics,
        *,
        log_stream: str | None = None,
    ) -> None:
        self.identity = identity
        self.name = identity.function_name
        self.limits = limits
        self.environment = environment
        self.limiter = limiter
        self._metrics = metrics
        self._stream_name = log_stream or log_stream_name()
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._invocations = metrics.invocations.labels(self.name)
        self._duration = metrics.duration.labels(self.name)
        self._concurrent = metrics.concurrent.labels(self.name)

    @property
    def arn(self) -> str:
        return self.identity.function_arn

    async def invoke(
        self,
        event: Any,
        *,
        wait: bool = False,
        request_id: str | None = None,
        client_context: ClientContext | None = None,
    ) -> InvocationResult:
        """Run the handler once. With ``wait``, queue for a slot instead of raising Throttled."""
        if self.limits.reserved_concurrency == 0 and not wait:
            self._throttled()
        if wait:
            await self.limiter.acquire()
        elif not self.limiter.try_acquire():
            self._throttled()
        self._concurrent.inc()
        self._running += 1
        self._idle.clear()
        try:
            return await self._run(event, request_id or str(uuid.uuid4()), client_context)
        finally:
            self._running -= 1
            if not self._running:
                self._idle.set()
            self._concurrent.dec()
            self.limiter.release()

    @property
    def running(self) -> int:
        """Invocations in progress."""
        return self._running

    async def drain(self, within: float) -> bool:
        """Wait until no invocation is in progress; False if ``within`` seconds passed first."""
        try:
            async with asyncio.timeout(within):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def _throttled(self) -> None:
        self._metrics.throttles.labels(self.name).inc()
        reason = (
            "ReservedFunctionConcurrentInvocationLimitExceeded"
            if self.limits.reserved_concurrency is not None
            else "ConcurrentInvocationLimitExceeded"
        )
        raise Throttled(self.name, reason)

    async def _run(
        self, event: Any, request_id: str, client_context: ClientContext | None
    ) -> InvocationResult:
        log = InvocationLog(self.name, request_id)
        log.line(f"START RequestId: {request_id} Version: $LATEST")
        timeout = self.limits.timeout
        started = time.perf_counter()
        context = LambdaContext(
            self.identity, request_id, time.monotonic() + timeout, self._stream_name, client_context
        )
        init_ms: float | None = None
        try:
            returned = await self.environment.invoke(event, context, log, timeout)
            init_ms = returned.init_ms
            outcome, value, payload = Outcome.SUCCESS, returned.value, self._marshal(returned)
        except SystemExit as exc:  # sys.exit() in a handler: Lambda's Runtime.ExitError
            failure = _exit_failure(exc, request_id)
            outcome, value = Outcome.FUNCTION_ERROR, failure.document(request_id)
            payload = to_json(value)
            self._log_failure(log, failure, request_id)
        except InvocationFailure as failure:
            outcome, value = _failure_outcome(failure), failure.document(request_id)
            payload = to_json(value)
            self._log_failure(log, failure, request_id)
        except Exception as exc:  # noqa: BLE001 - whatever the handler raised is its error
            _drop_runtime_frames(exc)
            outcome, value = Outcome.FUNCTION_ERROR, error_document(exc, request_id)
            payload = to_json(value)
            log.line(_aws_error_line(exc))
        log.flush()
        duration_ms = (time.perf_counter() - started) * 1000
        if outcome is Outcome.TIMEOUT:
            duration_ms = timeout * 1000
        self._report(log, request_id, duration_ms, init_ms, outcome)
        self._record(outcome, value, duration_ms)
        return InvocationResult(
            request_id, outcome, value, payload, duration_ms, init_ms, log.tail()
        )

    def _marshal(self, returned: HandlerReturn) -> bytes:
        try:
            payload = to_json(returned.value)
        except (TypeError, ValueError) as exc:
            raise MarshalError(f"Unable to marshal response: {exc}") from None
        if len(payload) > self.limits.max_response_bytes:
            raise ResponseTooLarge(
                f"Response payload size exceeded maximum allowed payload size "
                f"({self.limits.max_response_bytes} bytes)."
            )
        return payload

    def _log_failure(self, log: InvocationLog, failure: InvocationFailure, request_id: str) -> None:
        if isinstance(failure, InvocationFailure) and failure.error_type == "Sandbox.Timedout":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            log.line(f"{stamp}Z {request_id} {failure.message}")
        else:
            log.line(f"[ERROR] {failure.error_type}: {failure.message}")

    def _report(
        self,
        log: InvocationLog,
        request_id: str,
        duration_ms: float,
        init_ms: float | None,
        outcome: Outcome,
    ) -> None:
        log.line(f"END RequestId: {request_id}")
        billed = math.ceil(duration_ms + (init_ms or 0.0))
        max_used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        line = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {billed} ms\tMemory Size: {self.limits.memory_mb} MB\t"
            f"Max Memory Used: {max_used} MB"
        )
        if init_ms is not None:
            line += f"\tInit Duration: {init_ms:.2f} ms"
        if outcome is Outcome.TIMEOUT:
            line += "\tStatus: timeout"
        log.line(line)

    def _record(self, outcome: Outcome, value: Any, duration_ms: float) -> None:
        self._invocations.inc()
        self._duration.observe(duration_ms / 1000)
        if outcome is not Outcome.SUCCESS:
            error_type = value.get("errorType", "Unknown") if isinstance(value, dict) else "Unknown"
            self._metrics.errors.labels(self.name, str(error_type)).inc()


def _failure_outcome(failure: InvocationFailure) -> Outcome:
    return Outcome.TIMEOUT if failure.error_type == "Sandbox.Timedout" else Outcome.FUNCTION_ERROR


def _exit_failure(exc: SystemExit, request_id: str) -> RuntimeExit:
    status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return RuntimeExit(
        f"RequestId: {request_id} Error: Runtime exited with error: exit status {status}"
    )


# Frames of the machinery between the runtime and the handler (the thread pool, asyncio,
# eventhub itself) lead every handler traceback; Lambda shows only the user's frames.
_RUNTIME_DIRS = tuple(
    os.path.dirname(os.path.realpath(str(package.__file__))) + os.sep
    for package in (asyncio, concurrent.futures, eventhub)
)


def _drop_runtime_frames(exc: BaseException) -> None:
    tb = exc.__traceback__
    while tb is not None and os.path.realpath(tb.tb_frame.f_code.co_filename).startswith(
        _RUNTIME_DIRS
    ):
        tb = tb.tb_next
    exc.__traceback__ = tb


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the invocation
        return f"<unprintable {type(exc).__name__} object>"


def _aws_error_line(exc: BaseException) -> str:
    """Lambda's text-format error line: lines joined with carriage returns."""
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(frames).rstrip("\n").replace("\n", "\r")
    return f"[ERROR] {type(exc).__name__}: {_safe_str(exc)}\r{text}"
