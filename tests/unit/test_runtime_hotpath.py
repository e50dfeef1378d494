"""The per-invocation hot path: deadlines, request ids, function log lines, counters."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid

import pytest

from eventhub.metrics import Metrics
from eventhub.runtime import funclog
from eventhub.runtime.deadline import GRANULARITY, run_within
from eventhub.runtime.logcapture import InvocationLog
from eventhub.runtime.loopguard import HandlerBlockedLoop, LoopGuard
from eventhub.runtime.stats import request_id


async def test_run_within_times_out_and_cancels_the_awaitable() -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        await run_within(slow(), 0.02)
    assert cancelled.is_set()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_run_within_returns_the_value_and_leaves_no_pending_cancel() -> None:
    async def quick() -> int:
        return 7

    assert await run_within(quick(), GRANULARITY) == 7
    await asyncio.sleep(2 * GRANULARITY)  # the slot fires after we are done: no stray cancel


async def test_an_outer_cancellation_is_not_a_timeout() -> None:
    started = asyncio.Event()

    async def waits() -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(run_within(waits(), 5))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_request_ids_are_version_4_uuids() -> None:
    ids = {request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in list(ids)[:200]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_json_sink_writes_structlog_shaped_lines_in_order() -> None:
    out = io.StringIO()
    funclog.install_sink(funclog.JsonLineSink(out))
    try:
        log = InvocationLog("fn", "req-1")
        log.line("START RequestId: req-1 Version: $LATEST")
        log.write("printed\n", "stdout")
        log.line("END RequestId: req-1")
        log.line("REPORT RequestId: req-1")
    finally:
        funclog.install_sink(None)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [
        "START RequestId: req-1 Version: $LATEST",
        "printed",
        "END RequestId: req-1",
        "REPORT RequestId: req-1",
    ]
    assert all(line["function"] == "fn" and line["request_id"] == "req-1" for line in lines)
    assert lines[1]["stream"] == "stdout"
    assert all(line["level"] == "info" and line["timestamp"].endswith("Z") for line in lines)


def test_disabled_json_sink_writes_nothing_but_keeps_the_tail() -> None:
    out = io.StringIO()
    funclog.install_sink(funclog.JsonLineSink(out, threshold=30))
    try:
        log = InvocationLog("fn", "req-2")
        log.line("REPORT RequestId: req-2")
    finally:
        funclog.install_sink(None)
    assert out.getvalue() == ""
    assert "REPORT RequestId: req-2" in log.tail()


def test_tail_keeps_the_last_4_kb_of_a_chatty_invocation() -> None:
    log = InvocationLog("fn", "req-3")
    for index in range(2000):
        log.line(f"line {index:05d} " + "x" * 40)
    tail = log.tail()
    assert len(tail.encode()) == 4096
    assert tail.endswith("line 01999 " + "x" * 40 + "\n")


def test_function_counters_are_exported_as_prometheus_metrics() -> None:
    metrics = Metrics()
    stats = metrics.function_stats("orders")
    stats.record(0.003, None)
    stats.record(2.0, "ValueError")
    stats.throttles += 1
    registry = metrics.registry
    assert registry.get_sample_value("eventhub_invocations_total", {"function": "orders"}) == 2
    assert (
        registry.get_sample_value(
            "eventhub_errors_total", {"function": "orders", "error_type": "ValueError"}
        )
        == 1
    )
    assert registry.get_sample_value("eventhub_throttles_total", {"function": "orders"}) == 1
    count = registry.get_sample_value("eventhub_duration_seconds_count", {"function": "orders"})
    le_5ms = registry.get_sample_value(
        "eventhub_duration_seconds_bucket", {"function": "orders", "le": "0.005"}
    )
    assert (count, le_5ms) == (2, 1)


async def test_loop_guard_interrupts_a_handler_that_blocks_the_loop() -> None:
    guard = LoopGuard(limit=0.2)

    async def handler(event: object, context: object) -> str:
        time.sleep(2)  # blocks the loop
        return "never"

    guard.register("blocker", handler)
    await guard.start()
    try:
        started = time.monotonic()
        with pytest.raises(HandlerBlockedLoop):
            await handler(None, None)
        assert time.monotonic() - started < 1.5
        assert guard.isolated("blocker")
        assert not guard.isolated("other")
    finally:
        await guard.stop()


async def test_loop_guard_leaves_code_that_is_not_a_handler_alone() -> None:
    guard = LoopGuard(limit=0.1)
    await guard.start()
    try:
        time.sleep(0.4)  # the daemon's own code blocking: reported, never interrupted
        await asyncio.sleep(0)
    finally:
        await guard.stop()


def test_error_lines_keep_their_level_and_pass_a_warning_threshold() -> None:
    out = io.StringIO()
    funclog.install_sink(funclog.JsonLineSink(out, threshold=30))
    try:
        log = InvocationLog("fn", "req-4")
        log.line("START RequestId: req-4 Version: $LATEST")
        log.line("[ERROR] ValueError: boom\rTraceback (most recent call last):", level="error")
    finally:
        funclog.install_sink(None)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["level"], line["event"][:7]) for line in lines] == [("error", "[ERROR]")]


def test_console_sink_turns_lambda_carriage_returns_into_lines() -> None:
    from structlog.testing import capture_logs

    funclog.install_console_sink()
    try:
        with capture_logs() as logs:
            InvocationLog("fn", "req-5").line("[ERROR] E: x\rTraceback\r  File", level="error")
    finally:
        funclog.install_sink(None)
    assert logs[0]["event"] == "[ERROR] E: x\nTraceback\n  File"
    assert logs[0]["log_level"] == "error"
