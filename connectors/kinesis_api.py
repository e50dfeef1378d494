"""The Kinesis-compatible JSON API of the embedded streams, on ``hub.listen``.

Operations (``X-Amz-Target: Kinesis_20131202.<Op>``): PutRecord, PutRecords, ListStreams,
DescribeStreamSummary, DescribeStream, ListShards, GetShardIterator, GetRecords. boto3's
Kinesis client with ``endpoint_url`` pointed at the hub works (any region and credentials;
nothing is signed or checked). Errors are AWS JSON (``{"__type": ..., "message": ...}``):
ValidationException, ResourceNotFoundException, InvalidArgumentException,
ExpiredIteratorException, SerializationException.
Limits as Kinesis: 1-500 records per PutRecords, partition keys of 1-256 characters, a
record (data plus key) up to 1 MiB, a request up to 5 MiB of records.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from connectors import kinesis_iterators as iterators
from connectors.stream_ids import (
    SEQUENCE_WIDTH,
    sequence_formatter,
    sequence_number,
    sequence_prefix,
    shard_index,
    shard_info,
)
from eventhub.api.main import aws_json_error
from eventhub.api.state import TargetHandler
from eventhub.config.loader import LoadedConfig
from eventhub.config.models import StreamConfig
from eventhub.events.kinesis import stream_arn
from eventhub.runtime.stats import request_id
from eventhub.store.streams import HASH_SPACE, ShardState, StreamLog, starting_hash_keys

PREFIX: Final = "Kinesis_20131202."
MAX_RECORD: Final = 1_048_576
MAX_REQUEST: Final = 5 * 1_048_576
MAX_RECORDS: Final = 500
CONTENT_TYPE: Final = "application/x-amz-json-1.1"
_SHARD_IDS: Final = [f"shardId-{index:012d}" for index in range(64)]


class ApiError(Exception):
    """An AWS error answer: status, ``__type`` and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _ok(body: dict[str, Any]) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(),
        content_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id()},
    )


class KinesisApi:
    """Handlers of the Kinesis operations over the embedded streams of the live config."""

    def __init__(self, log: StreamLog, loaded: Callable[[], LoadedConfig]) -> None:
        self._log = log
        self._loaded = loaded

    def targets(self) -> dict[str, TargetHandler]:
        """The ``X-Amz-Target`` routes this API serves."""
        operations: dict[str, Callable[[dict[str, Any]], Any]] = {
            "PutRecord": self.put_record,
            "PutRecords": self.put_records,
            "ListStreams": self.list_streams,
            "DescribeStreamSummary": self.describe_stream_summary,
            "DescribeStream": self.describe_stream,
            "ListShards": self.list_shards,
            "GetShardIterator": self.get_shard_iterator,
            "GetRecords": self.get_records,
        }
        return {PREFIX + name: self._handler(op) for name, op in operations.items()}

    def _handler(self, operation: Callable[[dict[str, Any]], Any]) -> TargetHandler:
        async def handle(request: web.Request, body: bytes) -> web.StreamResponse:
            try:
                payload = _parse(body)
                return _ok(await operation(payload))
            except ApiError as exc:
                return aws_json_error(exc.status, exc.code, exc.message)

        return handle

    # -- lookups -----------------------------------------------------------------------

    def _stream(self, payload: dict[str, Any]) -> tuple[str, StreamConfig]:
        config = self._loaded().config
        name = payload.get("StreamName")
        arn = payload.get("StreamARN")
        if name is None and isinstance(arn, str):
            name = arn.rpartition(":stream/")[2] or None
            if name is not None and arn != stream_arn(
                config.hub.region, config.hub.account_id, name
            ):  # another region or account: not a stream of this hub
                raise ApiError("ResourceNotFoundException", f"Stream {arn} not found.")
        if not isinstance(name, str) or not name:
            raise ApiError(
                "ValidationException",
                "1 validation error detected: Value null at 'streamName' failed to satisfy "
                "constraint: Member must not be null",
            )
        stream = config.streams.get(name)
        if stream is None:
            raise ApiError(
                "ResourceNotFoundException",
                f"Stream {name} under account {config.hub.account_id} not found.",
            )
        return name, stream

    def _arn(self, name: str) -> str:
        hub = self._loaded().config.hub
        return stream_arn(hub.region, hub.account_id, name)

    # -- writes ------------------------------------------------------------------------

    async def put_record(self, payload: dict[str, Any]) -> dict[str, Any]:
        name, stream = self._stream(payload)
        record = _entry(payload, stream.shards, None)
        [appended] = await self._log.append(name, [record])
        return {
            "ShardId": shard_info(name, appended.shard).id,
            "SequenceNumber": sequence_number(appended.shard, appended.seq),
            "EncryptionType": "NONE",
        }

    async def put_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        name, stream = self._stream(payload)
        entries = payload.get("Records")
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_RECORDS:
            count = len(entries) if isinstance(entries, list) else "null"
            raise ApiError(
                "ValidationException",
                f"1 validation error detected: Value '{count}' at 'records' failed to satisfy "
                f"constraint: Member must have length between 1 and {MAX_RECORDS}",
            )
        records = [_entry(entry, stream.shards, index) for index, entry in enumerate(entries)]
        total = sum(len(key) + len(data) for _, key, data in records)
        if total > MAX_REQUEST:
            raise ApiError(
                "InvalidArgumentException",
                f"Records size exceeds {MAX_REQUEST} bytes for request.",
            )
        appended = await self._log.append(name, records)
        return {
            "FailedRecordCount": 0,
            "Records": [
                {
                    "SequenceNumber": sequence_formatter(a.shard)(a.seq),
                    "ShardId": _SHARD_IDS[a.shard],
                }
                for a in appended
            ],
            "EncryptionType": "NONE",
        }

    # -- reads -------------------------------------------------------------------------

    async def list_streams(self, payload: dict[str, Any]) -> dict[str, Any]:
        names = sorted(self._loaded().config.streams)
        token = payload.get("NextToken")
        start = payload.get("ExclusiveStartStreamName")
        if token is not None:
            start = _read_token(token)[0]
        if isinstance(start, str):
            names = [name for name in names if name > start]
        limit = payload.get("Limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise ApiError("ValidationException", "Limit must be between 1 and 10000")
        shown = names[: min(limit, 100)]
        body: dict[str, Any] = {
            "StreamNames": shown,
            "HasMoreStreams": len(names) > len(shown),
            "StreamSummaries": [self._summary(name) for name in shown],
        }
        if body["HasMoreStreams"]:
            body["NextToken"] = f"{shown[-1]}|0"
        return body

    def _summary(self, name: str) -> dict[str, Any]:
        return {
            "StreamName": name,
            "StreamARN": self._arn(name),
            "StreamStatus": "ACTIVE",
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "StreamCreationTimestamp": self._created(name),
        }

    def _created(self, name: str) -> float:
        shards = self._log.shards(name)
        return min((shard.created for shard in shards), default=0.0)

    async def describe_stream_summary(self, payload: dict[str, Any]) -> dict[str, Any]:
        name, stream = self._stream(payload)
        return {
            "StreamDescriptionSummary": {
                **self._summary(name),
                "RetentionPeriodHours": stream.retention_hours,
                "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                "EncryptionType": "NONE",
                "OpenShardCount": stream.shards,
                "ConsumerCount": 0,
            }
        }

    async def describe_stream(self, payload: dict[str, Any]) -> dict[str, Any]:
        name, stream = self._stream(payload)
        summary = self._summary(name)
        del summary["StreamModeDetails"]
        limit = payload.get("Limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise ApiError("ValidationException", "Limit must be between 1 and 10000")
        shards = _after(self._shards(name, stream.shards), payload.get("ExclusiveStartShardId"))
        page = shards[: min(limit, 100)]
        return {
            "StreamDescription": {
                **summary,
                "Shards": page,
                "HasMoreShards": len(shards) > len(page),
                "RetentionPeriodHours": stream.retention_hours,
                "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                "EncryptionType": "NONE",
            }
        }

    async def list_shards(self, payload: dict[str, Any]) -> dict[str, Any]:
        token = payload.get("NextToken")
        offset = 0
        if token is not None:
            name, offset = _read_token(token)
            payload = {"StreamName": name, "MaxResults": payload.get("MaxResults", 1000)}
        name, stream = self._stream(payload)
        limit = payload.get("MaxResults", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise ApiError("ValidationException", "MaxResults must be between 1 and 10000")
        shards = self._shards(name, stream.shards)
        if token is None:  # AFTER_SHARD_ID is the only filter that leaves shards out here
            after = payload.get("ExclusiveStartShardId")
            shard_filter = payload.get("ShardFilter")
            if isinstance(shard_filter, dict) and shard_filter.get("Type") == "AFTER_SHARD_ID":
                after = shard_filter.get("ShardId", after)
            offset = len(shards) - len(_after(shards, after))
        page = shards[offset : offset + limit]
        body: dict[str, Any] = {"Shards": page}
        if offset + limit < len(shards):
            body["NextToken"] = f"{name}|{offset + limit}"
        return body

    # -- reading records back ------------------------------------------------------------

    async def get_shard_iterator(self, payload: dict[str, Any]) -> dict[str, Any]:
        name, _ = self._stream(payload)
        shard = self._shard(name, payload.get("ShardId"))
        kind = payload.get("ShardIteratorType")
        if kind == "TRIM_HORIZON":
            first = await self._log.first_seq(shard.sid)
            position = shard.tail if first is None else first
        elif kind == "LATEST":
            position = shard.tail
        elif kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            counter = _counter(payload.get("StartingSequenceNumber"), shard.index)
            position = counter + (kind == "AFTER_SEQUENCE_NUMBER")
        elif kind == "AT_TIMESTAMP":
            stamp = payload.get("Timestamp")
            if not isinstance(stamp, int | float) or isinstance(stamp, bool):
                raise ApiError(
                    "InvalidArgumentException",
                    "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP.",
                )
            found = await self._log.seq_at(shard.sid, int(stamp * 1000))
            position = shard.tail if found is None else found
        else:
            raise ApiError(
                "ValidationException",
                f"1 validation error detected: Value '{kind}' at 'shardIteratorType' failed to "
                "satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, "
                "AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
            )
        return {"ShardIterator": iterators.encode(name, shard.index, position)}

    async def get_records(self, payload: dict[str, Any]) -> dict[str, Any]:
        limit = payload.get("Limit", iterators.MAX_GET_RECORDS)
        if not isinstance(limit, int) or not 1 <= limit <= iterators.MAX_GET_RECORDS:
            raise ApiError(
                "ValidationException",
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                f"constraint: Member must have value between 1 and {iterators.MAX_GET_RECORDS}",
            )
        try:
            name, index, position = iterators.decode(payload.get("ShardIterator"))
        except iterators.ExpiredIterator as exc:
            raise ApiError("ExpiredIteratorException", str(exc)) from None
        except ValueError:
            raise ApiError("InvalidArgumentException", "Invalid ShardIterator.") from None
        self._stream({"StreamName": name})
        shard = self._shard(name, shard_info(name, index).id)
        rows = (await self._log.read([(shard.sid, position, limit)])).get(shard.sid, [])
        rows = iterators.within_response_limit(rows)
        sequence = sequence_formatter(index)
        records = [
            {
                "SequenceNumber": sequence(seq),
                "ApproximateArrivalTimestamp": arrival / 1000,
                "Data": base64.b64encode(data).decode("ascii"),
                "PartitionKey": key.decode("utf-8", "replace"),
            }
            for seq, key, data, arrival in rows
        ]
        following = rows[-1][0] + 1 if rows else max(position, 0)
        behind = 0
        if following < shard.tail and rows:
            behind = max(0, int(time.time() * 1000) - rows[-1][3])
        return {
            "Records": records,
            "NextShardIterator": iterators.encode(name, index, following),
            "MillisBehindLatest": behind,
        }

    def _shard(self, name: str, shard_id: Any) -> ShardState:
        index = shard_index(shard_id) if isinstance(shard_id, str) else None
        stream = self._loaded().config.streams[name]
        state = None if index is None or index >= stream.shards else self._log.shard(name, index)
        if state is None:
            account = self._loaded().config.hub.account_id
            raise ApiError(
                "ResourceNotFoundException",
                f"Shard {shard_id} in stream {name} under account {account} does not exist",
            )
        return state

    def _shards(self, name: str, count: int) -> list[dict[str, Any]]:
        starts = starting_hash_keys(count)
        ends = [*starts[1:], HASH_SPACE]
        return [
            {
                "ShardId": shard_info(name, index).id,
                "HashKeyRange": {
                    "StartingHashKey": str(starts[index]),
                    "EndingHashKey": str(ends[index] - 1),
                },
                "SequenceNumberRange": {"StartingSequenceNumber": sequence_number(index, 0)},
            }
            for index in range(count)
        ]


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise ApiError("SerializationException", "the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError("SerializationException", "the request body must be a JSON object")
    return payload


def _entry(payload: Any, shards: int, index: int | None) -> tuple[int, bytes, bytes]:
    """Validate one record: ``(shard index, partition key bytes, data)``."""
    where = "" if index is None else f"records.{index + 1}.member."
    if not isinstance(payload, dict):
        raise ApiError("SerializationException", f"Records[{index}] must be an object")
    key = payload.get("PartitionKey")
    if not isinstance(key, str) or not 1 <= len(key) <= 256:
        raise ApiError(
            "ValidationException",
            f"1 validation error detected: Value at '{where}partitionKey' failed to satisfy "
            "constraint: Member must have length between 1 and 256",
        )
    raw = payload.get("Data")
    try:
        data = binascii.a2b_base64(raw, strict_mode=True)  # type: ignore[arg-type]
    except (binascii.Error, TypeError):
        raise ApiError(
            "ValidationException" if raw is None else "SerializationException",
            f"'{where}data' must be base64 data",
        ) from None
    pkey = key.encode("utf-8")
    if len(data) + len(pkey) > MAX_RECORD:
        raise ApiError(
            "ValidationException",
            f"1 validation error detected: Value at '{where}data' failed to satisfy "
            f"constraint: Member must have length less than or equal to {MAX_RECORD}",
        )
    explicit = payload.get("ExplicitHashKey")
    if explicit is None:
        value = int.from_bytes(hashlib.md5(pkey).digest(), "big")  # noqa: S324 - Kinesis's hash
    else:
        value = _explicit_hash(explicit, where)
    return bisect.bisect_right(starting_hash_keys(shards), value) - 1, pkey, data


def _explicit_hash(explicit: Any, where: str) -> int:
    if isinstance(explicit, str) and explicit.isdigit() and len(explicit) <= 39:
        value = int(explicit)
        if value < HASH_SPACE:
            return value
    raise ApiError("InvalidArgumentException", f"Invalid {where}ExplicitHashKey.")


def _after(shards: list[dict[str, Any]], shard_id: Any) -> list[dict[str, Any]]:
    """The shards listed after ``shard_id`` (all when it is not a string)."""
    if not isinstance(shard_id, str):
        return shards
    return [shard for shard in shards if shard["ShardId"] > shard_id]


def _counter(sequence: Any, index: int) -> int:
    """The record counter in a sequence number of shard ``index``."""
    prefix = sequence_prefix(index)
    if (
        not isinstance(sequence, str)
        or not sequence.isdigit()
        or len(sequence) != len(prefix) + SEQUENCE_WIDTH
        or not sequence.startswith(prefix)
    ):
        raise ApiError(
            "InvalidArgumentException",
            f"StartingSequenceNumber {sequence} used in GetShardIterator on shard "
            f"{shard_info('', index).id} is not valid for this shard.",
        )
    return int(sequence[len(prefix) :])


def _read_token(token: Any) -> tuple[str, int]:
    if isinstance(token, str):
        name, _, offset = token.rpartition("|")
        if name and offset.isdigit():
            return name, int(offset)
    raise ApiError("InvalidArgumentException", "NextToken is invalid or expired.")
