"""``type: stream`` sources: the embedded Kinesis-like stream as a ``StreamSource``.

Every shard of the stream is assigned to the mapping at open. Reads go through the store's
writer thread in pages; when every unpaused shard is caught up, ``fetch`` waits on an
``asyncio.Event`` that ``StreamLog`` sets after each committed put, so pickup is immediate
and an idle source does no work. Checkpoints live in the store (``stream_checkpoints``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.stream_ids import shard_info
from eventhub.config.sources import StreamSourceConfig
from eventhub.hubenv import HubEnv
from eventhub.mapping.stream import StreamMapping
from eventhub.mapping.stream_setup import build_stream_mapping, starting_position
from eventhub.sources import (
    RecordBuilder,
    ShardListener,
    SourceUnavailable,
    StartingPosition,
)
from eventhub.store.checkpoints import CheckpointStore
from eventhub.store.db import StoreClosed
from eventhub.store.streams import ShardState, StreamLog

MAX_PAGE = 10_000
NO_HEADERS: tuple[tuple[str, bytes], ...] = ()


class EmbeddedStreamSource:
    """Reads every shard of one embedded stream for one mapping."""

    def __init__(
        self,
        log: StreamLog,
        checkpoints: CheckpointStore,
        *,
        source: str,
        stream: str,
        start: StartingPosition,
        page: int = 1000,
    ) -> None:
        self._log = log
        self._checkpoints = checkpoints
        self._source = source
        self._stream = stream
        self._start = start
        self._page = max(1, min(page, MAX_PAGE))
        self._shards: dict[str, ShardState] = {}
        self._next: dict[str, int] = {}
        self._builders: Mapping[str, RecordBuilder] = {}
        self._paused: set[str] = set()
        self._wake = asyncio.Event()
        self._open = False

    async def open(self, listener: ShardListener) -> None:
        shards = self._log.shards(self._stream)
        if not shards:
            raise SourceUnavailable(f"embedded stream {self._stream!r} does not exist")
        try:
            await self._checkpoints.open()
            saved = await self._checkpoints.load(self._source, self._stream)
            fresh = {}
            for state in shards:
                shard_id = shard_info(self._stream, state.index).id
                self._shards[shard_id] = state
                if shard_id in saved:
                    self._next[shard_id] = saved[shard_id]
                else:  # a shard added since (shards raised): from its first record
                    fresh[shard_id] = self._next[shard_id] = await self._resolve(
                        state, "trim_horizon" if saved else self._start.kind
                    )
            if fresh:  # a restart must not re-resolve `latest` and skip what came meanwhile
                await self._checkpoints.save(self._source, self._stream, fresh)
        except (sqlite3.Error, StoreClosed) as exc:
            raise SourceUnavailable(f"embedded store unavailable: {exc}") from exc
        self._log.watch(self._stream, self._wake)
        self._open = True
        infos = [shard_info(self._stream, state.index) for state in shards]
        self._builders = listener.assigned(
            [dataclasses.replace(info, start=self._next.get(info.id)) for info in infos]
        )

    async def _resolve(self, state: ShardState, kind: str) -> int:
        if kind == "latest":
            return state.tail
        if kind == "at_timestamp" and self._start.timestamp is not None:
            found = await self._log.seq_at(state.sid, int(self._start.timestamp * 1000))
            return state.tail if found is None else found
        first = await self._log.first_seq(state.sid)
        return state.tail if first is None else first

    def _ready(self) -> list[tuple[str, ShardState]]:
        return [
            (shard_id, state)
            for shard_id, state in self._shards.items()
            if shard_id not in self._paused and self._next[shard_id] < state.tail
        ]

    async def fetch(self, wait: float) -> Mapping[str, Sequence[Any]]:
        self._wake.clear()
        ready = self._ready()
        if not ready:
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                return {}
            ready = self._ready()
            if not ready:
                return {}
        pages = [(state.sid, self._next[shard_id], self._page) for shard_id, state in ready]
        try:
            rows = await self._log.read(pages)
        except (sqlite3.Error, StoreClosed) as exc:
            raise SourceUnavailable(f"reading stream {self._stream!r} failed: {exc}") from exc
        out: dict[str, list[Any]] = {}
        for shard_id, state in ready:
            found = rows.get(state.sid)
            if not found:
                continue
            build = self._builders[shard_id]
            out[shard_id] = [build(seq, key, data, at, NO_HEADERS) for seq, key, data, at in found]
            self._next[shard_id] = found[-1][0] + 1
        return out

    def pause(self, shard_id: str) -> None:
        self._paused.add(shard_id)

    def resume(self, shard_id: str) -> None:
        self._paused.discard(shard_id)
        self._wake.set()

    async def commit(self, positions: Mapping[str, int]) -> None:
        try:
            await self._checkpoints.save(self._source, self._stream, positions)
        except (sqlite3.Error, StoreClosed) as exc:
            raise SourceUnavailable(f"saving checkpoints failed: {exc}") from exc

    @property
    def connected(self) -> bool:
        return self._open

    @property
    def problem(self) -> str | None:
        return None if self._open else "the embedded stream is closed"

    def lag(self, shard_id: str) -> int | None:
        state = self._shards.get(shard_id)
        if state is None:
            return None
        return max(0, state.tail - self._next[shard_id])

    async def close(self) -> None:
        if self._open:
            self._log.unwatch(self._stream, self._wake)
            self._open = False


def stream_source(name: str, config: StreamSourceConfig, env: HubEnv) -> StreamMapping:
    """Factory of ``type: stream`` sources (``registry.SOURCES["stream"]``)."""
    page = min(MAX_PAGE, max(500, config.batch_size * config.parallelization_factor))
    source = EmbeddedStreamSource(
        StreamLog.of(env.store),
        CheckpointStore(env.store),
        source=name,
        stream=config.stream,
        start=starting_position(config),
        page=page,
    )
    # A Kafka-shaped event of the embedded stream names the hub as its "bootstrap server"
    # (AWS's field is required: Powertools rejects an empty one).
    return build_stream_mapping(
        name,
        "stream",
        config,
        source,
        env,
        event_format=config.event_format,
        bootstrap_servers=env.loaded.config.hub.listen,
    )
