"""Counters of one queue mapping: ``statistics()`` for ``/sources``, Prometheus for metrics."""

from __future__ import annotations

from typing import NamedTuple

from eventhub.metrics import Metrics


class QueueStatistics(NamedTuple):
    """A snapshot of one queue mapping since it started."""

    batches_in_flight: int
    messages_in_flight: int
    received: int
    deleted: int
    retried: int
    dead_lettered: int
    filtered: int
    invocations: int
    failed_invocations: int
    redelivered: int
    max_receive_count_seen: int


class QueueCounters:
    """Mutable counters behind ``QueueStatistics``; every update is per batch, not per message."""

    def __init__(self, source: str, metrics: Metrics | None) -> None:
        self.batches_in_flight = 0
        self.messages_in_flight = 0
        self.received = 0
        self.deleted = 0
        self.retried = 0
        self.dead_lettered = 0
        self.filtered = 0
        self.invocations = 0
        self.failed_invocations = 0
        self.redelivered = 0
        self.max_receive_count_seen = 0
        self._metrics = metrics
        self._source = source
        if metrics is not None:
            messages = metrics.queue_messages
            self._received = messages.labels(source, "received")
            self._deleted = messages.labels(source, "deleted")
            self._retried = messages.labels(source, "retried")
            self._dead = messages.labels(source, "dead_lettered")
            self._filtered = messages.labels(source, "filtered")
            self._in_flight = metrics.queue_batches_in_flight.labels(source)
            self._batches = {
                result: metrics.queue_batches.labels(source, result)
                for result in ("success", "partial", "failure")
            }

    def batch_started(self, size: int, redelivered: int, max_count: int) -> None:
        self.batches_in_flight += 1
        self.messages_in_flight += size
        self.received += size
        self.redelivered += redelivered
        self.max_receive_count_seen = max(self.max_receive_count_seen, max_count)
        if self._metrics is not None:
            self._received.inc(size)
            self._in_flight.set(self.batches_in_flight)

    def batch_ended(self, size: int) -> None:
        self.batches_in_flight -= 1
        self.messages_in_flight -= size
        if self._metrics is not None:
            self._in_flight.set(self.batches_in_flight)

    def invoked(self, ok: bool, partial: bool = False) -> None:
        """One invocation ended: ``ok`` the function succeeded, ``partial`` yet it reported
        (or the judge found) failed messages."""
        self.invocations += 1
        if not ok:
            self.failed_invocations += 1
        if self._metrics is not None:
            result = "failure" if not ok else "partial" if partial else "success"
            self._batches[result].inc()

    def settled(self, deleted: int = 0, retried: int = 0, dead: int = 0, filtered: int = 0) -> None:
        self.deleted += deleted
        self.retried += retried
        self.dead_lettered += dead
        self.filtered += filtered
        if self._metrics is not None:
            for counter, amount in (
                (self._deleted, deleted),
                (self._retried, retried),
                (self._dead, dead),
                (self._filtered, filtered),
            ):
                if amount:
                    counter.inc(amount)

    def dead_letter_error(self) -> None:
        if self._metrics is not None:
            self._metrics.dead_letter_errors.labels(self._source).inc()

    def depth(self, figures: dict[str, int]) -> None:
        """Publish the queue's depth figures (``visible``, ``in_flight``...) as gauges."""
        if self._metrics is None:
            return
        for state in ("visible", "in_flight", "delayed", "dead_letter_depth"):
            if state in figures:
                label = "dead_letter" if state == "dead_letter_depth" else state
                self._metrics.queue_depth.labels(self._source, label).set(figures[state])

    def snapshot(self) -> QueueStatistics:
        return QueueStatistics(
            self.batches_in_flight,
            self.messages_in_flight,
            self.received,
            self.deleted,
            self.retried,
            self.dead_lettered,
            self.filtered,
            self.invocations,
            self.failed_invocations,
            self.redelivered,
            self.max_receive_count_seen,
        )
