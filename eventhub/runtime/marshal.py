"""JSON encoding of handler results, as Lambda's Python runtime does it."""

from __future__ import annotations

import decimal
import json
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encoder = json.JSONEncoder(ensure_ascii=False, default=_default)


def to_json(value: Any) -> bytes:
    """Encode a handler result; ``bytes`` pass through raw. Raises TypeError or ValueError."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return _encoder.encode(value).encode()
