"""Small formatting helpers shared by the event builders (UTC timestamps, base64)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""English month abbreviations (``%b`` depends on the process locale, AWS's output does not)."""


def utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC)


def iso_ms(moment: datetime) -> str:
    """``2019-11-14T18:16:05.568Z``: ISO-8601 UTC with milliseconds (truncated) and ``Z``."""
    d = utc(moment)
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        f".{d.microsecond // 1000:03d}Z"
    )


def iso_seconds(moment: datetime) -> str:
    """``2019-03-01T01:23:45Z``: ISO-8601 UTC with second precision and ``Z``."""
    d = utc(moment)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z"


def iso_ms_epoch(seconds: float) -> str:
    """:func:`iso_ms` for a POSIX timestamp in seconds."""
    return iso_ms(datetime.fromtimestamp(seconds, UTC))


def clf_time(moment: datetime) -> str:
    """``09/Apr/2015:12:34:56 +0000``: the API Gateway request-time format, always UTC."""
    d = utc(moment)
    return (
        f"{d.day:02d}/{MONTHS[d.month - 1]}/{d.year:04d}:"
        f"{d.hour:02d}:{d.minute:02d}:{d.second:02d} +0000"
    )


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def b64(data: bytes) -> str:
    """Standard base64 (with padding) of ``data`` as ``str``."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def unb64(text: str | bytes) -> bytes:
    """Decode standard base64, rejecting characters outside the alphabet (``ValueError``)."""
    return base64.b64decode(text, validate=True)
