"""Kinesis Data Streams event (``{"Records": [...]}``) and its tumbling-window variant."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from eventhub.events._common import b64, iso_seconds


def stream_arn(region: str, account: str, name: str) -> str:
    """``arn:aws:kinesis:<region>:<account>:stream/<name>``."""
    return f"arn:aws:kinesis:{region}:{account}:stream/{name}"


def shard_id(index: int) -> str:
    """Kinesis shard id for shard number ``index``: ``shardId-000000000006``."""
    return f"shardId-{index:012d}"


def kinesis_record(
    *,
    shard_id: str,
    sequence_number: str,
    partition_key: str,
    data: bytes,
    arrival: float,
    stream_arn: str,
    region: str,
    invoke_identity_arn: str,
) -> dict[str, Any]:
    """One Kinesis record as Lambda delivers it.

    ``data`` is emitted as base64; ``arrival`` (POSIX seconds) becomes the numeric
    ``approximateArrivalTimestamp`` rounded to milliseconds; ``eventID`` is
    ``<shard_id>:<sequence_number>``; ``sequence_number`` stays a decimal string.
    """
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence_number,
            "data": b64(data),
            "approximateArrivalTimestamp": round(arrival, 3),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": invoke_identity_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def kinesis_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``{"Records": [...]}`` holding ``records`` in order (a list is used as is, not copied)."""
    return {"Records": records if isinstance(records, list) else list(records)}


def tumbling_window_event(
    records: Iterable[dict[str, Any]],
    *,
    window_start: datetime,
    window_end: datetime,
    state: Mapping[str, Any],
    shard_id: str,
    stream_arn: str,
    final: bool,
    terminated_early: bool,
) -> dict[str, Any]:
    """A tumbling-window invocation: the Kinesis event plus the window fields.

    ``window.start``/``window.end`` are ISO-8601 UTC with second precision (naive datetimes are
    taken as UTC); ``state`` is the state the previous invocation returned (``{}`` at a window's
    start) and is copied; ``records`` may be empty for the final invocation.
    """
    event = kinesis_event(records)
    event["window"] = {"start": iso_seconds(window_start), "end": iso_seconds(window_end)}
    event["state"] = dict(state)
    event["shardId"] = shard_id
    event["eventSourceARN"] = stream_arn
    event["isFinalInvokeForWindow"] = final
    event["isWindowTerminatedEarly"] = terminated_early
    return event
