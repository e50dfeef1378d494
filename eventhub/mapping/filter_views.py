"""Record views for event filtering: what a pattern sees of each source's record.

What filters see, per source (the ``*_view`` helpers):

* SQS: AWS matches ``body`` as JSON when it is valid JSON, else as a string, and drops a message
  whose body format differs from the pattern's. We parse bodies that are a JSON object or array;
  other bodies stay strings, and a nested ``body`` pattern then fails (the message is dropped).
* Kinesis: AWS base64-decodes ``data``, which must be JSON; a non-JSON record is dropped when a
  pattern uses ``data``. Our view is the record's outer metadata (``eventSource``, ``awsRegion``,
  ...) plus the ``kinesis`` object's fields (``partitionKey``, ``sequenceNumber``, ...) with
  ``data`` decoded. ``kinesis_view(record, filters)`` returns None (drop) for undecodable data
  when ``filters.uses_key("data")``; otherwise ``data`` is left out and metadata is matched.
* Kafka (``key``, ``value``) and Amazon MQ (``data``): AWS decodes the bytes as UTF-8 (JSON or
  plain string) and, when they are not UTF-8 or their format differs from the pattern's (plain
  text against a nested pattern, a JSON object against a list of values), filters on metadata
  only without dropping the record. Our views parse JSON objects/arrays, keep other text as a
  string, and remove a field that is not base64 of UTF-8; when ``fits`` says no, callers match
  with ``filters.without_key(field)`` so that conditions on the payload are ignored rather
  than failed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final

from eventhub.mapping.filters import FilterSet, Record

_NOT_JSON: Final = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_container(text: str) -> Any:
    """The JSON object or array that ``text`` holds, else ``_NOT_JSON``."""
    if text.lstrip(" \t\r\n")[:1] not in ("{", "["):
        return _NOT_JSON
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _base64_text(data: Any) -> str | None:
    """The UTF-8 text that base64 string ``data`` encodes, or None."""
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError
        return None


def _decode_field(view: dict[str, Any], field: str) -> None:
    raw = view.get(field)
    if not isinstance(raw, str):
        return  # absent, or null (Kafka tombstone or no key): matched as it is
    text = _base64_text(raw)
    if text is None:
        del view[field]
        return
    parsed = _json_container(text)
    view[field] = text if parsed is _NOT_JSON else parsed


def sqs_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an SQS record with ``body`` parsed when it is a JSON object or array."""
    view = dict(record)
    body = view.get("body")
    if isinstance(body, str):
        parsed = _json_container(body)
        if parsed is not _NOT_JSON:
            view["body"] = parsed
    return view


def kinesis_view(record: Record, filters: FilterSet | None = None) -> dict[str, Any] | None:
    """The filter view of a Kinesis event record: outer metadata plus the ``kinesis`` fields.

    ``data`` is base64-decoded and parsed as a JSON object or array. When that fails the view
    leaves ``data`` out, or None is returned (drop the record) if ``filters`` uses ``data``.
    """
    view = {k: v for k, v in record.items() if k != "kinesis"}
    inner = record.get("kinesis")
    if isinstance(inner, Mapping):
        view.update(inner)
    text = _base64_text(view.pop("data", None))
    parsed = _NOT_JSON if text is None else _json_container(text)
    if parsed is not _NOT_JSON:
        view["data"] = parsed
        return view
    return None if filters is not None and filters.uses_key("data") else view


def kafka_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Kafka record with ``key`` and ``value`` decoded; never None.

    Each becomes the parsed JSON object/array or the plain text. A field that is not base64 of
    UTF-8 is removed: match such a record with ``filters.without_key(field)``.
    """
    view = dict(record)
    _decode_field(view, "key")
    _decode_field(view, "value")
    return view


def rmq_view(message: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an Amazon MQ (RabbitMQ or ActiveMQ) message with ``data`` decoded as Kafka's."""
    view = dict(message)
    _decode_field(view, "data")
    return view


def fits(view: Mapping[str, Any], field: str, shapes: frozenset[str]) -> bool:
    """Whether the patterns can match the decoded ``field`` of a Kafka or MQ view: it is
    there (UTF-8) and has the format they use (``FilterSet.shapes``): a JSON object for a
    nested pattern, anything else for a list of values. If not, AWS matches metadata only."""
    if field not in view:
        return False
    if not shapes:
        return True
    return ("object" if isinstance(view[field], dict) else "leaf") in shapes
