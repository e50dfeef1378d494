"""The two event shapes a stream mapping can deliver: Kinesis and (self-managed) Kafka.

A format turns a connector's raw records into *entries* (one builder call per record, with
the AWS record dict built once and the filters applied right there), groups entries into
invocation events, names the items of partial batch responses, and writes the on-failure
record. Either format works with either connector: the embedded stream in ``kafka`` format
has topic = stream name, partition = shard number and offset = sequence counter; Kafka in
``kinesis`` format has shardId = ``<topic>-<partition>``, sequenceNumber = the offset and
partitionKey = the record key as UTF-8.
"""

from __future__ import annotations

import json
from binascii import b2a_base64 as b2a
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from eventhub.events._common import iso_seconds
from eventhub.events.kafka import kafka_event, signed_bytes
from eventhub.events.kinesis import (
    kinesis_event,
    kinesis_record,
    stream_arn,
    tumbling_window_event,
)
from eventhub.events.records import (
    kafka_batch_info_record,
    kafka_records_info,
    kinesis_batch_info_record,
)
from eventhub.mapping.filter_views import fits, kafka_view, kinesis_view
from eventhub.mapping.filters import FilterSet
from eventhub.mapping.partial import identifier_key
from eventhub.sources import RecordBuilder, ShardInfo

# An entry: (position, arrival_ms, partition_key, size, record). ``record`` is the AWS record
# dict, or None when the filters dropped it (it is then checkpointed past, never invoked).
Entry = tuple[int, int, bytes | None, int, dict[str, Any] | None]
POSITION: Final = 0
ARRIVAL: Final = 1
KEY: Final = 2
SIZE: Final = 3
RECORD: Final = 4

# JSON bytes a record adds to an event besides its base64 payload (keys, ARNs, numbers).
_KINESIS_OVERHEAD: Final = 420
_KAFKA_OVERHEAD: Final = 160
_TIMESTAMP_TYPES: Final = ("CREATE_TIME", "LOG_APPEND_TIME")


@dataclass(frozen=True, slots=True)
class Window:
    """A tumbling window as the event shows it (POSIX milliseconds)."""

    start_ms: int
    end_ms: int
    state: dict[str, Any]
    final: bool
    terminated_early: bool


@dataclass(frozen=True, slots=True)
class GiveUp:
    """What an on-failure record says about the batch given up on."""

    condition: str  # RetryAttemptsExhausted | RecordAgeExceeded
    request_id: str
    invoke_count: int
    function_error: str | None
    timestamp: datetime


class EventFormat(Protocol):
    """Builds entries, events and on-failure records of one AWS shape."""

    # The on-failure condition of a record too large for any invocation (None: the record
    # is invoked alone all the same).
    oversize_condition: str | None

    def builder(self, shard: ShardInfo) -> RecordBuilder:
        """The per-record builder for ``shard``: returns an Entry (record None if filtered)."""
        ...

    def event(self, shard: ShardInfo, records: list[dict[str, Any]], window: Window | None) -> Any:
        """The invocation event holding ``records`` (in order), with the window fields."""
        ...

    def item_key(self, record: dict[str, Any]) -> Hashable:
        """The comparable identifier of ``record`` in a partial batch response."""
        ...

    def failure_record(
        self, shard: ShardInfo, records: Sequence[dict[str, Any]], info: GiveUp
    ) -> dict[str, Any]:
        """The batch-info record sent to on_failure for ``records`` (metadata only)."""
        ...


@dataclass(frozen=True, slots=True)
class FormatContext:
    """What the formats put in events besides the records."""

    region: str
    account_id: str
    function_arn: str
    filters: FilterSet | None
    bootstrap_servers: str = ""


def _iso_window(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class KinesisFormat:
    """Kinesis Data Streams events (``{"Records": [...]}``, tumbling-window fields)."""

    oversize_condition: str | None = None  # Kinesis records are at most 1 MiB

    def __init__(self, context: FormatContext) -> None:
        self._context = context
        self._role = f"arn:aws:iam::{context.account_id}:role/eventhub-lambda-role"

    def builder(self, shard: ShardInfo) -> RecordBuilder:
        filters = self._context.filters
        region, arn, role = self._context.region, self.stream_arn(shard), self._role
        shard_id, sequence = shard.id, shard.sequence_formatter()
        overhead = _KINESIS_OVERHEAD + 2 * len(arn) + len(shard_id)

        def build(
            position: int,
            key: bytes | None,
            data: bytes | None,
            timestamp_ms: int,
            headers: Sequence[tuple[str, bytes]],
            timestamp_type: int = 0,
        ) -> Entry:
            partition_key = "" if key is None else key.decode("utf-8", "replace")
            built = kinesis_record(
                shard_id=shard_id,
                sequence_number=sequence(position),
                partition_key=partition_key,
                data=data or b"",
                arrival=timestamp_ms / 1000,
                stream_arn=arn,
                region=region,
                invoke_identity_arn=role,
            )
            record: dict[str, Any] | None = built
            if filters is not None:
                view = kinesis_view(built, filters)
                if view is None or not filters.matches(view):
                    record = None
            size = overhead + len(partition_key) + 4 * len(data or b"") // 3
            return (position, timestamp_ms, key, size, record)

        return build

    def stream_arn(self, shard: ShardInfo) -> str:
        """``arn:aws:kinesis:<region>:<account>:stream/<stream or topic>``."""
        return stream_arn(self._context.region, self._context.account_id, shard.stream)

    def event(self, shard: ShardInfo, records: list[dict[str, Any]], window: Window | None) -> Any:
        if window is None:
            return kinesis_event(records)
        return tumbling_window_event(
            records,
            window_start=_iso_window(window.start_ms),
            window_end=_iso_window(window.end_ms),
            state=window.state,
            shard_id=shard.id,
            stream_arn=self.stream_arn(shard),
            final=window.final,
            terminated_early=window.terminated_early,
        )

    def item_key(self, record: dict[str, Any]) -> Hashable:
        return identifier_key(record["kinesis"]["sequenceNumber"])

    def failure_record(
        self, shard: ShardInfo, records: Sequence[dict[str, Any]], info: GiveUp
    ) -> dict[str, Any]:
        first, last = records[0]["kinesis"], records[-1]["kinesis"]
        return kinesis_batch_info_record(
            request_id=info.request_id,
            function_arn=self._context.function_arn,
            condition=info.condition,  # type: ignore[arg-type]
            approximate_invoke_count=info.invoke_count,
            function_error=info.function_error,
            shard_id=shard.id,
            start_sequence_number=first["sequenceNumber"],
            end_sequence_number=last["sequenceNumber"],
            first_arrival=first["approximateArrivalTimestamp"],
            last_arrival=last["approximateArrivalTimestamp"],
            batch_size=len(records),
            stream_arn=self.stream_arn(shard),
            timestamp=info.timestamp,
        )


class KafkaFormat:
    """Self-managed Apache Kafka events (records grouped under ``<topic>-<partition>``).

    With a tumbling window the event also carries Kinesis's window fields (``window``,
    ``state``, ``shardId``, ``isFinalInvokeForWindow``, ``isWindowTerminatedEarly``): AWS has
    no tumbling windows for Kafka, so this is eventhub's own extension.
    """

    oversize_condition: str | None = "MaximumPayloadSizeExceeded"

    def __init__(self, context: FormatContext) -> None:
        self._context = context
        filters = context.filters
        self._filters = filters
        self._without: dict[tuple[bool, bool], FilterSet | None] = {}
        self._key_shapes = self._value_shapes = frozenset[str]()
        if filters is not None:
            self._key_shapes, self._value_shapes = filters.shapes("key"), filters.shapes("value")
            self._without = {
                (True, True): filters,
                (False, True): filters.without_key("key"),
                (True, False): filters.without_key("value"),
                (False, False): filters.without_key("key").without_key("value"),
            }

    def builder(self, shard: ShardInfo) -> RecordBuilder:
        topic, partition = shard.stream, shard.index
        check = self._check if self._filters is not None else None
        types = _TIMESTAMP_TYPES

        def build(
            position: int,
            key: bytes | None,
            data: bytes | None,
            timestamp_ms: int,
            headers: Sequence[tuple[str, bytes]],
            timestamp_type: int = 0,
        ) -> Entry:
            # The hot path: this is events.kafka.kafka_record written out (a unit test keeps
            # the two identical); a call with eight keyword arguments costs more than the
            # record itself at hundreds of thousands of records per second.
            built = {
                "topic": topic,
                "partition": partition,
                "offset": position,
                "timestamp": timestamp_ms,
                "timestampType": types[timestamp_type],
                "key": None if key is None else b2a(key, newline=False).decode("ascii"),
                "value": None if data is None else b2a(data, newline=False).decode("ascii"),
                "headers": [{name: signed_bytes(raw)} for name, raw in headers] if headers else [],
            }
            record: dict[str, Any] | None = built
            if check is not None and not check(built):
                record = None
            size = _KAFKA_OVERHEAD + 4 * (len(key or b"") + len(data or b"")) // 3
            return (position, timestamp_ms, key, size, record)

        return build

    def _check(self, record: dict[str, Any]) -> bool:
        view = kafka_view(record)
        usable = (
            record["key"] is None or fits(view, "key", self._key_shapes),
            record["value"] is None or fits(view, "value", self._value_shapes),
        )
        filters = self._without[usable]
        return filters is None or filters.matches(view)

    def event(self, shard: ShardInfo, records: list[dict[str, Any]], window: Window | None) -> Any:
        event = kafka_event(records, bootstrap_servers=self._context.bootstrap_servers)
        if not records:
            event["records"] = {shard.id: []}
        if window is not None:
            event["window"] = {
                "start": iso_seconds(_iso_window(window.start_ms)),
                "end": iso_seconds(_iso_window(window.end_ms)),
            }
            event["state"] = dict(window.state)
            event["shardId"] = shard.id
            event["isFinalInvokeForWindow"] = window.final
            event["isWindowTerminatedEarly"] = window.terminated_early
        return event

    def item_key(self, record: dict[str, Any]) -> Hashable:
        return identifier_key(
            {"partition": f"{record['topic']}-{record['partition']}", "offset": record["offset"]}
        )

    def failure_record(
        self, shard: ShardInfo, records: Sequence[dict[str, Any]], info: GiveUp
    ) -> dict[str, Any]:
        grouped = kafka_event(records, bootstrap_servers=self._context.bootstrap_servers)
        return kafka_batch_info_record(
            request_id=info.request_id,
            function_arn=self._context.function_arn,
            condition=info.condition,  # type: ignore[arg-type]
            approximate_invoke_count=info.invoke_count,
            function_error=info.function_error,
            batch_size=len(records),
            event_source_arn=None,
            bootstrap_servers=self._context.bootstrap_servers,
            payload_size=len(json.dumps(grouped)),
            records_info=kafka_records_info(grouped["records"]),
            timestamp=info.timestamp,
        )
