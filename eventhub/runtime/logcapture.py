"""Per-invocation capture of what a handler prints and logs.

``sys.stdout``/``sys.stderr`` are replaced once by proxies and a handler is put on the
root logger. While an invocation runs (in its task, or in a thread started with a copy
of its context), a context variable points at its ``InvocationLog``: its output becomes
log lines tagged with the function and request id, and the last 4 KB are kept for
``X-Amz-Log-Type: Tail``. Outside invocations the proxies write through unchanged.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from collections import deque
from contextvars import ContextVar
from typing import Any, TextIO

from eventhub.runtime import funclog

TAIL_BYTES = 4096
_TRIM_AT = 256  # lines kept before trimming the tail to the last TAIL_BYTES

_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}

current_log: ContextVar[InvocationLog | None] = ContextVar("eventhub_invocation_log", default=None)


class InvocationLog:
    """The log of one invocation: lines go to the daemon log and a bounded tail."""

    __slots__ = ("_partial", "_sink", "_state", "_tail", "init_ms", "request_id")

    def __init__(self, function: str, request_id: str) -> None:
        self.request_id = request_id
        # The init phase this invocation ran (a cold start), set by the environment once
        # init is over, so REPORT shows it whatever the handler then did.
        self.init_ms: float | None = None
        self._sink = funclog.sink()
        self._state = self._sink.begin(function, request_id)
        self._partial: dict[str, str] = {}
        self._tail: deque[str] = deque()

    def line(self, text: str, stream: str | None = None, level: str = "info") -> None:
        """One complete line of the function log (without its newline); ``stream`` names
        where handler output came from (stdout, stderr, log)."""
        self._sink.line(self._state, text, stream, level)
        self._keep(text + "\n")

    def write(self, text: str, stream: str) -> None:
        """Raw output; complete lines are emitted, a trailing fragment waits for more."""
        pending = self._partial.pop(stream, "") + text
        *lines, rest = pending.split("\n")
        for line in lines:
            self.line(line, stream)
        if rest:
            self._partial[stream] = rest

    def flush(self) -> None:
        """Emit output that did not end with a newline."""
        for stream, rest in list(self._partial.items()):
            self.line(rest, stream)
        self._partial.clear()

    def tail(self) -> str:
        """The last 4 KB of this invocation's log."""
        data = "".join(self._tail).encode()
        return data[-TAIL_BYTES:].decode(errors="ignore")

    def _keep(self, text: str) -> None:
        self._tail.append(text)
        if len(self._tail) > _TRIM_AT:  # a chatty handler: drop lines that cannot be in 4 KB
            self._trim()

    def _trim(self) -> None:
        kept, keep = 0, 0
        for line in reversed(self._tail):
            if kept >= TAIL_BYTES:
                break
            kept += len(line.encode())
            keep += 1
        while len(self._tail) > keep:
            self._tail.popleft()


class _StreamProxy(io.TextIOBase):
    """Stands in for sys.stdout / sys.stderr and routes writes to the current invocation."""

    def __init__(self, real: TextIO, name: str) -> None:
        self._real = real
        self._name = name

    def write(self, text: str) -> int:
        log = current_log.get()
        if log is None:
            return self._real.write(text)
        log.write(text, self._name)
        return len(text)

    def flush(self) -> None:
        if current_log.get() is None:
            self._real.flush()

    def isatty(self) -> bool:
        return self._real.isatty()

    def fileno(self) -> int:
        return self._real.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._real.encoding

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _CaptureHandler(logging.Handler):
    """Formats handler log records as Lambda's Python runtime does in text format."""

    def emit(self, record: logging.LogRecord) -> None:
        log = current_log.get()
        if log is None:
            return
        try:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            millis = int(record.msecs)
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            text = f"[{record.levelname}]\t{stamp}.{millis:03d}Z\t{log.request_id}\t{message}"
            level = _LEVELS.get(record.levelno, "info")
            for line in text.split("\n"):
                log.line(line, "log", level)
        except Exception:  # noqa: BLE001 - logging must never break a handler
            self.handleError(record)


_installed = False


def install_capture() -> None:
    """Replace sys.stdout/sys.stderr with routing proxies; idempotent."""
    global _installed  # noqa: PLW0603 - process-wide, installed once
    if _installed:
        return
    _installed = True
    sys.stdout = _StreamProxy(sys.stdout, "stdout")
    sys.stderr = _StreamProxy(sys.stderr, "stderr")
    logging.getLogger().addHandler(_CaptureHandler())
