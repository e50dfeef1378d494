"""Per-source gauges read at scrape time, queue batch results, invocation log tags, and the
``eventhub status`` columns."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from eventhub.api.admin import build_admin_app
from eventhub.cli.status import lag, result
from eventhub.mapping.queue_stats import QueueCounters
from eventhub.metrics import Metrics
from eventhub.runtime.funclog import JsonLineSink, StructlogSink, tag_invocations
from eventhub.sources import SourceStatus


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_source_gauges_follow_the_overview_at_scrape_time() -> None:
    overview: list[SourceStatus] = []
    metrics = Metrics()
    metrics.track_sources(lambda: overview)
    assert not [k for k in samples(metrics) if k[0].startswith("eventhub_source_")]

    shard = {"shardId-000000000000": {"lag": 12}, "shardId-000000000001": {"lag": None}}
    overview[:] = [
        SourceStatus("clicks-in", "stream", "f", "running", True, detail={"shard_detail": shard}),
        SourceStatus("tasks-in", "rabbitmq", "f", "backoff", False),
        SourceStatus("api", "http", "f", "disabled", False),
    ]
    now = samples(metrics)
    assert now[("eventhub_source_up", (("source", "clicks-in"), ("type", "stream")))] == 1
    assert now[("eventhub_source_up", (("source", "tasks-in"), ("type", "rabbitmq")))] == 0
    assert now[("eventhub_source_enabled", (("source", "tasks-in"), ("type", "rabbitmq")))] == 1
    assert now[("eventhub_source_enabled", (("source", "api"), ("type", "http")))] == 0
    lags = {dict(k[1])["shard"]: v for k, v in now.items() if k[0] == "eventhub_stream_lag_records"}
    assert lags == {"shardId-000000000000": 12}  # an unknown lag is left out

    overview.pop(0)  # a removed source's series go with it
    assert not [k for k in samples(metrics) if ("source", "clicks-in") in k[1]]


def test_queue_batches_count_success_partial_and_failure() -> None:
    metrics = Metrics()
    counters = QueueCounters("jobs-in", metrics)
    counters.invoked(True)
    counters.invoked(True, partial=True)
    counters.invoked(False, partial=True)
    now = samples(metrics)
    for result_name in ("success", "partial", "failure"):
        key = ("eventhub_queue_batches_total", (("result", result_name), ("source", "jobs-in")))
        assert now[key] == 1
    assert counters.snapshot().failed_invocations == 1


async def test_function_lines_carry_the_tags_of_the_task_that_invoked() -> None:
    out = io.StringIO()
    sink = JsonLineSink(out)

    async def lane() -> None:
        tag_invocations(source="clicks-in", shard="shardId-000000000001")
        state = sink.begin("f", "req-1")
        sink.line(state, "START RequestId: req-1", None)
        sink.line(state, "hello", "stdout")

    await asyncio.create_task(lane())
    sink.line(sink.begin("f", "req-2"), "END RequestId: req-2", None)  # untagged context
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    for line in (first, second):
        assert (line["function"], line["request_id"], line["source"], line["shard"]) == (
            "f", "req-1", "clicks-in", "shardId-000000000001",
        )  # fmt: skip
    assert second["stream"] == "stdout"
    assert "source" not in third

    with capture_logs() as logs:

        async def poller() -> None:
            tag_invocations(source="jobs-in")
            StructlogSink().line(StructlogSink().begin("f", "req-3"), "END", None)

        await asyncio.create_task(poller())
    assert logs[0]["source"] == "jobs-in"
    assert logs[0]["request_id"] == "req-3"


def status(detail: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base = {"last_result": "OK", "last_error": None, "connected": True, "detail": detail}
    return {**base, **fields}


def test_status_lag_uses_each_kind_of_detail() -> None:
    assert lag({"iterator_age_ms": 1500, "lag": 42}) == "42 rec, age 1.5s"
    assert lag({"iterator_age_ms": 12, "lag": None}) == "age 12ms"  # Kafka before a fetch
    assert lag({"visible": 3, "in_flight": 2}) == "3 msgs (+2 in flight)"
    assert lag({"visible": 0, "unsettled": 0}) == "0 msgs"  # RabbitMQ
    assert lag({"route": "GET /"}) == ""


def test_status_result_explains_problems_with_the_last_error() -> None:
    assert result(status({})) == "OK"
    failed = status({}, last_result="PROBLEM: Function call failed", last_error="ValueError: x")
    assert result(failed) == "PROBLEM: Function call failed: ValueError: x"
    down = status({}, last_result=None, last_error="cannot reach RabbitMQ", connected=False)
    assert result(down) == "cannot reach RabbitMQ"
    assert len(result(status({}, last_result="x" * 200))) == 70


class FakeHub:
    """What the admin API reads of a hub, with a loop lag and sources set by the test."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.lag = 0.0
        self.sources: list[SourceStatus] = []

    def loop_lag(self) -> float:
        return self.lag

    def functions_overview(self) -> list[dict[str, Any]]:
        return []

    def sources_overview(self) -> list[SourceStatus]:
        return self.sources

    async def set_source_enabled(self, name: str, enabled: bool) -> SourceStatus:
        raise KeyError(name)

    async def reload(self) -> dict[str, Any]:
        return {}


async def test_health_fails_only_when_the_loop_is_stuck() -> None:
    hub = FakeHub()
    runner = web.AppRunner(build_admin_app(hub))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    async def get(path: str) -> int:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}{path}") as reply:
                return reply.status

    try:
        hub.sources = [
            SourceStatus("down", "rabbitmq", "f", "backoff", False),
            SourceStatus("paused", "kafka", "f", "disabled", False),
        ]
        assert (await get("/health"), await get("/ready")) == (200, 503)  # an outage: not dead
        hub.sources.pop(0)
        assert (await get("/health"), await get("/ready")) == (200, 200)  # disabled: ignored
        hub.lag = 11.0  # the loop has not turned for 11 s
        assert (await get("/health"), await get("/ready")) == (503, 200)
    finally:
        await runner.cleanup()
