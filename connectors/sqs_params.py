"""Validating SQS API requests: errors as SQS names them, message bodies and attributes.

Errors follow the SQS JSON protocol as botocore reads it: ``__type`` is
``com.amazonaws.sqs#<ShapeName>`` and the ``x-amzn-query-error`` header carries the
legacy query code (``AWS.SimpleQueueService.NonExistentQueue;Sender``), from which
botocore picks the exception class (``client.exceptions.QueueDoesNotExist``) and the
error code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from random import getrandbits
from typing import Any

from eventhub.config.models import QueueConfig
from eventhub.events.sqs import md5_of_body, md5_of_message_attributes
from eventhub.store.queues import NewMessage

# shape name -> legacy query error code
QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "QueueNameExists": "QueueAlreadyExists",
}

MAX_BATCH = 10
_INVALID_BODY = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_-](?:[A-Za-z0-9_.-]{0,254}[A-Za-z0-9_-])?$")
_DATA_TYPE = re.compile(r"^(String|Number|Binary)(\.[A-Za-z0-9_.-]{1,250})?$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_GROUP_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


class SqsError(Exception):
    """A request SQS would refuse; ``code`` is the botocore shape name."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def query_code(self) -> str:
        return QUERY_CODES.get(self.code, self.code)


def missing(name: str) -> SqsError:
    return SqsError("MissingParameter", f"The request must contain the parameter {name}.")


def invalid(name: str, value: Any, reason: str) -> SqsError:
    return SqsError(
        "InvalidParameterValue",
        f"Value {value!r} for parameter {name} is invalid. Reason: {reason}",
    )


def string(payload: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string member; MissingParameter / InvalidParameterValue when absent or not a string."""
    value = payload.get(name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str):
        raise invalid(name, value, "must be a string.")
    return value


def integer(payload: dict[str, Any], name: str, low: int, high: int) -> int | None:
    """An optional integer member within ``low..high``."""
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(name, value, f"Must be between {low} and {high}, if provided.")
    return value


def str_list(payload: dict[str, Any], name: str) -> list[str]:
    value = payload.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(name, value, "must be a list of strings.")
    return value


def check_body(body: str) -> None:
    if not body:
        raise missing("MessageBody")
    bad = _INVALID_BODY.search(body)
    if bad is not None:
        raise SqsError(
            "InvalidMessageContents",
            f"Invalid characters found. Character {ord(bad.group()):#x} is not allowed in "
            "a message body (XML 1.0 characters only, as SQS).",
        )


def _attribute(name: str, raw: Any) -> tuple[dict[str, str], int]:
    """One message attribute normalised to the SQS API shape, and its size in bytes."""
    if (
        not _ATTRIBUTE_NAME.match(name)
        or ".." in name
        or name.lower().startswith(("aws.", "amazon."))
    ):
        raise invalid("MessageAttributes", name, "the attribute name is not valid.")
    if not isinstance(raw, dict):
        raise invalid("MessageAttributes", name, "an attribute must be an object.")
    data_type = raw.get("DataType")
    if not isinstance(data_type, str) or not _DATA_TYPE.match(data_type):
        raise invalid(
            f"MessageAttributes.{name}.DataType",
            data_type,
            "must be String, Number or Binary, optionally with a .custom suffix.",
        )
    if data_type.startswith("Binary"):
        value = raw.get("BinaryValue")
        try:
            blob = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
        except binascii.Error:
            blob = b""
        if not blob:
            raise invalid(
                f"MessageAttributes.{name}.BinaryValue",
                value,
                "a Binary attribute needs a non-empty base64 BinaryValue.",
            )
        size = len(name) + len(data_type) + len(blob)
        return {"DataType": data_type, "BinaryValue": str(value)}, size
    text = raw.get("StringValue")
    if not isinstance(text, str) or not text:
        raise invalid(
            f"MessageAttributes.{name}.StringValue",
            text,
            f"a {data_type.split('.')[0]} attribute needs a non-empty StringValue.",
        )
    if data_type.startswith("Number"):
        try:
            float(text)
        except ValueError:
            raise invalid(f"MessageAttributes.{name}.StringValue", text, "not a number.") from None
    check_body(text)
    size = len(name) + len(data_type) + len(text.encode())
    return {"DataType": data_type, "StringValue": text}, size


def attributes(raw: Any) -> tuple[dict[str, dict[str, str]], int]:
    """``MessageAttributes`` validated (at most 10) and their size in bytes."""
    if raw is None:
        return {}, 0
    if not isinstance(raw, dict):
        raise invalid("MessageAttributes", raw, "must be a map.")
    if len(raw) > 10:
        raise invalid("MessageAttributes", len(raw), "a message can have at most 10 attributes.")
    out: dict[str, dict[str, str]] = {}
    size = 0
    for name, value in raw.items():
        out[name], weight = _attribute(name, value)
        size += weight
    return out, size


def system_attributes(raw: Any) -> dict[str, str]:
    """``MessageSystemAttributes``: only ``AWSTraceHeader`` (a String) exists."""
    if not raw:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"AWSTraceHeader"}:
        raise invalid("MessageSystemAttributes", raw, "only AWSTraceHeader is supported.")
    header = raw["AWSTraceHeader"]
    if not isinstance(header, dict) or not isinstance(header.get("StringValue"), str):
        raise invalid("MessageSystemAttributes", raw, "AWSTraceHeader needs a StringValue.")
    return {"AWSTraceHeader": header["StringValue"]}


def message_id() -> str:
    """A random version-4 UUID string, cheaper than ``uuid.uuid4()`` (a message id needs
    uniqueness, not unpredictability; os.urandom per message costs more than the rest of
    a send)."""
    n = getrandbits(128)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[n & 3]}{h[17:20]}-{h[20:]}"


_PLAIN = frozenset({"Id", "QueueUrl", "MessageBody"})


def new_message(entry: dict[str, Any], queue: QueueConfig) -> tuple[NewMessage, int]:
    """A SendMessage request (or SendMessageBatch entry) as a message to store, and its
    size in bytes (body and attributes, as SQS counts them)."""
    body = string(entry, "MessageBody") or ""
    check_body(body)
    if not queue.fifo and _PLAIN.issuperset(entry):  # the common case, kept cheap
        size = len(body.encode())
        if size > queue.max_message_size:
            raise _too_large(size, queue)
        message = NewMessage(
            message_id(), body, md5_of_body(body), delay_ms=queue.delay_seconds * 1000
        )
        return message, size
    shaped, attr_size = attributes(entry.get("MessageAttributes"))
    system = system_attributes(entry.get("MessageSystemAttributes"))
    size = len(body.encode()) + attr_size
    if size > queue.max_message_size:
        raise _too_large(size, queue)
    delay = integer(entry, "DelaySeconds", 0, 900)
    group, dedup = _fifo_ids(entry, queue, body, delay)
    message = NewMessage(
        message_id=message_id(),
        body=body,
        md5=md5_of_body(body),
        attributes=json.dumps(shaped) if shaped else None,
        md5_attributes=md5_of_message_attributes(shaped) if shaped else None,
        system=json.dumps(system) if system else None,
        delay_ms=(queue.delay_seconds if delay is None else delay) * 1000,
        group_id=group,
        dedup_id=dedup,
    )
    return message, size


def _too_large(size: int, queue: QueueConfig) -> SqsError:
    return invalid(
        "MessageBody",
        f"{size} bytes",
        f"Message must be shorter than {queue.max_message_size} bytes.",
    )


def _fifo_ids(
    entry: dict[str, Any], queue: QueueConfig, body: str, delay: int | None
) -> tuple[str | None, str | None]:
    group = string(entry, "MessageGroupId", required=False)
    dedup = string(entry, "MessageDeduplicationId", required=False)
    if not queue.fifo:
        if dedup is not None:
            raise invalid(
                "MessageDeduplicationId",
                dedup,
                "The request includes a parameter that is not valid for this queue type.",
            )
        return None, None  # a group id on a standard queue is accepted and has no effect
    if delay is not None:
        raise invalid(
            "DelaySeconds",
            delay,
            "The request include parameter that is not valid for this queue type.",
        )
    if group is None:
        raise missing("MessageGroupId")
    if not _GROUP_ID.match(group):
        raise invalid("MessageGroupId", group, "up to 128 printable ASCII characters.")
    if dedup is None:
        if not queue.content_based_deduplication:
            raise invalid(
                "MessageDeduplicationId",
                None,
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly.",
            )
        dedup = hashlib.sha256(body.encode()).hexdigest()
    elif not _GROUP_ID.match(dedup):
        raise invalid("MessageDeduplicationId", dedup, "up to 128 printable ASCII characters.")
    return group, dedup


def batch_entries(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """``Entries`` of a batch request: 1..10 objects with distinct valid ``Id``s."""
    entries = payload.get("Entries")
    if entries is None:
        raise missing("Entries")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise invalid("Entries", entries, "must be a list of objects.")
    if not entries:
        raise SqsError("EmptyBatchRequest", "There should be at least one entry in the request.")
    if len(entries) > MAX_BATCH:
        raise SqsError(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(entries)}.",
        )
    ids = [e.get("Id") for e in entries]
    for entry_id in ids:
        if not isinstance(entry_id, str) or not _BATCH_ID.match(entry_id):
            raise SqsError(
                "InvalidBatchEntryId",
                f"A batch entry id can only contain alphanumeric characters, hyphens and "
                f"underscores. It can be at most 80 letters long. Got {entry_id!r}.",
            )
    if len(set(ids)) != len(ids):
        raise SqsError("BatchEntryIdsNotDistinct", "Two or more batch entries have the same Id.")
    return entries


def encode_receipt(seq: int, token: int) -> str:
    return base64.urlsafe_b64encode(f"{seq}:{token}".encode()).decode()


def decode_receipt(handle: Any) -> tuple[int, int]:
    """``(seq, token)`` of a receipt handle; ReceiptHandleIsInvalid when it is not ours."""
    try:
        seq, token = base64.urlsafe_b64decode(str(handle).encode()).decode().split(":")
        return int(seq), int(token)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise SqsError(
            "ReceiptHandleIsInvalid",
            f'The input receipt handle "{handle}" is not a valid receipt handle.',
        ) from None
