"""Typed failures of an invocation, each mapping to one Lambda ``errorType``."""

from __future__ import annotations

from typing import Any


class InvocationFailure(Exception):  # noqa: N818 - a family of outcomes, not a single error
    """A failure that is not an exception raised by the handler itself."""

    error_type = "Runtime.Unknown"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def document(self, request_id: str) -> dict[str, Any]:
        """The error object Lambda returns for this failure."""
        return {
            "errorMessage": self.message,
            "errorType": self.error_type,
            "requestId": request_id,
            "stackTrace": [],
        }


class InitError(InvocationFailure):
    """The handler could not be imported (ImportModuleError, HandlerNotFound, syntax error)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class InvocationTimeout(InvocationFailure):
    """The handler ran past the function timeout (``Sandbox.Timedout``)."""

    error_type = "Sandbox.Timedout"

    def __init__(self, timeout: float) -> None:
        super().__init__(f"Task timed out after {timeout:.2f} seconds")


class MarshalError(InvocationFailure):
    """The handler returned something that cannot be serialised as JSON."""

    error_type = "Runtime.MarshalError"


class ResponseTooLarge(InvocationFailure):
    """The response exceeds the sync payload limit."""

    error_type = "Function.ResponseSizeTooLarge"


class RuntimeExit(InvocationFailure):
    """The worker process running the handler died (crash, OOM, sys.exit)."""

    error_type = "Runtime.ExitError"


class HandlerEscaped(Exception):  # noqa: N818 - a carrier, not an error of its own
    """A BaseException that is not an Exception (KeyboardInterrupt, GeneratorExit, a
    CancelledError of the handler's own) left a handler running off the main loop.

    Carried as an Exception across the thread pool or the isolated loop: raised there
    as it is, it would stop that loop, or read as a cancellation of the invocation."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(repr(cause))
        self.cause = cause


class LoopBlocked(InvocationFailure):
    """An ``async def`` handler blocked the event loop and was interrupted."""

    error_type = "Runtime.EventLoopBlocked"


class Throttled(Exception):  # noqa: N818 - mirrors TooManyRequestsException
    """No concurrency is available for the function (reserved concurrency reached or 0)."""

    def __init__(self, function: str, reason: str) -> None:
        super().__init__(f"Rate Exceeded. ({function})")
        self.function = function
        self.reason = reason


class Retired(Exception):  # noqa: N818 - a condition the Invoker answers, not an error
    """The runtime was replaced by a reload while this call waited for concurrency; nothing
    ran. The Invoker invokes again on the function's current runtime."""

    def __init__(self, function: str) -> None:
        super().__init__(f"the runtime of {function} was replaced")
        self.function = function
