"""Per-function counters kept as plain numbers on the hot path.

An invocation updates a few integers; Prometheus reads them at scrape time through
``eventhub.metrics.FunctionCollector``. The objects live as long as the hub, so a
function's counters survive its runtime being rebuilt on reload.
"""

from __future__ import annotations

import bisect
import random
import resource
import time

DURATION_BUCKETS = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
)  # fmt: skip


class FunctionStats:
    """Invocations, errors by type, throttles, durations and concurrency of one function."""

    __slots__ = ("buckets", "duration_sum", "errors", "invocations", "running", "throttles")

    def __init__(self) -> None:
        self.invocations = 0
        self.throttles = 0
        self.running = 0
        self.errors: dict[str, int] = {}
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)  # the last one is +Inf
        self.duration_sum = 0.0

    def record(self, seconds: float, error_type: str | None) -> None:
        self.invocations += 1
        self.duration_sum += seconds
        self.buckets[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        if error_type is not None:
            self.errors[error_type] = self.errors.get(error_type, 0) + 1


_random = random.Random()  # noqa: S311 - request ids are identifiers, not secrets


_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


def request_id() -> str:
    """A random version-4 UUID string (RFC 4122 variant), without a system call per id."""
    h = f"{(_random.getrandbits(128) & _VERSION_MASK) | _VERSION_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _PeakMemory:
    """The process's peak RSS in MB, read at most every second (a syscall otherwise)."""

    __slots__ = ("_read_at", "_value")

    def __init__(self) -> None:
        self._read_at = 0.0
        self._value = 0

    def mb(self) -> int:
        now = time.monotonic()
        if now - self._read_at > 1.0:
            self._read_at = now
            self._value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        return self._value


peak_memory = _PeakMemory()
