"""What a queue mapping hands its function: SQS events or Amazon MQ (RabbitMQ) events.

A format turns received ``QueueMessage`` objects into AWS records (built by
``eventhub.events``), tells which records pass the mapping's filters, wraps the kept ones
in an event, and names each message's ``itemIdentifier`` for partial batch responses.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from eventhub.events._common import b64
from eventhub.events.rmq import rmq_event, rmq_message
from eventhub.events.sqs import message_attribute, sqs_event, sqs_record
from eventhub.mapping.filter_views import fits, rmq_view, sqs_view
from eventhub.mapping.filters import FilterSet
from eventhub.sources import QueueMessage

BODY_ENCODING_ATTRIBUTE = "eventhub.body-encoding"
"""Set to ``base64`` on SQS-shaped records whose RabbitMQ body is not UTF-8 text."""

# Bytes of JSON around one record beyond its body (ids, attributes, ARNs): a safe estimate
# for keeping a batch under the 6 MB invocation payload without encoding it twice.
RECORD_OVERHEAD = 1024


class QueueEventFormat(Protocol):
    """How one mapping shapes its events."""

    filtering: bool
    """Whether the mapping has filters (without them ``passes`` need not be asked)."""

    def record(self, message: QueueMessage) -> dict[str, Any]:
        """The AWS record of one message."""
        ...

    def passes(self, record: dict[str, Any]) -> bool:
        """Whether the record passes the mapping's filters (always, without filters)."""
        ...

    def event(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The event holding ``records`` in order."""
        ...

    def identifier(self, message: QueueMessage) -> Hashable | None:
        """The ``itemIdentifier`` a handler reports for this message, None if it has none."""
        ...

    def size(self, message: QueueMessage) -> int:
        """Estimated bytes the message adds to the invocation payload."""
        ...


def _text(body: str | bytes) -> tuple[str, bool]:
    """The body as text, and whether it had to be base64-encoded (not UTF-8)."""
    if isinstance(body, str):
        return body, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return b64(body), True


def header_attribute(value: Any) -> dict[str, Any] | None:
    """An AMQP header value as an SQS message attribute (None: not representable)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return message_attribute("String", string_value="true" if value else "false")
    if isinstance(value, int | float | Decimal):
        return message_attribute("Number", string_value=str(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return message_attribute("Binary", binary_value=bytes(value))
    if isinstance(value, str):
        return message_attribute("String", string_value=value)
    if isinstance(value, datetime):
        return message_attribute("String", string_value=value.isoformat())
    return message_attribute("String", string_value=json.dumps(value, default=str))


def headers_as_attributes(properties: Mapping[str, Any] | None) -> dict[str, Any]:
    """AMQP headers as SQS message attributes (at most 10, as SQS allows)."""
    headers = (properties or {}).get("headers") or {}
    out: dict[str, Any] = {}
    for name, value in headers.items():
        attribute = header_attribute(value)
        if attribute is not None and len(out) < 10:
            out[str(name)] = attribute
    return out


class SqsFormat:
    """``{"Records": [...]}`` as Lambda's SQS mapping delivers it.

    For RabbitMQ messages: headers become message attributes, and a body that is not UTF-8
    is delivered base64-encoded with the message attribute ``eventhub.body-encoding: base64``.
    """

    def __init__(self, queue_arn: str, region: str, filters: FilterSet) -> None:
        self.queue_arn = queue_arn
        self.region = region
        self._filters = filters
        self.filtering = bool(filters.patterns)

    def record(self, message: QueueMessage) -> dict[str, Any]:
        body, encoded = _text(message.body)
        attributes = message.message_attributes
        if attributes is None:
            attributes = headers_as_attributes(message.properties)
        if encoded:
            attributes = {
                **attributes,
                BODY_ENCODING_ATTRIBUTE: message_attribute("String", string_value="base64"),
            }
        return sqs_record(
            message_id=message.message_id,
            receipt_handle=message.receipt_handle,
            body=body,
            attributes={
                "ApproximateReceiveCount": str(message.receive_count),
                **message.attributes,
            },
            message_attributes=attributes,
            queue_arn=self.queue_arn,
            region=self.region,
            md5_body=None if encoded else message.md5_of_body,
        )

    def passes(self, record: dict[str, Any]) -> bool:
        return self._filters.matches(sqs_view(record))

    def event(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return sqs_event(records)

    def identifier(self, message: QueueMessage) -> Hashable | None:
        return message.message_id

    def size(self, message: QueueMessage) -> int:
        return int(len(message.body) * 1.1) + RECORD_OVERHEAD


class RmqFormat:
    """The Amazon MQ for RabbitMQ event: messages under ``"<queue>::<vhost>"``.

    The ``itemIdentifier`` of a message is its ``basicProperties.messageId``; a message
    without one can only fail together with its whole batch.
    """

    def __init__(self, queue: str, vhost: str, broker_arn: str, filters: FilterSet) -> None:
        self.queue = queue
        self.vhost = vhost
        self.broker_arn = broker_arn
        self._filters = filters
        self.filtering = bool(filters.patterns)
        self._metadata_only = filters.without_key("data")
        self._data_shapes = filters.shapes("data")

    def record(self, message: QueueMessage) -> dict[str, Any]:
        body = message.body if isinstance(message.body, bytes) else message.body.encode()
        return rmq_message(
            body=body, properties=message.properties or {}, redelivered=message.redelivered
        )

    def passes(self, record: dict[str, Any]) -> bool:
        view = rmq_view(record)
        if not fits(view, "data", self._data_shapes):  # not UTF-8, or another format
            return self._metadata_only.matches(view)
        return self._filters.matches(view)

    def event(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return rmq_event(records, queue=self.queue, vhost=self.vhost, broker_arn=self.broker_arn)

    def identifier(self, message: QueueMessage) -> Hashable | None:
        value = (message.properties or {}).get("message_id")
        return value if isinstance(value, str) and value else None

    def size(self, message: QueueMessage) -> int:
        return len(message.body) * 4 // 3 + RECORD_OVERHEAD
