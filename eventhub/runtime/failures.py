"""Turning what went wrong in an invocation into Lambda's outcome, error object and log line."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import traceback

import eventhub
from eventhub.runtime.errors import InvocationFailure, RuntimeExit
from eventhub.runtime.result import Outcome


def failure_outcome(failure: InvocationFailure) -> Outcome:
    return Outcome.TIMEOUT if failure.error_type == "Sandbox.Timedout" else Outcome.FUNCTION_ERROR


def exit_message(request_id: str, reason: str | None) -> str:
    """Lambda's words for a runtime process that ended: ``reason`` is ``exit status N`` or
    ``signal: <name>``; None (exit status 0) is "without providing a reason"."""
    if reason is None:
        return f"RequestId: {request_id} Error: Runtime exited without providing a reason"
    return f"RequestId: {request_id} Error: Runtime exited with error: {reason}"


def exit_failure(exc: BaseException, request_id: str) -> RuntimeExit:
    """What the handler raised would end a Lambda runtime process: Runtime.ExitError.

    ``sys.exit(n)`` exits with ``n``; an uncaught KeyboardInterrupt dies of SIGINT; any
    other BaseException that is not an Exception (GeneratorExit, a CancelledError of the
    handler's own) exits with 1. The inline runtime reports these exactly as the process
    runtime does (``exit_message``).
    """
    if isinstance(exc, KeyboardInterrupt):
        return RuntimeExit(exit_message(request_id, "signal: interrupt"))
    status = 1
    if isinstance(exc, SystemExit):
        code = exc.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
    return RuntimeExit(exit_message(request_id, f"exit status {status}" if status else None))


# Frames of the machinery between the runtime and the handler (the thread pool, asyncio,
# eventhub itself) lead every handler traceback; Lambda shows only the user's frames.
_RUNTIME_DIRS = tuple(
    os.path.dirname(os.path.realpath(str(package.__file__))) + os.sep
    for package in (asyncio, concurrent.futures, eventhub)
)


def drop_runtime_frames(exc: BaseException) -> None:
    tb = exc.__traceback__
    while tb is not None and os.path.realpath(tb.tb_frame.f_code.co_filename).startswith(
        _RUNTIME_DIRS
    ):
        tb = tb.tb_next
    exc.__traceback__ = tb


def safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the invocation
        return f"<unprintable {type(exc).__name__} object>"


def aws_error_line(exc: BaseException) -> str:
    """Lambda's text-format error line: lines joined with carriage returns."""
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(frames).rstrip("\n").replace("\n", "\r")
    return f"[ERROR] {type(exc).__name__}: {safe_str(exc)}\r{text}"


def failure_line(failure: InvocationFailure, request_id: str, stamp: str) -> str:
    """The log line Lambda writes for a runtime-level failure."""
    if failure.error_type == "Sandbox.Timedout":
        return f"{stamp}Z {request_id} {failure.message}"
    return f"[ERROR] {failure.error_type}: {failure.message}"
