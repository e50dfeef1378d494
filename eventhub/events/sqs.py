"""SQS event (``{"Records": [...]}``) as Lambda's SQS event source mapping delivers it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from eventhub.events._common import b64, unb64

_STRING_TRANSPORT = b"\x01"
_BINARY_TRANSPORT = b"\x02"


def queue_arn(region: str, account: str, name: str) -> str:
    """``arn:aws:sqs:<region>:<account>:<name>``."""
    return f"arn:aws:sqs:{region}:{account}:{name}"


def message_attribute(
    data_type: str, *, string_value: str | None = None, binary_value: bytes | None = None
) -> dict[str, Any]:
    """One ``messageAttributes`` entry in Lambda's shape.

    Exactly one of ``string_value`` (String/Number types) or ``binary_value`` (Binary types,
    emitted as base64) is expected; the list fields are always empty lists, as SQS reserves them.
    """
    attribute: dict[str, Any] = {}
    if string_value is not None:
        attribute["stringValue"] = string_value
    if binary_value is not None:
        attribute["binaryValue"] = b64(binary_value)
    attribute["stringListValues"] = []
    attribute["binaryListValues"] = []
    attribute["dataType"] = data_type
    return attribute


def _lambda_attribute(value: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Normalise one attribute to Lambda's shape; also return its value bytes for the digest.

    Accepts Lambda's camelCase shape (``dataType``/``stringValue``/``binaryValue`` base64) and
    the SQS API's PascalCase shape (``DataType``/``StringValue``/``BinaryValue``); a binary
    value may be ``bytes`` or base64 text in either shape.
    """
    camel = "dataType" in value
    data_type: str = value["dataType" if camel else "DataType"]
    string_value = value.get("stringValue" if camel else "StringValue")
    binary = value.get("binaryValue" if camel else "BinaryValue")
    if data_type.startswith("Binary"):
        if binary is None:
            raise ValueError(f"message attribute of type {data_type!r} has no binary value")
        raw = binary if isinstance(binary, bytes | bytearray) else unb64(binary)
        return message_attribute(data_type, binary_value=bytes(raw)), bytes(raw)
    if string_value is None:
        raise ValueError(f"message attribute of type {data_type!r} has no string value")
    text = str(string_value)
    return message_attribute(data_type, string_value=text), text.encode()


def _digest_update(digest: Any, part: bytes) -> None:
    digest.update(len(part).to_bytes(4, "big"))
    digest.update(part)


def _attributes_md5(entries: Iterable[tuple[str, str, bytes]]) -> str:
    """SQS's digest over (name, dataType, value bytes) triples, already sorted by name."""
    digest = hashlib.md5(usedforsecurity=False)
    for name, data_type, raw in entries:
        _digest_update(digest, name.encode())
        _digest_update(digest, data_type.encode())
        digest.update(_BINARY_TRANSPORT if data_type.startswith("Binary") else _STRING_TRANSPORT)
        _digest_update(digest, raw)
    return digest.hexdigest()


def md5_of_message_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """``MD5OfMessageAttributes`` exactly as SQS computes it, or ``None`` when there are none.

    For each attribute in name order: 4-byte big-endian length + UTF-8 name, the same for the
    data type, a transport byte (1 String/Number, 2 Binary), then length + value bytes.
    Accepts both attribute shapes described in :func:`_lambda_attribute`.
    """
    if not attributes:
        return None
    entries = []
    for name, value in attributes.items():
        attribute, raw = _lambda_attribute(value)
        entries.append((name, attribute["dataType"], raw))
    entries.sort()
    return _attributes_md5(entries)


def md5_of_body(body: str) -> str:
    """``MD5OfBody``: MD5 hex digest of the UTF-8 body."""
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()


def sqs_record(
    *,
    message_id: str,
    receipt_handle: str,
    body: str,
    attributes: Mapping[str, str],
    message_attributes: Mapping[str, Mapping[str, Any]],
    queue_arn: str,
    region: str,
    md5_body: str | None = None,
) -> dict[str, Any]:
    """One SQS record as Lambda delivers it.

    ``attributes`` are the system attributes (all values strings: ``ApproximateReceiveCount``,
    ``SentTimestamp``, ``SenderId``, ``ApproximateFirstReceiveTimestamp``, FIFO extras) and
    are copied. ``message_attributes`` may use Lambda's or the SQS API's shape; they are emitted
    in Lambda's shape. ``md5OfBody`` is computed unless ``md5_body`` is given (queues that
    stored it at send time pass it to skip the hash); ``md5OfMessageAttributes`` is present only
    when there are message attributes, as in AWS's examples.
    """
    record: dict[str, Any] = {
        "messageId": message_id,
        "receiptHandle": receipt_handle,
        "body": body,
        "attributes": dict(attributes),
    }
    if message_attributes:
        shaped: dict[str, Any] = {}
        entries = []
        for name, value in message_attributes.items():
            attribute, raw = _lambda_attribute(value)
            shaped[name] = attribute
            entries.append((name, attribute["dataType"], raw))
        entries.sort()
        record["messageAttributes"] = shaped
        record["md5OfMessageAttributes"] = _attributes_md5(entries)
    else:
        record["messageAttributes"] = {}
    record["md5OfBody"] = md5_body if md5_body is not None else md5_of_body(body)
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = region
    return record


def sqs_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``{"Records": [...]}`` holding ``records`` in order (a list is used as is, not copied)."""
    return {"Records": records if isinstance(records, list) else list(records)}
