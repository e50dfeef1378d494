"""Amazon MQ for RabbitMQ event (``aws:rmq``, messages grouped by ``"<queue>::<vhost>"``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eventhub.events._common import MONTHS, b64, utc


def broker_arn(region: str, account: str, name: str, broker_id: str) -> str:
    """``arn:aws:mq:<region>:<account>:broker:<name>:<broker-id>``."""
    return f"arn:aws:mq:{region}:{account}:broker:{name}:{broker_id}"


def java_date(moment: datetime) -> str:
    """Java's default ``Date`` text, as Lambda writes ``timestamp``: ``Jan 1, 1970, 12:33:41 AM``.

    Always UTC (naive datetimes are taken as UTC), English month names, 12-hour clock.
    """
    d = utc(moment)
    hour = d.hour % 12 or 12
    half = "AM" if d.hour < 12 else "PM"
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}, {hour}:{d.minute:02d}:{d.second:02d} {half}"


def header_value(value: Any) -> Any:
    """One AMQP table value the way Lambda serialises it.

    Strings (AMQP long strings) and bytes become ``{"bytes": [unsigned ints]}``; numbers and
    booleans stay as they are (``Decimal`` becomes ``float``); nested tables and arrays are
    converted element by element; datetimes become :func:`java_date` strings; ``None`` stays.
    """
    if isinstance(value, str):
        return {"bytes": list(value.encode())}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": list(bytes(value))}
    if isinstance(value, Mapping):
        return {str(k): header_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [header_value(v) for v in value]
    if isinstance(value, datetime):
        return java_date(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def _expiration(value: Any) -> str | None:
    """AMQP ``expiration`` (milliseconds) as the string Lambda shows; ``None`` stays ``None``."""
    if value is None or isinstance(value, str):
        return value
    return str(int(value))


def _headers(value: Any) -> Any:
    return None if value is None else header_value(value)


def _timestamp(value: datetime | float | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return java_date(value)
    return java_date(datetime.fromtimestamp(value, UTC))


def _same(value: Any) -> Any:
    return value


# (python name, basicProperties key, conversion), in the order AWS writes them.
_PROPERTIES: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("content_type", "contentType", _same),
    ("content_encoding", "contentEncoding", _same),
    ("headers", "headers", _headers),
    ("delivery_mode", "deliveryMode", _same),
    ("priority", "priority", _same),
    ("correlation_id", "correlationId", _same),
    ("reply_to", "replyTo", _same),
    ("expiration", "expiration", _expiration),
    ("message_id", "messageId", _same),
    ("timestamp", "timestamp", _timestamp),
    ("type", "type", _same),
    ("user_id", "userId", _same),
    ("app_id", "appId", _same),
    ("cluster_id", "clusterId", _same),
)


def basic_properties(properties: Mapping[str, Any], body_size: int) -> dict[str, Any]:
    """``basicProperties`` from AMQP basic properties given as plain python.

    Keys read (all optional, missing means ``null``): content_type, content_encoding, headers
    (dict, see :func:`header_value`), delivery_mode, priority, correlation_id, reply_to,
    expiration (milliseconds, str or int; emitted as str), message_id, timestamp (datetime or
    POSIX seconds, emitted by :func:`java_date`), type, user_id, app_id, cluster_id;
    ``bodySize`` is appended.
    """
    out = {key: convert(properties.get(name)) for name, key, convert in _PROPERTIES}
    out["bodySize"] = body_size
    return out


def rmq_message(*, body: bytes, properties: Mapping[str, Any], redelivered: bool) -> dict[str, Any]:
    """One RabbitMQ message: ``{basicProperties, redelivered, data: base64(body)}``."""
    return {
        "basicProperties": basic_properties(properties, len(body)),
        "redelivered": redelivered,
        "data": b64(body),
    }


def rmq_event(
    messages: Iterable[dict[str, Any]], *, queue: str, vhost: str, broker_arn: str
) -> dict[str, Any]:
    """The RabbitMQ event: ``messages``, in order, under ``"<queue>::<vhost>"``."""
    return {
        "eventSource": "aws:rmq",
        "eventSourceArn": broker_arn,
        "rmqMessagesByQueue": {
            f"{queue}::{vhost}": messages if isinstance(messages, list) else list(messages)
        },
    }
