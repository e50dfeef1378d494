"""Counters of a stream mapping, their snapshot for ``/sources``, and their Prometheus side.

Lanes update ``ShardStats`` once per batch (never per record); ``statistics()`` turns them
into immutable NamedTuples; ``StreamMetrics`` mirrors the same events into the hub's
Prometheus registry (names after Lambda's: IteratorAge and friends).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import NamedTuple

from eventhub.metrics import Metrics


@dataclass(slots=True)
class ShardStats:
    """Live counters of one shard (mutated by its lanes)."""

    shard: str
    batches: int = 0
    records: int = 0
    filtered: int = 0
    retries: int = 0
    given_up: int = 0
    failed_batches: int = 0
    in_flight: int = 0
    blocked_lanes: int = 0
    iterator_age_ms: int = 0
    checkpoint: int | None = None
    buffered: int = 0


class ShardStatistics(NamedTuple):
    """One shard as ``/sources`` shows it."""

    shard: str
    checkpoint: int | None
    iterator_age_ms: int
    lag: int | None
    buffered: int
    blocked: bool
    in_flight: int
    batches: int
    records: int
    filtered: int
    retries: int
    given_up: int


class StreamStatistics(NamedTuple):
    """A stream mapping's totals and its shards."""

    shards: int
    blocked_shards: int
    in_flight: int
    batches: int
    records: int
    filtered: int
    retries: int
    given_up: int
    failed_batches: int
    iterator_age_ms: int
    lag: int | None
    per_shard: tuple[ShardStatistics, ...]

    def detail(self) -> dict[str, object]:
        """The ``SourceStatus.detail`` dict (plain JSON types)."""
        return {
            "shards": self.shards,
            "blocked_shards": self.blocked_shards,
            "in_flight": self.in_flight,
            "batches": self.batches,
            "records": self.records,
            "filtered": self.filtered,
            "retries": self.retries,
            "given_up": self.given_up,
            "failed_batches": self.failed_batches,
            "errors": self.failed_batches,
            "iterator_age_ms": self.iterator_age_ms,
            "lag": self.lag,
            "shard_detail": {s.shard: s._asdict() for s in self.per_shard},
        }


_TOTALS = ("batches", "records", "filtered", "retries", "given_up", "failed_batches")


def retire(into: ShardStats, shard: ShardStats) -> None:
    """Keep the counters of a shard that left (stopped, revoked) in the mapping's totals."""
    for name in _TOTALS:
        setattr(into, name, getattr(into, name) + getattr(shard, name))


def snapshot(
    stats: list[tuple[ShardStats, int | None]], retired: ShardStats | None = None
) -> StreamStatistics:
    """Immutable statistics from live shard counters, each shard's lag, and the totals of
    shards that already left."""
    shards = tuple(
        ShardStatistics(
            shard=s.shard,
            checkpoint=s.checkpoint,
            iterator_age_ms=s.iterator_age_ms,
            lag=lag,
            buffered=s.buffered,
            blocked=s.blocked_lanes > 0,
            in_flight=s.in_flight,
            batches=s.batches,
            records=s.records,
            filtered=s.filtered,
            retries=s.retries,
            given_up=s.given_up,
        )
        for s, lag in stats
    )
    lags = [lag for _, lag in stats if lag is not None]
    old = retired or ShardStats("")
    return StreamStatistics(
        shards=len(shards),
        blocked_shards=sum(1 for s in shards if s.blocked),
        in_flight=sum(s.in_flight for s in shards),
        batches=old.batches + sum(s.batches for s in shards),
        records=old.records + sum(s.records for s in shards),
        filtered=old.filtered + sum(s.filtered for s in shards),
        retries=old.retries + sum(s.retries for s in shards),
        given_up=old.given_up + sum(s.given_up for s in shards),
        failed_batches=old.failed_batches + sum(s.failed_batches for s, _ in stats),
        iterator_age_ms=max((s.iterator_age_ms for s in shards), default=0),
        lag=sum(lags) if lags else None,
        per_shard=shards,
    )


class StreamMetrics:
    """The Prometheus side of one mapping's events, labelled with the source name."""

    def __init__(self, metrics: Metrics, source: str) -> None:
        self._metrics = metrics
        self._source = source
        self._blocked = metrics.stream_blocked_shards.labels(source)
        self._retries = metrics.stream_retries.labels(source)

    def batch(self, result: str, records: int) -> None:
        """A batch finished: ``success``, ``partial``, ``given_up`` or ``filtered``."""
        self._metrics.stream_batches.labels(self._source, result).inc()
        outcome = {"success": "processed", "partial": "processed"}.get(result, result)
        self._metrics.stream_records.labels(self._source, outcome).inc(records)

    def retry(self) -> None:
        self._retries.inc()

    def blocked_shards(self, count: int) -> None:
        self._blocked.set(count)

    def iterator_age(self, shard: str, age_ms: int) -> None:
        self._metrics.stream_iterator_age.labels(self._source, shard).set(age_ms / 1000)

    def dead_letter_error(self) -> None:
        self._metrics.dead_letter_errors.labels(self._source).inc()

    def forget(self, shard: str) -> None:
        """A shard left this hub (Kafka rebalance): drop its per-shard series."""
        with contextlib.suppress(KeyError):
            self._metrics.stream_iterator_age.remove(self._source, shard)
