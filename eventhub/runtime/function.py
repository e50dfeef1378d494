"""A configured function: concurrency, the Lambda context, errors and the per-invocation log."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

from eventhub.events.errors import error_document
from eventhub.runtime.concurrency import Limiter
from eventhub.runtime.context import ClientContext, FunctionIdentity, LambdaContext, log_stream_name
from eventhub.runtime.environment import Environment, HandlerReturn
from eventhub.runtime.errors import (
    HandlerEscaped,
    InvocationFailure,
    MarshalError,
    ResponseTooLarge,
    Retired,
    RuntimeExit,
    Throttled,
)
from eventhub.runtime.failures import (
    aws_error_line,
    drop_runtime_frames,
    exit_failure,
    failure_line,
    failure_outcome,
)
from eventhub.runtime.logcapture import InvocationLog
from eventhub.runtime.marshal import to_json
from eventhub.runtime.result import InvocationResult, Outcome
from eventhub.runtime.stats import FunctionStats, peak_memory
from eventhub.runtime.stats import request_id as new_request_id


@dataclass(frozen=True, slots=True)
class FunctionLimits:
    """Settings of one function that the runtime enforces."""

    timeout: float
    memory_mb: int
    reserved_concurrency: int | None
    max_response_bytes: int


@dataclass(slots=True)
class _Ending:
    """How the handler call ended, before the bookkeeping."""

    outcome: Outcome
    value: Any
    payload: bytes
    init_ms: float | None = None
    memory_mb: int | None = None


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
        stats: FunctionStats,
        *,
        log_stream: str | None = None,
    ) -> None:
        self.identity = identity
        self.name = identity.function_name
        self.limits = limits
        self.environment = environment
        self.limiter = limiter
        self.stats = stats
        self._stream_name = log_stream or log_stream_name()
        self._running = 0
        self._drained: asyncio.Future[None] | None = None
        self.retired = False  # replaced on reload: calls still waiting must not run here

    @property
    def arn(self) -> str:
        return self.identity.function_arn

    @property
    def running(self) -> int:
        """Invocations in progress."""
        return self._running

    async def invoke(
        self,
        event: Any,
        *,
        wait: bool = False,
        wait_at_most: float | None = None,
        request_id: str | None = None,
        client_context: ClientContext | None = None,
    ) -> InvocationResult:
        """Run the handler once. With ``wait``, queue for a slot instead of raising Throttled
        (Throttled after ``wait_at_most`` seconds, when given); raises Retired when a reload
        replaced this runtime while the call waited."""
        if wait:
            try:
                async with asyncio.timeout(wait_at_most):
                    await self.limiter.acquire()
            except TimeoutError:
                self._throttled()
            if self.retired:
                self.limiter.release()
                raise Retired(self.name)
        elif self.limits.reserved_concurrency == 0 or not self.limiter.try_acquire():
            self._throttled()
        self._running += 1
        self.stats.running += 1
        try:
            return await self._run(event, request_id or new_request_id(), client_context)
        finally:
            self._running -= 1
            self.stats.running -= 1
            if not self._running and self._drained is not None and not self._drained.done():
                self._drained.set_result(None)
            self.limiter.release()

    async def drain(self, within: float) -> bool:
        """Wait until no invocation is in progress; False if ``within`` seconds passed first."""
        if not self._running:
            return True
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(within):
                await asyncio.shield(self._drained)
        except TimeoutError:
            return False
        return True

    def _throttled(self) -> None:
        self.stats.throttles += 1
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
        ending = await self._call(event, context, log, request_id)
        log.flush()
        if ending.outcome is Outcome.TIMEOUT:
            duration_ms = timeout * 1000
        else:  # as in Lambda, Duration leaves the init phase out (REPORT shows it apart)
            duration_ms = (time.perf_counter() - started) * 1000 - (ending.init_ms or 0.0)
        self._report(log, request_id, duration_ms, ending)
        error_type = None
        if ending.outcome is not Outcome.SUCCESS and isinstance(ending.value, dict):
            error_type = str(ending.value.get("errorType", "Unknown"))
        self.stats.record(duration_ms / 1000, error_type)
        return InvocationResult(
            request_id, ending.outcome, ending.value, ending.payload, duration_ms,
            ending.init_ms, log,
        )  # fmt: skip

    async def _call(
        self, event: Any, context: LambdaContext, log: InvocationLog, request_id: str
    ) -> _Ending:
        try:
            returned = await self.environment.invoke(event, context, log, self.limits.timeout)
            payload = self._marshal(returned)
        except (SystemExit, KeyboardInterrupt, GeneratorExit, HandlerEscaped) as exc:
            # sys.exit() and the like would end a Lambda runtime: Runtime.ExitError. They
            # must never reach the event loop, which would stop the daemon.
            return self._failed(self._exited(exc, log, request_id), log, request_id)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # the invocation itself is being cancelled (shutdown)
            return self._failed(self._exited(exc, log, request_id), log, request_id)
        except InvocationFailure as failure:
            return self._failed(failure, log, request_id)
        except Exception as exc:  # noqa: BLE001 - whatever the handler raised is its error
            drop_runtime_frames(exc)
            value = error_document(exc, request_id)
            log.line(aws_error_line(exc), level="error")
            return _Ending(Outcome.FUNCTION_ERROR, value, to_json(value), log.init_ms)
        return _Ending(
            Outcome.SUCCESS, returned.value, payload, returned.init_ms, returned.max_memory_mb
        )

    def _exited(self, exc: BaseException, log: InvocationLog, request_id: str) -> RuntimeExit:
        cause = exc.cause if isinstance(exc, HandlerEscaped) else exc
        if isinstance(cause, SystemExit):
            if isinstance(cause.code, str):  # Python prints sys.exit's message on stderr
                log.line(cause.code, stream="stderr", level="error")
        else:  # as Python prints an uncaught exception before the process ends
            drop_runtime_frames(cause)
            log.line(aws_error_line(cause), level="error")
        return exit_failure(cause, request_id)

    def _failed(self, failure: InvocationFailure, log: InvocationLog, request_id: str) -> _Ending:
        value = failure.document(request_id)
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}"
        log.line(failure_line(failure, request_id, stamp), level="error")
        return _Ending(failure_outcome(failure), value, to_json(value), log.init_ms)

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

    def _report(
        self, log: InvocationLog, request_id: str, duration_ms: float, ending: _Ending
    ) -> None:
        log.line(f"END RequestId: {request_id}")
        init_ms = ending.init_ms
        billed = math.ceil(duration_ms + (init_ms or 0.0))
        used = ending.memory_mb if ending.memory_mb is not None else peak_memory.mb()
        line = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {billed} ms\tMemory Size: {self.limits.memory_mb} MB\t"
            f"Max Memory Used: {used} MB"
        )
        if init_ms is not None:
            line += f"\tInit Duration: {init_ms:.2f} ms"
        if ending.outcome is Outcome.TIMEOUT:
            line += "\tStatus: timeout"
        log.line(line)
