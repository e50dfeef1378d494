"""The outcome of one invocation, as every caller (API, engines, async queue) sees it."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from eventhub.runtime.logcapture import InvocationLog


class Outcome(enum.Enum):
    """How an invocation ended. Engines map these to checkpoint, retry, bisect or dead-letter."""

    SUCCESS = "success"
    FUNCTION_ERROR = "function_error"  # the handler raised, or init / marshalling failed
    TIMEOUT = "timeout"


class InvocationResult(NamedTuple):
    """A finished invocation: the handler's value (or error object) and its JSON bytes.

    A NamedTuple because one is built per invocation, on the hot path."""

    request_id: str
    outcome: Outcome
    value: Any
    payload: bytes
    duration_ms: float
    init_ms: float | None
    log: InvocationLog | None = None

    @property
    def log_tail(self) -> str:
        """The last 4 KB of the invocation's log (for ``X-Amz-Log-Type: Tail``)."""
        return self.log.tail() if self.log is not None else ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def function_error(self) -> str | None:
        """``Unhandled`` for every failure, as current Lambda runtimes report."""
        return None if self.ok else "Unhandled"

    @property
    def error_type(self) -> str | None:
        if self.ok or not isinstance(self.value, dict):
            return None
        error_type = self.value.get("errorType")
        return error_type if isinstance(error_type, str) else None
