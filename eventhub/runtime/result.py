"""The outcome of one invocation, as every caller (API, engines, async queue) sees it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Outcome(enum.Enum):
    """How an invocation ended. Engines map these to checkpoint, retry, bisect or dead-letter."""

    SUCCESS = "success"
    FUNCTION_ERROR = "function_error"  # the handler raised, or init / marshalling failed
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """A finished invocation: the handler's value (or error object) and its JSON bytes."""

    request_id: str
    outcome: Outcome
    value: Any
    payload: bytes
    duration_ms: float
    init_ms: float | None
    log_tail: str

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
