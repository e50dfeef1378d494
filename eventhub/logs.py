"""structlog configuration: JSON lines, or a console renderer on a TTY."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from eventhub.runtime import funclog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

_SECRET_KEYS = ("password", "secret", "token", "authorization")


def redact_secrets(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Never let a credential reach the log: mask values of secret-looking keys."""
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_KEYS):
            event[key] = "***"
    return event


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog once for the process; ``auto`` picks console on a TTY."""
    out = stream or sys.__stdout__ or sys.stdout
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    if console:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
    else:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(LEVELS[level])
    # Function log lines (START/END/REPORT, handler output) skip the processor chain.
    funclog.install_sink(
        None if console else funclog.JsonLineSink(out, enabled=LEVELS[level] <= logging.INFO)
    )


class _ToStructlog(logging.Handler):
    """Third-party libraries log through stdlib logging; their records join our log."""

    def emit(self, record: logging.LogRecord) -> None:
        from eventhub.runtime.logcapture import current_log  # noqa: PLC0415

        if current_log.get() is not None:
            return  # a handler's own logging: captured per invocation instead
        try:
            structlog.get_logger(record.name).log(record.levelno, record.getMessage())
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _route_stdlib(level: int) -> None:
    root = logging.getLogger()
    if not any(isinstance(h, _ToStructlog) for h in root.handlers):
        handler = _ToStructlog()
        handler.setLevel(max(level, logging.WARNING))
        root.addHandler(handler)
