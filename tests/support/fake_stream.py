"""In-memory fakes of a StreamSource and of invocations, for unit tests of the stream engine."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventhub.mapping.retry import RetryPolicy
from eventhub.mapping.stream import StreamMapping
from eventhub.mapping.stream_format import FormatContext, KafkaFormat, KinesisFormat
from eventhub.mapping.stream_settings import Ports, StreamSettings
from eventhub.mapping.stream_stats import StreamMetrics
from eventhub.metrics import Metrics
from eventhub.runtime.result import InvocationResult, Outcome
from eventhub.sources import RecordBuilder, ShardInfo, ShardListener, SourceUnavailable


@dataclass
class RawRecord:
    position: int
    key: bytes | None
    data: bytes | None
    timestamp_ms: int


@dataclass
class FakeShard:
    info: ShardInfo
    records: list[RawRecord] = field(default_factory=list)
    next_read: int = 0  # index into records


class FakeStreamSource:
    """Shards held in lists; ``put`` appends and wakes ``fetch``; commits are recorded."""

    def __init__(self, shard_count: int = 1, *, page: int = 1000, fail_open: str | None = None):
        self.shards = {
            f"shard-{i}": FakeShard(ShardInfo(f"shard-{i}", "fake", i)) for i in range(shard_count)
        }
        self.page = page
        self.fail_open = fail_open
        self.listener: ShardListener | None = None
        self.builders: dict[str, RecordBuilder] = {}
        self.paused: set[str] = set()
        self.pause_calls = 0
        self.commits: list[dict[str, int]] = []
        self.committed: dict[str, int] = {}
        self.fail_commits = 0
        self.closed = False
        self._wake = asyncio.Event()
        self.fetch_error: Exception | None = None

    # producer side
    def put(self, shard: int, data: Any, *, key: str = "k", timestamp_ms: int = 0) -> int:
        target = self.shards[f"shard-{shard}"]
        position = len(target.records)
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        target.records.append(RawRecord(position, key.encode(), body, timestamp_ms))
        self._wake.set()
        return position

    # StreamSource
    async def open(self, listener: ShardListener) -> None:
        if self.fail_open:
            raise SourceUnavailable(self.fail_open)
        self.listener = listener
        self.builders = dict(listener.assigned([s.info for s in self.shards.values()]))
        for shard_id, position in self.committed.items():
            self.shards[shard_id].next_read = position

    async def fetch(self, wait: float) -> Mapping[str, Sequence[Any]]:
        if self.fetch_error is not None:
            raise self.fetch_error
        self._wake.clear()
        out = self._read()
        if out:
            return out
        try:
            async with asyncio.timeout(wait):
                await self._wake.wait()
        except TimeoutError:
            return {}
        return self._read()

    def _read(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for shard_id, shard in self.shards.items():
            if shard_id in self.paused or shard_id not in self.builders:
                continue
            chunk = shard.records[shard.next_read : shard.next_read + self.page]
            if chunk:
                shard.next_read += len(chunk)
                build = self.builders[shard_id]
                out[shard_id] = [
                    build(r.position, r.key, r.data, r.timestamp_ms, ()) for r in chunk
                ]
        return out

    def pause(self, shard_id: str) -> None:
        self.paused.add(shard_id)
        self.pause_calls += 1

    def resume(self, shard_id: str) -> None:
        self.paused.discard(shard_id)
        self._wake.set()

    async def commit(self, positions: Mapping[str, int]) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            raise SourceUnavailable("commit failed (fake)")
        await asyncio.sleep(0)
        self.commits.append(dict(positions))
        self.committed.update(positions)

    @property
    def connected(self) -> bool:
        return not self.closed

    @property
    def problem(self) -> str | None:
        return "closed" if self.closed else None

    def lag(self, shard_id: str) -> int | None:
        shard = self.shards[shard_id]
        return len(shard.records) - shard.next_read

    async def close(self) -> None:
        self.closed = True


Handler = Callable[[Any], Any]


class FakeFunction:
    """Records every event; ``behaviour(event)`` returns the response or raises to fail."""

    def __init__(self, behaviour: Handler | None = None) -> None:
        self.behaviour = behaviour or (lambda event: None)
        self.events: list[Any] = []
        self.gate: asyncio.Event | None = None  # when set up, invocations wait for it
        self.started = asyncio.Event()

    async def invoke(self, event: Any) -> InvocationResult:
        self.events.append(event)
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        request_id = str(uuid.uuid4())
        try:
            value = self.behaviour(event)
        except Exception as exc:  # the handler "raised": a function error
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return InvocationResult(request_id, Outcome.FUNCTION_ERROR, error, b"{}", 1, None, "")
        return InvocationResult(request_id, Outcome.SUCCESS, value, b"{}", 1, None, "")


def kinesis_data(event: Any) -> list[Any]:
    """The decoded JSON data of every record of a Kinesis event."""
    import base64

    return [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]


def kafka_values(event: Any) -> list[Any]:
    import base64

    return [
        json.loads(base64.b64decode(r["value"]))
        for records in event["records"].values()
        for r in records
    ]


class Deliveries:
    """A fake on-failure destination: records what it got; ``fail`` times it refuses."""

    def __init__(self, fail: int = 0) -> None:
        self.records: list[dict[str, Any]] = []
        self.fail = fail

    async def __call__(self, record: dict[str, Any]) -> bool:
        if self.fail:
            self.fail -= 1
            return False
        self.records.append(record)
        return True


def make_mapping(
    source: FakeStreamSource,
    function: FakeFunction,
    *,
    event_format: str = "kinesis",
    filters: Any = None,
    deliveries: Deliveries | None = None,
    clock: Callable[[], float] | None = None,
    retry: RetryPolicy | None = None,
    **settings: Any,
) -> StreamMapping:
    context = FormatContext(
        region="us-east-1",
        account_id="000000000000",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        filters=filters,
        bootstrap_servers="fake:9092",
    )
    fmt = KinesisFormat(context) if event_format == "kinesis" else KafkaFormat(context)
    ports = Ports(
        invoke=function.invoke,
        deliver_failure=deliveries,
        **({"clock": clock} if clock else {}),
    )
    config = StreamSettings(
        function="f", retry=retry or RetryPolicy(base_delay=0), revoke_grace=5, **settings
    )
    return StreamMapping(
        "src", "stream", config, source, fmt, ports, StreamMetrics(Metrics(), "src")
    )
