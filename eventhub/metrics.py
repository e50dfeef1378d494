"""Prometheus metrics, named after Lambda's CloudWatch metrics.

One registry per hub (tests run several hubs in one process). Labels: ``function``
for invocation metrics, ``source`` (and ``shard`` where it matters) for mappings.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DURATION_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    900,
)


class Metrics:
    """Every metric the hub exports; created once per hub with its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.invocations = Counter(
            "eventhub_invocations",
            "Invocations of a function (Lambda: Invocations).",
            ["function"],
            registry=r,
        )
        self.errors = Counter(
            "eventhub_errors",
            "Invocations that ended in a function error (Lambda: Errors).",
            ["function", "error_type"],
            registry=r,
        )
        self.throttles = Counter(
            "eventhub_throttles",
            "Invocations refused for lack of concurrency (Lambda: Throttles).",
            ["function"],
            registry=r,
        )
        self.duration = Histogram(
            "eventhub_duration_seconds",
            "Handler run time (Lambda: Duration).",
            ["function"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.concurrent = Gauge(
            "eventhub_concurrent_executions",
            "Invocations running now (Lambda: ConcurrentExecutions).",
            ["function"],
            registry=r,
        )
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
        # -- stream event source mappings (embedded stream, Kafka): eventhub/mapping/stream.py
        self.stream_iterator_age = Gauge(
            "eventhub_stream_iterator_age_seconds",
            "Age of the last record of a shard's latest batch; 0 once caught up "
            "(Lambda: IteratorAge).",
            ["source", "shard"],
            registry=r,
        )
        self.stream_lag = Gauge(
            "eventhub_stream_lag_records",
            "Records of a shard not yet read by the mapping (Kafka: OffsetLag).",
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
