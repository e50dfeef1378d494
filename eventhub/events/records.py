"""Destination records: async invocation records and stream/Kafka on-failure records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from eventhub.events._common import iso_ms, iso_ms_epoch

AsyncCondition = Literal["Success", "RetriesExhausted", "EventAgeExceeded"]
StreamCondition = Literal["RetryAttemptsExhausted", "RecordAgeExceeded"]
KafkaCondition = Literal[
    "RetryAttemptsExhausted", "RecordAgeExceeded", "MaximumPayloadSizeExceeded"
]

_ASYNC_CONDITIONS = frozenset({"Success", "RetriesExhausted", "EventAgeExceeded"})
_STREAM_CONDITIONS = frozenset({"RetryAttemptsExhausted", "RecordAgeExceeded"})
_KAFKA_CONDITIONS = _STREAM_CONDITIONS | {"MaximumPayloadSizeExceeded"}


def _check(condition: str, allowed: frozenset[str]) -> None:
    if condition not in allowed:
        raise ValueError(f"condition must be one of {sorted(allowed)}, got {condition!r}")


def _request_context(
    request_id: str, function_arn: str, condition: str, approximate_invoke_count: int
) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "functionArn": function_arn,
        "condition": condition,
        "approximateInvokeCount": approximate_invoke_count,
    }


def response_context(
    function_error: str | None, executed_version: str = "$LATEST", status_code: int = 200
) -> dict[str, Any]:
    """``responseContext``: ``statusCode``, ``executedVersion`` and, on failure only,
    ``functionError`` (``Unhandled``)."""
    context: dict[str, Any] = {"statusCode": status_code, "executedVersion": executed_version}
    if function_error is not None:
        context["functionError"] = function_error
    return context


def async_invocation_record(
    *,
    request_id: str,
    function_arn: str,
    condition: AsyncCondition,
    approximate_invoke_count: int,
    request_payload: Any,
    response_payload: Any | None,
    function_error: str | None,
    timestamp: datetime,
    executed_version: str = "$LATEST",
) -> dict[str, Any]:
    """The record an async invocation sends to its OnSuccess/OnFailure destination.

    ``function_arn`` includes the qualifier (``...:function:f:$LATEST``); ``request_payload``
    is the original event and ``response_payload`` the function's result or error document
    (both referenced, not copied); ``timestamp`` is rendered ISO-8601 UTC with milliseconds.
    ``responseContext.functionError`` is present only when ``function_error`` is given.
    """
    _check(condition, _ASYNC_CONDITIONS)
    return {
        "version": "1.0",
        "timestamp": iso_ms(timestamp),
        "requestContext": _request_context(
            request_id, function_arn, condition, approximate_invoke_count
        ),
        "requestPayload": request_payload,
        "responseContext": response_context(function_error, executed_version),
        "responsePayload": response_payload,
    }


def kinesis_batch_info_record(
    *,
    request_id: str,
    function_arn: str,
    condition: StreamCondition,
    approximate_invoke_count: int,
    function_error: str | None,
    shard_id: str,
    start_sequence_number: str,
    end_sequence_number: str,
    first_arrival: float,
    last_arrival: float,
    batch_size: int,
    stream_arn: str,
    timestamp: datetime,
    executed_version: str = "$LATEST",
    payload: str | None = None,
) -> dict[str, Any]:
    """The Kinesis ESM on-failure record (metadata only, ``KinesisBatchInfo``).

    Arrival times are POSIX seconds, rendered ISO-8601 UTC with milliseconds. ``payload`` (the
    whole invocation event as a JSON string) is added only when given, as S3 destinations get.
    """
    _check(condition, _STREAM_CONDITIONS)
    record: dict[str, Any] = {
        "requestContext": _request_context(
            request_id, function_arn, condition, approximate_invoke_count
        ),
        "responseContext": response_context(function_error, executed_version),
        "version": "1.0",
        "timestamp": iso_ms(timestamp),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": start_sequence_number,
            "endSequenceNumber": end_sequence_number,
            "approximateArrivalOfFirstRecord": iso_ms_epoch(first_arrival),
            "approximateArrivalOfLastRecord": iso_ms_epoch(last_arrival),
            "batchSize": batch_size,
            "streamArn": stream_arn,
        },
    }
    if payload is not None:
        record["payload"] = payload
    return record


def kafka_records_info(
    records_by_partition: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, dict[str, str]]:
    """``recordsInfo`` for a Kafka event's ``records`` map: per ``"<topic>-<partition>"`` the
    first/last offsets (as strings) and timestamps (ISO-8601 UTC ms) of that partition's records.
    Partitions with no records are skipped.
    """
    info: dict[str, dict[str, str]] = {}
    for key, records in records_by_partition.items():
        if not records:
            continue
        first, last = records[0], records[-1]
        info[key] = {
            "firstRecordOffset": str(first["offset"]),
            "lastRecordOffset": str(last["offset"]),
            "firstRecordTimestamp": iso_ms_epoch(first["timestamp"] / 1000),
            "lastRecordTimestamp": iso_ms_epoch(last["timestamp"] / 1000),
        }
    return info


def kafka_batch_info_record(
    *,
    request_id: str,
    function_arn: str,
    condition: KafkaCondition,
    approximate_invoke_count: int,
    function_error: str | None,
    batch_size: int,
    event_source_arn: str | None,
    bootstrap_servers: str,
    payload_size: int,
    records_info: Mapping[str, Mapping[str, str]],
    timestamp: datetime,
    executed_version: str = "$LATEST",
    payload: Any = None,
) -> dict[str, Any]:
    """The Kafka ESM on-failure record (``KafkaBatchInfo``).

    ``records_info`` is usually :func:`kafka_records_info` of the failed event's ``records``;
    ``payload_size`` is the event's size in bytes. ``responseContext`` is ``null`` for
    ``MaximumPayloadSizeExceeded`` (the function was never invoked). ``eventSourceArn`` is left
    out when ``event_source_arn`` is ``None`` (self-managed clusters have no ARN);
    ``payload`` is added only when given (S3 destinations).
    """
    _check(condition, _KAFKA_CONDITIONS)
    batch_info: dict[str, Any] = {"batchSize": batch_size}
    if event_source_arn is not None:
        batch_info["eventSourceArn"] = event_source_arn
    batch_info["bootstrapServers"] = bootstrap_servers
    batch_info["payloadSize"] = payload_size
    batch_info["recordsInfo"] = {key: dict(value) for key, value in records_info.items()}
    record: dict[str, Any] = {
        "requestContext": _request_context(
            request_id, function_arn, condition, approximate_invoke_count
        ),
        "responseContext": (
            None
            if condition == "MaximumPayloadSizeExceeded"
            else response_context(function_error, executed_version)
        ),
        "version": "1.0",
        "timestamp": iso_ms(timestamp),
        "KafkaBatchInfo": batch_info,
    }
    if payload is not None:
        record["payload"] = payload
    return record
