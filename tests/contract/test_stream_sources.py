"""The StreamSource contract (eventhub/sources.py), proven by every connector.

``StreamSourceContract`` holds the guarantees; each subclass says how to build its source
and how to add records to shard ``n``: the embedded stream (a store in a temp dir) and
Kafka (the session's Tansu broker).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from connectors.kafka import KafkaStreamSource
from connectors.stream import EmbeddedStreamSource
from eventhub.config.loader import load_config
from eventhub.config.models import KafkaConnection
from eventhub.sources import RecordBuilder, ShardInfo, SourceUnavailable, StartingPosition
from eventhub.store.checkpoints import CheckpointStore
from eventhub.store.db import Store
from eventhub.store.streams import StreamLog
from tests.support.kafka import kafka_broker, produce

__all__ = ["kafka_broker"]

SHARDS = 2


class Listener:
    """Records assignments; its builders return ``(position, data)``."""

    def __init__(self) -> None:
        self.shards: dict[str, ShardInfo] = {}
        self.revoked_ids: list[str] = []

    def assigned(self, shards: Sequence[ShardInfo]) -> Mapping[str, RecordBuilder]:
        for shard in shards:
            self.shards[shard.id] = shard

        def build(position: int, key: Any, data: Any, ts: int, headers: Any, kind: int = 0) -> Any:
            return (position, data)

        return {shard.id: build for shard in shards}

    async def revoked(self, shard_ids: Sequence[str]) -> None:
        self.revoked_ids.extend(shard_ids)


EARLY: dict[int, dict[str, list[Any]]] = {}  # records fetched while waiting for shards


async def collect(source: Any, want: int, within: float = 20) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = EARLY.pop(id(source), {})
    async with asyncio.timeout(within):
        while sum(len(v) for v in out.values()) < want:
            for shard, entries in (await source.fetch(0.2)).items():
                out.setdefault(shard, []).extend(entries)
    return out


class StreamSourceContract:
    """Guarantees every StreamSource gives the engine."""

    async def make(self, start: str = "trim_horizon", name: str = "m") -> Any:
        raise NotImplementedError

    async def add(self, shard: int, values: list[bytes]) -> None:
        raise NotImplementedError

    async def missing(self) -> Any:
        """A source whose stream / topic does not exist."""
        raise NotImplementedError

    async def opened(self, source: Any) -> Listener:
        listener = Listener()
        await source.open(listener)
        early = EARLY.setdefault(id(source), {})
        async with asyncio.timeout(60):
            while len(listener.shards) < SHARDS:
                for shard, entries in (await source.fetch(0.1)).items():
                    early.setdefault(shard, []).extend(entries)
        return listener

    async def test_every_shard_is_delivered_in_order(self):
        source = await self.make()
        try:
            await self.opened(source)
            for shard in range(SHARDS):
                await self.add(shard, [f"{shard}-{i}".encode() for i in range(50)])
            got = await collect(source, 50 * SHARDS)
            assert len(got) == SHARDS
            for entries in got.values():
                positions = [p for p, _ in entries]
                assert positions == sorted(positions)
                assert len({d.split(b"-")[0] for _, d in entries}) == 1
                assert [int(d.split(b"-")[1]) for _, d in entries] == list(range(50))
        finally:
            await source.close()

    async def test_a_reopened_source_resumes_at_the_commit(self):
        source = await self.make(name="resume")
        try:
            await self.opened(source)
            await self.add(0, [b"a", b"b", b"c"])
            [(shard, entries)] = (await collect(source, 3)).items()
            await source.commit({shard: entries[1][0] + 1})  # a and b are done
        finally:
            await source.close()
        again = await self.make(name="resume")
        try:
            await self.opened(again)
            got = await collect(again, 1)
            assert [d for _, d in got[shard]] == [b"c"]
        finally:
            await again.close()

    async def test_latest_is_resolved_once_and_committed(self):
        source = await self.make("latest", name="latest")
        await self.add(0, [b"old"])
        try:
            await self.opened(source)
            assert not EARLY.pop(id(source), {})
            assert await source.fetch(0.3) == {}
        finally:
            await source.close()
        await self.add(0, [b"new"])
        again = await self.make("latest", name="latest")
        try:
            await self.opened(again)
            got = await collect(again, 1)
            assert [d for entries in got.values() for _, d in entries] == [b"new"]
        finally:
            await again.close()

    async def test_a_paused_shard_is_not_fetched_and_loses_nothing(self):
        source = await self.make(name="pause")
        try:
            listener = await self.opened(source)
            await self.add(0, [b"x"])
            [(shard, _)] = (await collect(source, 1)).items()
            source.pause(shard)
            await self.add(0, [b"y", b"z"])
            EARLY.pop(id(source), None)
            other = [s for s in listener.shards if s != shard]
            assert shard not in await source.fetch(0.5)
            source.resume(shard)
            got = await collect(source, 2)
            assert [d for _, d in got[shard]] == [b"y", b"z"]
            assert other
        finally:
            await source.close()

    async def test_fetch_returns_empty_after_waiting(self):
        source = await self.make(name="idle")
        try:
            await self.opened(source)
            assert await source.fetch(0.2) == {}
            assert source.connected
        finally:
            await source.close()

    async def test_a_missing_stream_is_a_clear_error(self):
        source = await self.missing()
        with pytest.raises(SourceUnavailable, match="does not exist|do not exist"):
            await source.open(Listener())
        await source.close()


class TestEmbeddedStream(StreamSourceContract):
    @pytest.fixture(autouse=True)
    async def _store(self, tmp_path: Path) -> AsyncIterator[None]:
        self.store = Store(tmp_path / "db.sqlite")
        await self.store.open()
        self.log = StreamLog.of(self.store)
        await self.log.open()
        self.stream = f"s{uuid.uuid4().hex[:6]}"
        await self.log.ensure_stream(self.stream, SHARDS)
        yield
        await self.store.aclose()

    async def make(self, start: str = "trim_horizon", name: str = "m") -> Any:
        return EmbeddedStreamSource(
            self.log,
            CheckpointStore(self.store),
            source=name,
            stream=self.stream,
            start=StartingPosition(start),
        )

    async def add(self, shard: int, values: list[bytes]) -> None:
        await self.log.append(self.stream, [(shard, b"k", value) for value in values])

    async def missing(self) -> Any:
        return EmbeddedStreamSource(
            self.log,
            CheckpointStore(self.store),
            source="m",
            stream="nope",
            start=StartingPosition("trim_horizon"),
        )


class TestKafka(StreamSourceContract):
    @pytest.fixture(autouse=True)
    async def _topic(self, kafka_broker: Any, tmp_path: Path) -> None:
        self.broker = kafka_broker
        self.topic = await kafka_broker.topic(partitions=SHARDS)
        config = tmp_path / "eventhub.yaml"
        config.write_text("version: 1\n")
        self.loaded = load_config(config)
        self.group = uuid.uuid4().hex[:8]

    def _source(self, topics: list[str], start: str, name: str) -> KafkaStreamSource:
        connection = KafkaConnection(type="kafka", bootstrap_servers=self.broker.bootstrap)
        return KafkaStreamSource(
            connection,
            self.loaded,
            topics=topics,
            group_id=f"contract-{self.group}-{name}",
            start=StartingPosition(start),
            session_timeout=6,
        )

    async def make(self, start: str = "trim_horizon", name: str = "m") -> Any:
        return self._source([self.topic], start, name)

    async def add(self, shard: int, values: list[bytes]) -> None:
        await produce(self.broker.bootstrap, self.topic, [(shard, None, v) for v in values])

    async def missing(self) -> Any:
        return self._source(["no-such-topic"], "trim_horizon", "missing")
