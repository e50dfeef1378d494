"""A shard added to an embedded stream by a reload is read from its first record by a
mapping that already ran on the stream (as Kinesis reads child shards after resharding),
whatever its starting position: records put before the mapping restarted are not skipped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from connectors.stream import EmbeddedStreamSource
from eventhub.sources import RecordBuilder, ShardInfo, StartingPosition
from eventhub.store.checkpoints import CheckpointStore
from eventhub.store.db import Store
from eventhub.store.streams import StreamLog


class Listener:
    def assigned(self, shards: Sequence[ShardInfo]) -> Mapping[str, RecordBuilder]:
        def build(position: int, key: Any, data: Any, *_: Any) -> Any:
            return data

        return {shard.id: build for shard in shards}

    async def revoked(self, shard_ids: Sequence[str]) -> None:
        return None


async def test_a_new_shard_is_read_from_its_first_record(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    await store.open()
    try:
        log = StreamLog.of(store)
        await log.open()
        await log.ensure_stream("clicks", 1)
        await log.append("clicks", [(0, b"k", b"before")])

        def mapping() -> EmbeddedStreamSource:
            return EmbeddedStreamSource(
                log,
                CheckpointStore(store),
                source="m",
                stream="clicks",
                start=StartingPosition("latest"),
            )

        first = mapping()
        await first.open(Listener())
        assert await first.fetch(0.1) == {}  # latest: the old record is skipped, as configured
        await first.close()

        await log.ensure_stream("clicks", 2)  # the reload raised the shard count
        await log.append("clicks", [(1, b"k", b"early"), (0, b"k", b"later")])
        again = mapping()
        await again.open(Listener())
        fetched = await again.fetch(1.0)
        assert fetched == {
            "shardId-000000000000": [b"later"],
            "shardId-000000000001": [b"early"],
        }
        await again.close()
    finally:
        await store.aclose()
