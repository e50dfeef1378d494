"""What a stream mapping is told: its settings (from config) and the ports it calls out by.

The engine never touches the hub directly: it invokes through ``Ports.invoke``, hands
on-failure records to ``Ports.deliver_failure`` and reads time from ``Ports.clock``, so unit
tests run it against in-memory fakes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from eventhub.mapping.retry import RetryPolicy
from eventhub.runtime.result import InvocationResult

MAX_PAYLOAD: Final = 6_291_456
# Room left in the 6 MB invocation payload for the event's own keys and window state.
ENVELOPE: Final = 16_384
BUFFER_BYTES: Final = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How one mapping batches, invokes and retries (validated config values)."""

    function: str
    batch_size: int = 100
    batch_window: float = 0.0
    parallelization: int = 1
    report_batch_item_failures: bool = False
    tumbling_window: int = 0
    retry: RetryPolicy = RetryPolicy()
    on_failure: str | None = None
    max_payload: int = MAX_PAYLOAD
    revoke_grace: float = 30.0
    commit_retry_delay: float = 0.5

    @property
    def buffer_records(self) -> int:
        """Records a shard buffers before its reads are paused (backpressure)."""
        return max(2 * self.batch_size * self.parallelization, 1000)

    @property
    def buffer_bytes(self) -> int:
        """Estimated event bytes a shard buffers before its reads are paused."""
        return max(BUFFER_BYTES, 2 * self.max_payload)


Invoke = Callable[[Any], Awaitable[InvocationResult]]
"""Invoke the mapping's function synchronously with an event; raises LookupError when the
function does not exist (it is then retried later without using the retry quota)."""

DeliverFailure = Callable[[dict[str, Any]], Awaitable[bool]]
"""Send an on-failure record; True once the destination has it."""


@dataclass(frozen=True, slots=True)
class Ports:
    """The engine's ways out."""

    invoke: Invoke
    deliver_failure: DeliverFailure | None = None
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        return int(self.clock() * 1000)
