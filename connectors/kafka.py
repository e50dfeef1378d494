"""``type: kafka`` sources: Kafka topics read as a consumer group (partition = shard).

One AIOKafkaConsumer per source, subscribed to its topics in group ``group_id`` (default
``eventhub-<source name>``), auto-commit off: the engine commits ``offset + 1`` of what it
finished, and nothing else. On assignment a partition without a committed offset starts at
the configured starting position, and that start is committed at once (so a restart never
re-resolves ``latest`` and skips what arrived in between). A partition whose position lies
past the end of its log (the broker lost it) starts afresh: see ``_check_positions``. On
revocation the engine lets in-flight batches finish within the grace period and commits
them before the partitions go to another hub. Backpressure leaves a full partition out of
``getmany`` (see ``_get``).

aiokafka reconnects by itself after a broker outage; a probe asks the broker for metadata
every second so that ``/ready`` and ``/sources`` show the outage (and a missing topic).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from connectors.kafka_client import client_options, describe, quiet_aiokafka, stop_quietly
from eventhub.config.loader import LoadedConfig
from eventhub.config.models import KafkaConnection
from eventhub.config.sources import KafkaSourceConfig
from eventhub.hubenv import HubEnv
from eventhub.mapping.stream import StreamMapping
from eventhub.mapping.stream_setup import build_stream_mapping, starting_position
from eventhub.sources import (
    RecordBuilder,
    ShardInfo,
    ShardListener,
    SourceUnavailable,
    StartingPosition,
)

log = structlog.get_logger("eventhub.kafka")

OPEN_TIMEOUT: Final = 15.0
PROBE_EVERY: Final = 1.0
PROBE_TIMEOUT: Final = 5.0
PAST_END_GRACE: Final = 5.0  # a new leader's high watermark may lag for a moment


class KafkaStreamSource:
    """A consumer group member delivering its assigned partitions to the engine."""

    def __init__(
        self,
        connection: KafkaConnection,
        loaded: LoadedConfig,
        *,
        topics: Sequence[str],
        group_id: str,
        start: StartingPosition,
        session_timeout: float = 10.0,
        fetch_max_wait_ms: int = 10,
        max_records: int = 2000,
        revoke_grace: float = 30.0,
        source: str = "",
    ) -> None:
        self._source = source  # the source's name, for log lines
        self._connection = connection
        self._servers = describe(connection)
        self._topics = list(topics)
        self._start = start
        self._max_records = max_records
        self._options = {
            **client_options(connection, loaded),
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "latest" if start.kind == "latest" else "earliest",
            "isolation_level": "read_committed",
            "fetch_max_wait_ms": fetch_max_wait_ms,
            "session_timeout_ms": int(session_timeout * 1000),
            "heartbeat_interval_ms": max(100, int(session_timeout * 1000 / 3)),
            "rebalance_timeout_ms": int((revoke_grace + session_timeout) * 1000),
            "metadata_max_age_ms": 5000,
        }
        self._consumer: AIOKafkaConsumer | None = None
        self._listener: ShardListener | None = None
        self._builders: dict[str, RecordBuilder] = {}
        self._partitions: dict[str, TopicPartition] = {}
        self._next: dict[str, int] = {}
        self._paused: set[str] = set()
        self._resets: dict[str, asyncio.Task[None]] = {}
        self._past_end: dict[str, float] = {}  # shard -> since when its position is past the end
        self._resumed = asyncio.Event()
        self._probe: asyncio.Task[None] | None = None
        self._healthy = False
        self._problem: str | None = None  # what the last probe found wrong

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self, listener: ShardListener) -> None:
        quiet_aiokafka()
        self._listener = listener
        consumer = AIOKafkaConsumer(**self._options)
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                await consumer.start()
                existing = await consumer.topics()
        except (KafkaError, OSError, TimeoutError) as exc:
            await stop_quietly(consumer)
            raise SourceUnavailable(
                f"cannot reach Kafka at {self._servers}: {_reason(exc)}"
            ) from exc
        missing = sorted(set(self._topics) - set(existing))
        if missing:
            await stop_quietly(consumer)
            raise SourceUnavailable(
                f"topic(s) {', '.join(missing)} do not exist on Kafka at {self._servers}"
            )
        self._consumer = consumer
        self._healthy = True
        consumer.subscribe(self._topics, listener=_Rebalance(self))
        self._probe = asyncio.get_running_loop().create_task(self._watch(), name="kafka:probe")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)  # ours still propagates
            self._probe = None
        for task in self._resets.values():
            task.cancel()
        await asyncio.gather(*self._resets.values(), return_exceptions=True)
        consumer, self._consumer = self._consumer, None
        self._healthy = False
        if consumer is not None:
            await stop_quietly(consumer)

    # -- rebalances --------------------------------------------------------------------

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        """Partitions came to this hub: position those without a commit, hand them over."""
        consumer, listener = self._consumer, self._listener
        if consumer is None or listener is None or not partitions:
            return
        ordered = sorted(partitions)
        starts = await self._starting_offsets(consumer, ordered)
        shards = [_shard(tp, starts.get(tp)) for tp in ordered]
        for shard, tp in zip(shards, ordered, strict=True):
            self._partitions[shard.id] = tp
            if tp in starts:
                self._next[shard.id] = starts[tp]
        self._builders.update(listener.assigned(shards))

    async def _starting_offsets(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Where each partition starts: its committed offset, or (without one) the starting
        position, which is sought and committed at once. Partitions whose start could not
        be resolved are left out (aiokafka then resets them as ``auto_offset_reset``)."""
        try:
            starts = {tp: await consumer.committed(tp) for tp in partitions}
            without = [tp for tp, offset in starts.items() if offset is None]
            fresh = await self._fresh_offsets(consumer, without) if without else {}
        except KafkaError as exc:
            log.warning(
                "resolving starting offsets failed", source=self._source, error=_reason(exc)
            )
            return {}
        for tp, offset in fresh.items():
            consumer.seek(tp, offset)
        if fresh:
            try:
                await consumer.commit(fresh)
            except KafkaError as exc:
                log.warning(
                    "committing starting offsets failed", source=self._source, error=_reason(exc)
                )
        return {tp: offset for tp, offset in {**starts, **fresh}.items() if offset is not None}

    async def _fresh_offsets(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        if self._start.kind == "latest":
            return dict(await consumer.end_offsets(partitions))
        if self._start.kind == "at_timestamp" and self._start.timestamp is not None:
            when = int(self._start.timestamp * 1000)
            found = await consumer.offsets_for_times(dict.fromkeys(partitions, when))
            ends = await consumer.end_offsets(partitions)
            return {tp: ends[tp] if hit is None else hit.offset for tp, hit in found.items()}
        return dict(await consumer.beginning_offsets(partitions))

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Partitions leave this hub: the engine finishes and commits before we return."""
        ids = [f"{tp.topic}-{tp.partition}" for tp in partitions]
        resets = [task for shard in ids if (task := self._resets.get(shard)) is not None]
        await asyncio.gather(*resets, return_exceptions=True)
        if self._listener is not None and ids:
            await self._listener.revoked(ids)
        for shard in ids:
            self._builders.pop(shard, None)
            self._partitions.pop(shard, None)
            self._next.pop(shard, None)
            self._past_end.pop(shard, None)
            self._paused.discard(shard)

    # -- reading -----------------------------------------------------------------------

    async def fetch(self, wait: float) -> Mapping[str, Sequence[Any]]:
        consumer = self._consumer
        if consumer is None:
            raise SourceUnavailable("the Kafka consumer is closed")
        try:
            fetched = await self._get(consumer, wait)
        except KafkaError as exc:
            raise SourceUnavailable(f"reading from Kafka failed: {_reason(exc)}") from exc
        out: dict[str, list[Any]] = {}
        for tp, records in fetched.items():
            shard = f"{tp.topic}-{tp.partition}"
            build = self._builders.get(shard)
            if build is None or not records:
                continue
            out[shard] = [
                build(r.offset, r.key, r.value, r.timestamp, r.headers, r.timestamp_type)
                for r in records
            ]
            self._next[shard] = records[-1].offset + 1
        self._check_positions(consumer, fetched)
        return out

    async def _get(self, consumer: AIOKafkaConsumer, wait: float) -> dict[TopicPartition, Any]:
        """getmany over the partitions that are not paused.

        A paused partition is simply left out of ``getmany``: aiokafka keeps its one
        prefetched response and fetches no more for it, which bounds memory without
        throwing prefetched data away (``consumer.pause`` would). Only when every partition
        is paused is the consumer itself paused, so polling (and group membership) goes on.
        A ``resume`` ends the wait at once.
        """
        self._resumed.clear()
        active = [
            tp
            for shard, tp in self._partitions.items()
            if shard not in self._paused and shard not in self._resets
        ]
        everything = set(self._partitions.values())
        if self._partitions and not active:
            consumer.pause(*everything)
        else:
            consumer.resume(*everything)
        getter = asyncio.ensure_future(
            consumer.getmany(*active, timeout_ms=int(wait * 1000), max_records=self._max_records)
        )
        if not self._paused:
            return dict(await getter)
        waker = asyncio.ensure_future(self._resumed.wait())
        try:
            await asyncio.wait({getter, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
        if getter.done():
            return dict(getter.result())
        getter.cancel()
        await asyncio.gather(getter, return_exceptions=True)  # a cancel of ours still propagates
        return {}

    def _check_positions(
        self, consumer: AIOKafkaConsumer, fetched: Mapping[TopicPartition, Any]
    ) -> None:
        """Start afresh any partition whose position is past the end of its log.

        That happens when the broker lost its log (a restart with memory storage) while
        this hub was at a higher offset, or after a commit of the old position reached
        the new log. Apache Kafka answers such a fetch with OFFSET_OUT_OF_RANGE and
        aiokafka resets the position; brokers that just answer with nothing (Tansu) would
        leave the hub waiting there, skipping every record written below it. The fetch
        response's high watermark is the reliable end here (Tansu's ListOffsets is not).
        Only a position past the end for ``PAST_END_GRACE`` seconds counts: a newly elected
        leader may report a high watermark below the log's end for a moment.
        """
        mine = consumer.assignment()
        now = time.monotonic()
        for shard, tp in self._partitions.items():
            if fetched.get(tp) or shard in self._resets or tp not in mine:
                self._past_end.pop(shard, None)
                continue
            highwater, position = consumer.highwater(tp), self._next.get(shard)
            if highwater is None or position is None or position <= highwater:
                self._past_end.pop(shard, None)
                continue
            if now - self._past_end.setdefault(shard, now) < PAST_END_GRACE:
                continue
            del self._past_end[shard]
            log.warning(
                "position past the end of the partition's log; starting afresh",
                source=self._source,
                shard=shard,
                position=position,
                log_end=highwater,
            )
            self._resets[shard] = asyncio.get_running_loop().create_task(
                self._start_afresh(shard, tp), name=f"kafka:reset:{shard}"
            )

    async def _start_afresh(self, shard: str, tp: TopicPartition) -> None:
        """Restart the shard's worker at the reset position (``auto_offset_reset``)."""
        consumer, listener = self._consumer, self._listener
        try:
            if consumer is None or listener is None:
                return
            await listener.revoked([shard])
            if tp not in consumer.assignment() or self._partitions.get(shard) != tp:
                return
            try:
                if self._start.kind == "latest":
                    await consumer.seek_to_end(tp)
                else:
                    await consumer.seek_to_beginning(tp)
                position = await consumer.position(tp)
                await consumer.commit({tp: position})
                self._next[shard] = position
            except KafkaError as exc:
                log.warning(
                    "resetting the position failed", source=self._source, error=_reason(exc)
                )
                self._next.pop(shard, None)
            with contextlib.suppress(RuntimeError):  # the mapping stopped meanwhile
                self._builders.update(listener.assigned([_shard(tp, self._next.get(shard))]))
        finally:
            self._resets.pop(shard, None)

    def pause(self, shard_id: str) -> None:
        self._paused.add(shard_id)

    def resume(self, shard_id: str) -> None:
        self._paused.discard(shard_id)
        self._resumed.set()

    async def commit(self, positions: Mapping[str, int]) -> None:
        consumer = self._consumer
        if consumer is None:
            raise SourceUnavailable("the Kafka consumer is closed")
        mine = consumer.assignment()
        offsets = {
            tp: position
            for shard, position in positions.items()
            if (tp := self._partitions.get(shard)) is not None and tp in mine
        }
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            raise SourceUnavailable(f"committing offsets failed: {_reason(exc)}") from exc

    # -- health --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._healthy

    @property
    def problem(self) -> str | None:
        if self._healthy:
            return None
        return f"cannot reach Kafka at {self._servers}: {self._problem or 'not connected'}"

    def lag(self, shard_id: str) -> int | None:
        tp = self._partitions.get(shard_id)
        if tp is None or self._consumer is None:
            return None
        highwater = self._consumer.highwater(tp)
        position = self._next.get(shard_id)
        if highwater is None or position is None:
            return None
        return max(0, int(highwater) - position)

    async def _watch(self) -> None:
        """Ask the broker for metadata every second; report outages and missing topics."""
        while self._consumer is not None:
            problem = self._problem = await self._check(self._consumer)
            healthy = problem is None
            if healthy != self._healthy:
                if healthy:
                    log.info("Kafka reachable again", source=self._source, servers=self._servers)
                else:
                    log.warning(
                        "Kafka unavailable",
                        source=self._source,
                        servers=self._servers,
                        problem=problem,
                    )
                self._healthy = healthy
            await asyncio.sleep(PROBE_EVERY)

    async def _check(self, consumer: AIOKafkaConsumer) -> str | None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                existing = await consumer.topics()
        except (KafkaError, OSError, TimeoutError) as exc:
            return _reason(exc)
        missing = sorted(set(self._topics) - set(existing))
        return f"topic(s) {', '.join(missing)} missing" if missing else None


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's rebalance callbacks, forwarded to the source (awaited by aiokafka)."""

    def __init__(self, source: KafkaStreamSource) -> None:
        self._source = source

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._source.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._source.assigned(set(assigned))


def _shard(tp: TopicPartition, start: int | None = None) -> ShardInfo:
    return ShardInfo(f"{tp.topic}-{tp.partition}", tp.topic, tp.partition, start=start)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def kafka_source(name: str, config: KafkaSourceConfig, env: HubEnv) -> StreamMapping:
    """Factory of ``type: kafka`` sources (``registry.SOURCES["kafka"]``)."""
    loaded = env.loaded
    connection = loaded.config.connections[config.connection]
    if not isinstance(connection, KafkaConnection):
        raise SourceUnavailable(f"connection {config.connection!r} is not a kafka connection")
    grace = loaded.config.hub.shutdown_grace
    source = KafkaStreamSource(
        connection,
        loaded,
        topics=config.topics,
        group_id=config.group_id or f"eventhub-{name}",
        start=starting_position(config),
        session_timeout=config.session_timeout,
        fetch_max_wait_ms=config.fetch_max_wait_ms,
        max_records=min(10_000, max(500, config.batch_size * config.parallelization_factor)),
        revoke_grace=grace,
        source=name,
    )
    return build_stream_mapping(
        name,
        "kafka",
        config,
        source,
        env,
        event_format=config.event_format,
        bootstrap_servers=",".join(connection.servers),
    )
