"""Shard iterators of the Kinesis-compatible API: opaque tokens naming a position.

A token is the base64 of ``stream|shard index|record counter|issued ms``. As in Kinesis it
expires five minutes after it was issued (GetRecords answers ExpiredIteratorException);
each GetRecords answer carries a fresh one.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Sequence
from typing import Any, Final

from eventhub.store.streams import Row

LIFETIME_MS: Final = 300_000
MAX_GET_RECORDS: Final = 10_000
MAX_RESPONSE_BYTES: Final = 10 * 1_048_576  # GetRecords returns at most 10 MiB


class ExpiredIterator(Exception):  # noqa: N818 - Kinesis's ExpiredIteratorException
    """The iterator was issued more than five minutes ago."""


def encode(stream: str, index: int, position: int, now_ms: int | None = None) -> str:
    issued = int(time.time() * 1000) if now_ms is None else now_ms
    return base64.b64encode(f"{stream}|{index}|{position}|{issued}".encode()).decode("ascii")


def decode(token: Any, now_ms: int | None = None) -> tuple[str, int, int]:
    """``(stream, shard index, record counter)``; ValueError when malformed,
    ExpiredIterator when older than five minutes."""
    if not isinstance(token, str) or not token:
        raise ValueError("no iterator")
    try:
        text = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not an iterator") from None
    stream, index, position, issued = text.rsplit("|", 3) if text.count("|") >= 3 else [""] * 4
    if not (stream and index.isdigit() and position.isdigit() and issued.isdigit()):
        raise ValueError("not an iterator")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if now - int(issued) > LIFETIME_MS:
        raise ExpiredIterator(
            f"Iterator expired. The iterator was created at time {int(issued)} while right now "
            f"it is {now} which is further in the future than the tolerated delay of "
            f"{LIFETIME_MS} milliseconds."
        )
    return stream, int(index), int(position)


def within_response_limit(rows: Sequence[Row]) -> list[Row]:
    """The leading rows whose data fits GetRecords' 10 MiB (at least one row)."""
    total = 0
    for count, row in enumerate(rows):
        total += len(row[1]) + len(row[2])
        if total > MAX_RESPONSE_BYTES and count:
            return list(rows[:count])
    return list(rows)
