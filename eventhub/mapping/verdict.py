"""Reading an invocation's outcome for a stream batch: success, partial failure or failure.

* An exception, timeout or crash of the handler is a failure of the whole batch.
* With ``report_batch_item_failures``, a response listing items fails from the lowest listed
  item on (the records before it succeeded); a malformed list or an identifier that is not in
  the batch fails the whole batch (``eventhub.mapping.partial``). Without the setting the
  response is ignored, as Lambda ignores it.
* With a tumbling window the response must be an object holding ``state`` (an object);
  anything else fails the batch, as in Lambda.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from eventhub.mapping.partial import MalformedPartialResponse, failed_items, identifier_key
from eventhub.runtime.result import InvocationResult


@dataclass(frozen=True, slots=True)
class Verdict:
    """``failed_from`` is None for full success, else the index (into the invoked records)
    of the first record to retry; 0 means the whole batch failed. ``state`` is the tumbling
    window state the handler returned, when it returned one."""

    failed_from: int | None
    state: dict[str, Any] | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_from is None


def judge(
    result: InvocationResult,
    records: Sequence[dict[str, Any]],
    item_key: Callable[[dict[str, Any]], Hashable],
    *,
    partial: bool,
    window: bool,
) -> Verdict:
    """The verdict on ``result`` of invoking ``records``."""
    if not result.ok:
        return Verdict(0, reason=_error_text(result.value))
    value = result.value
    state: dict[str, Any] | None = None
    if window:
        found = value.get("state") if isinstance(value, dict) else None
        if not isinstance(found, dict):
            return Verdict(0, reason="a tumbling-window response must hold a 'state' object")
        state = found
    if partial and isinstance(value, dict) and value.get("batchItemFailures"):
        index = {item_key(record): i for i, record in enumerate(records)}
        try:
            failed = failed_items(value, index)
        except MalformedPartialResponse as exc:
            return Verdict(0, state, f"batchItemFailures: {exc}")
        if failed:
            first = min(index[identifier_key(item)] for item in failed)
            return Verdict(first, state, f"{len(failed)} item(s) reported failed")
    return Verdict(None, state)


def _error_text(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value.get('errorType', 'Error')}: {value.get('errorMessage', '')}"[:500]
    return "function error"
