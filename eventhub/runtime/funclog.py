"""Where function log lines (START/END/REPORT and handler output) are written.

Every invocation writes at least three lines, so this is on the hot path. By default
lines go through structlog like every other log line (tests capture them with
``structlog.testing.capture_logs``). The daemon, when it logs JSON, installs
``JsonLineSink``: the same JSON shape as structlog's renderer, written with one
pre-rendered prefix per invocation and no processor chain, and flushed once per
invocation (and per line of handler output, so long invocations show progress).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol, TextIO

import structlog

_encode = json.encoder.encode_basestring_ascii
_NUMBERS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}

Tags = tuple[tuple[str, str], ...]

# Where an invocation comes from (``source``, ``shard``), added to every function log line
# of invocations started in this context. Engines set it once per lane or poller task (an
# asyncio task copies the context it was created in), never per batch.
invocation_tags: ContextVar[Tags] = ContextVar("eventhub_invocation_tags", default=())


def tag_invocations(**tags: str) -> None:
    """Tag the function log lines of invocations made from the current context onwards."""
    invocation_tags.set(tuple(tags.items()))


class FunctionLogSink(Protocol):
    """Receives the lines of function logs."""

    def begin(self, function: str, request_id: str) -> Any:
        """Per-invocation state handed back to ``line``."""
        ...

    def line(self, state: Any, text: str, stream: str | None, level: str = "info") -> None: ...


class StructlogSink:
    """Lines through structlog's configured pipeline (the default, and the console)."""

    def __init__(self, *, console: bool = False) -> None:
        self._logger = structlog.get_logger("eventhub.function")
        self._console = console

    def begin(self, function: str, request_id: str) -> Any:
        return self._logger.bind(
            function=function, request_id=request_id, **dict(invocation_tags.get())
        )

    def line(self, state: Any, text: str, stream: str | None, level: str = "info") -> None:
        if self._console:  # Lambda separates traceback lines with \r; a terminal wants \n
            text = text.replace("\r", "\n")
        emit = getattr(state, level, state.info)
        if stream is None:
            emit(text)
        else:
            emit(text, stream=stream)


class _Stamp:
    """ISO 8601 UTC timestamps like structlog's TimeStamper, formatting seconds once."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._text = (
                second,
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)),
            )
        return f"{self._text}.{int((now - second) * 1_000_000):06d}Z"


class JsonLineSink:
    """JSON lines straight to ``out``, in structlog's JSON shape; nothing when disabled.

    Lines go into the stream's buffer at once and the buffer is flushed once per
    event-loop iteration, so a busy hub pays one write syscall for many invocations
    while every line still shows up within that iteration."""

    def __init__(
        self, out: TextIO, *, threshold: int = 20, scrub: Callable[[str], str] | None = None
    ) -> None:
        self._out = out
        self._threshold = threshold  # stdlib level numbers: lines below it are dropped
        self._scrub = scrub
        self._stamp = _Stamp()
        self._lock = threading.Lock()  # handler threads write too
        self._flush_pending: asyncio.AbstractEventLoop | None = None  # loop with a flush queued

    def begin(self, function: str, request_id: str) -> Any:
        head = f'{{"function": {_encode(function)}, "request_id": {_encode(request_id)}, '
        for key, value in invocation_tags.get():
            head += f"{_encode(key)}: {_encode(value)}, "
        return head

    def line(self, state: Any, text: str, stream: str | None, level: str = "info") -> None:
        if _NUMBERS.get(level, 20) < self._threshold:
            return
        head = f'{state}"stream": "{stream}", ' if stream else state
        stamp = self._stamp.now()
        if self._scrub is not None:
            text = self._scrub(text)
        record = f'{head}"event": {_encode(text)}, "level": "{level}", "timestamp": "{stamp}"}}\n'
        with self._lock:
            self._out.write(record)
        self._flush_soon()

    def _flush_soon(self) -> None:
        """Flush once per event-loop iteration, not once per invocation (a syscall each);
        from a thread (or without a loop), flush now."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()
            return
        if self._flush_pending is not loop:
            self._flush_pending = loop
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = None
        with self._lock:
            self._out.flush()


_sink: FunctionLogSink = StructlogSink()


def sink() -> FunctionLogSink:
    return _sink


def install_sink(new: FunctionLogSink | None) -> None:
    """Use ``new`` for function lines (None: back to structlog)."""
    global _sink  # noqa: PLW0603 - one sink per process, like structlog's configuration
    _sink = new if new is not None else StructlogSink()


def install_console_sink() -> None:
    """Function lines through structlog's console renderer, tracebacks on several lines."""
    install_sink(StructlogSink(console=True))
