"""structlog configuration: JSON lines, or a console renderer on a TTY."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import structlog
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, SecretStr
from structlog.typing import EventDict, WrappedLogger

from eventhub.runtime import funclog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

MASK = "***"

# Keys whose values are credentials whatever they hold.
_SECRET_WORDS = ("password", "passwd", "secret", "token", "authorization", "credential", "apikey")

# ``scheme://user:password@host``: the password is masked, the rest kept for debugging.
# The password runs to the first ``@`` (a raw ``/`` in it is still masked).
_URL_PASSWORD = re.compile(r"(?P<head>://[^\s/?#@:]*):[^\s@]*@")

# Credentials taken from the configuration (auth tokens, passwords of connection URLs):
# masked wherever they appear in a string. Shorter ones are masked only by key and URL.
MIN_SECRET_LENGTH = 4
_known: tuple[str, ...] = ()


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("_", "").replace("-", "")
    return any(word in lowered for word in _SECRET_WORDS)


def _scrub_text(text: str) -> str:
    for secret in _known:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\g<head>:" + MASK + "@", text)
    return text


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {k: MASK if _is_secret_key(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def redact_secrets(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Never let a credential reach the log: values of secret-looking keys are masked,
    and so are passwords inside URLs and every secret of the configuration, in every
    string value (nested lists and dicts included)."""
    for key, value in event.items():
        if _is_secret_key(key):
            event[key] = MASK
        elif isinstance(value, str):
            if _known or "://" in value:
                event[key] = _scrub_text(value)
        elif isinstance(value, dict | list | tuple):
            event[key] = _scrub(value)
    return event


def remember_secrets(config: BaseModel) -> None:
    """Mask every secret of ``config`` (``SecretStr`` fields; for URLs their password)
    in later log lines. Secrets of earlier configurations stay masked too."""
    global _known  # noqa: PLW0603 - one process-wide log configuration
    found = set(_known)
    for value in _secret_strings(config):
        password = _url_password(value)
        candidates = [password, unquote(password)] if password else [value]
        found.update(c for c in candidates if len(c) >= MIN_SECRET_LENGTH and c != MASK)
    _known = tuple(sorted(found, key=len, reverse=True))  # longest first: no partial leftovers


def forget_secrets() -> None:
    """Drop the remembered secrets (tests)."""
    global _known  # noqa: PLW0603
    _known = ()


def _url_password(value: str) -> str | None:
    if "://" not in value:
        return None
    try:
        return urlsplit(value).password
    except ValueError:
        return None


def _secret_strings(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_strings(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secret_strings(item)


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog once for the process; ``auto`` picks console on a TTY."""
    out = stream or sys.__stdout__ or sys.stdout
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,  # before redaction: tracebacks quote URLs too
        redact_secrets,
    ]
    if console:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
    else:
        processors.append(structlog.processors.JSONRenderer())
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(LEVELS[level])
    # Function log lines (START/END/REPORT, handler output) skip the processor chain;
    # what a handler writes is still scrubbed of configured secrets and URL passwords.
    if console:
        funclog.install_console_sink()
    else:
        funclog.install_sink(funclog.JsonLineSink(out, threshold=LEVELS[level], scrub=scrub_line))


def scrub_line(text: str) -> str:
    """``text`` with known secrets and URL passwords masked (cheap when there are none)."""
    return _scrub_text(text) if _known or "://" in text else text


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


def _client_error_is_debug(record: logging.LogRecord) -> bool:
    """aiohttp logs a malformed request (bad URL, header, chunking) as an error with a
    traceback; it is the client's mistake, answered 400, so it is logged at debug."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
    return True


def quiet_client_errors() -> None:
    """Install :func:`_client_error_is_debug` on aiohttp's server logger (idempotent)."""
    server = logging.getLogger("aiohttp.server")
    if _client_error_is_debug not in server.filters:
        server.addFilter(_client_error_is_debug)
