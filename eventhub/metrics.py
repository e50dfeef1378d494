"""Prometheus metrics, named after Lambda's CloudWatch metrics.

One registry per hub (tests run several hubs in one process). Labels: ``function``
for invocation metrics, ``source`` (and ``shard`` where it matters) for mappings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from eventhub.runtime.stats import DURATION_BUCKETS, FunctionStats
from eventhub.sources import SourceStatus


class FunctionCollector(Collector):
    """Exports the per-function counters the runtime keeps as plain numbers."""

    def __init__(self, stats: dict[str, FunctionStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        invocations = CounterMetricFamily(
            "eventhub_invocations",
            "Invocations of a function (Lambda: Invocations).",
            labels=["function"],
        )
        errors = CounterMetricFamily(
            "eventhub_errors",
            "Invocations that ended in a function error (Lambda: Errors).",
            labels=["function", "error_type"],
        )
        throttles = CounterMetricFamily(
            "eventhub_throttles",
            "Invocations refused for lack of concurrency (Lambda: Throttles).",
            labels=["function"],
        )
        duration = HistogramMetricFamily(
            "eventhub_duration_seconds", "Handler run time (Lambda: Duration).", labels=["function"]
        )
        concurrent = GaugeMetricFamily(
            "eventhub_concurrent_executions",
            "Invocations running now (Lambda: ConcurrentExecutions).",
            labels=["function"],
        )
        for name, stats in list(self._stats.items()):
            invocations.add_metric([name], stats.invocations)
            throttles.add_metric([name], stats.throttles)
            concurrent.add_metric([name], stats.running)
            for error_type, count in list(stats.errors.items()):
                errors.add_metric([name, error_type], count)
            duration.add_metric([name], _cumulative(stats.buckets), stats.duration_sum)
        yield from (invocations, errors, throttles, duration, concurrent)


def _cumulative(buckets: list[int]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip((*DURATION_BUCKETS, float("inf")), buckets, strict=True):
        total += count
        out.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
    return out


# -- every source (issue 6): read from the supervisors' status at scrape time -------------


class SourceCollector(Collector):
    """Connection state of every source and the lag of stream shards, from ``overview()``
    (the hub's ``sources_overview``) at scrape time: nothing to keep up to date, and a
    removed source's series disappear with it."""

    def __init__(self, overview: Callable[[], list[SourceStatus]]) -> None:
        self._overview = overview

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        up, enabled, lag = self._families()
        for status in self._overview():
            labels = [status.name, status.type]
            up.add_metric(labels, 1 if status.connected else 0)
            enabled.add_metric(labels, 0 if status.state == "disabled" else 1)
            shards = status.detail.get("shard_detail")
            if isinstance(shards, dict):
                for shard, figures in shards.items():
                    if figures.get("lag") is not None:
                        lag.add_metric([status.name, shard], figures["lag"])
        yield from (up, enabled, lag)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "eventhub_source_up",
                "1 while the source is connected (its broker answers, its route or watch is "
                "in place); 0 while starting, disconnected, backing off or disabled.",
                labels=["source", "type"],
            ),
            GaugeMetricFamily(
                "eventhub_source_enabled",
                "1 unless the source is disabled (config `enabled: false` or "
                "POST /sources/{name}/disable).",
                labels=["source", "type"],
            ),
            GaugeMetricFamily(
                "eventhub_stream_lag_records",
                "Records of a shard after the last one the mapping read (Kafka: OffsetLag).",
                labels=["source", "shard"],
            ),
        )


class Metrics:
    """Every metric the hub exports; created once per hub with its own registry."""

    def track_sources(self, overview: Callable[[], list[SourceStatus]]) -> None:
        """Export the per-source gauges of ``SourceCollector`` from ``overview``."""
        self.registry.register(SourceCollector(overview))

    def function_stats(self, name: str) -> FunctionStats:
        """The counters of function ``name``, created on first use and kept for the hub's life."""
        stats = self.functions.get(name)
        if stats is None:
            stats = self.functions[name] = FunctionStats()
        return stats

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.functions: dict[str, FunctionStats] = {}
        r.register(FunctionCollector(self.functions))
        self.async_event_age = Histogram(
            "eventhub_async_event_age_seconds",
            "Time from accepting an Event invocation to its attempt (Lambda: AsyncEventAge).",
            ["function"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.async_events_received = Counter(
            "eventhub_async_events_received",
            "Event invocations accepted (Lambda: AsyncEventsReceived).",
            ["function"],
            registry=r,
        )
        self.async_events_dropped = Counter(
            "eventhub_async_events_dropped",
            "Event invocations dropped without success (Lambda: AsyncEventsDropped).",
            ["function", "reason"],
            registry=r,
        )
        self.async_queue_depth = Gauge(
            "eventhub_async_queue_depth",
            "Event invocations waiting or being retried.",
            ["function"],
            registry=r,
        )
        self.destination_failures = Counter(
            "eventhub_destination_delivery_failures",
            "Records a destination did not take (Lambda: DestinationDeliveryFailures).",
            ["function", "destination"],
            registry=r,
        )
        self.dead_letter_errors = Counter(
            "eventhub_dead_letter_errors",
            "Records that could not be written to a dead letter (Lambda: DeadLetterErrors).",
            ["source"],
            registry=r,
        )
        self._stream_sources(r)
        self._push_sources(r)
        self._queue_sources(r)

    def _stream_sources(self, r: CollectorRegistry) -> None:
        # -- stream event source mappings (embedded stream, Kafka): eventhub/mapping/stream.py
        self.stream_iterator_age = Gauge(
            "eventhub_stream_iterator_age_seconds",
            "Age of the last record of a shard's latest batch; 0 once caught up "
            "(Lambda: IteratorAge).",
            ["source", "shard"],
            registry=r,
        )
        self.stream_batches = Counter(
            "eventhub_stream_batches",
            "Stream batches finished, by result: success, partial, given_up, filtered.",
            ["source", "result"],
            registry=r,
        )
        self.stream_records = Counter(
            "eventhub_stream_records",
            "Stream records finished, by outcome: processed, given_up, filtered.",
            ["source", "outcome"],
            registry=r,
        )
        self.stream_retries = Counter(
            "eventhub_stream_retries",
            "Retries of failed stream batches (bisections are not retries).",
            ["source"],
            registry=r,
        )
        self.stream_blocked_shards = Gauge(
            "eventhub_stream_blocked_shards",
            "Shards of a stream mapping blocked on a failing batch.",
            ["source"],
            registry=r,
        )

    def _push_sources(self, r: CollectorRegistry) -> None:
        # -- push sources (issue 5): http routes, files buckets, schedules ----------------
        self.http_requests = Counter(
            "eventhub_http_requests",
            "Requests answered by an http source's route, by status code (API Gateway: Count, "
            "4XXError, 5XXError).",
            ["source", "status"],
            registry=r,
        )
        self.files_events = Counter(
            "eventhub_files_events",
            "S3 event notifications announced by a files source, by event name.",
            ["source", "event"],
            registry=r,
        )
        self.schedule_fires = Counter(
            "eventhub_schedule_fires",
            "Due times fired by a schedule source (EventBridge: TriggeredRules).",
            ["source"],
            registry=r,
        )
        self.schedule_lateness = Histogram(
            "eventhub_schedule_lateness_seconds",
            "How long after its due time a schedule fire was enqueued.",
            ["source"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 60),
            registry=r,
        )

    def _queue_sources(self, r: CollectorRegistry) -> None:
        # -- queue event source mappings (embedded queue, RabbitMQ): eventhub/mapping/queue.py
        self.queue_messages = Counter(
            "eventhub_queue_messages",
            "Messages of queue mappings by what happened to them: received, deleted (after "
            "success), retried (failed, back to the queue), dead_lettered, filtered (deleted "
            "without invoking).",
            ["source", "outcome"],
            registry=r,
        )
        self.queue_batches_in_flight = Gauge(
            "eventhub_queue_batches_in_flight",
            "Batches of a queue mapping being processed now (at most max_concurrency).",
            ["source"],
            registry=r,
        )
        self.queue_batches = Counter(
            "eventhub_queue_batches",
            "Invocations of queue mappings (one per batch, or per part of a batch over the "
            "payload limit), by result: success, partial (some messages reported failed), "
            "failure (function error or timeout).",
            ["source", "result"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "eventhub_queue_depth",
            "Messages in a mapping's queue by state: visible, in_flight (not visible), "
            "delayed, dead_letter (SQS ApproximateNumberOfMessages*).",
            ["source", "state"],
            registry=r,
        )
