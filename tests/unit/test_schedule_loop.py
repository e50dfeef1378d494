"""The schedule loop on a controllable clock: no sleeping, no timing assertions.

A real SQLite store holds the schedule state; the invoker is a recording stand-in that
runs the ``also`` operation in the store as the real one does (same transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.parser import models
from structlog.testing import capture_logs

from connectors.schedule import ScheduleSource
from connectors.schedule_expressions import parse_schedule
from connectors.schedule_plan import passed_due_times
from eventhub.config.loader import LoadedConfig, parse_config
from eventhub.config.sources import ScheduleSourceConfig
from eventhub.hubenv import HubEnv
from eventhub.metrics import Metrics
from eventhub.store.db import Operation, Store

T0 = datetime(2024, 3, 29, 12, 0, 0, 250000, tzinfo=UTC)


class FakeClock:
    """Time moves only when the test says so; sleepers wake when their time is reached.
    Each source gets a ``view`` so a test can tell which loop is asleep."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None], int]] = []

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime, tag: int = 0) -> None:
        if when <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (when, future, tag)
        self._sleepers.append(entry)
        try:
            await future
        finally:
            self._sleepers.remove(entry)

    def set(self, moment: datetime) -> None:
        self._now = moment
        for when, future, _ in list(self._sleepers):
            if when <= moment and not future.done():
                future.set_result(None)

    def asleep_until(self, tag: int | None = None) -> datetime | None:
        """The time a loop (the one with ``tag``, or any) sleeps until, if asleep now."""
        waiting = [
            w
            for w, f, t in self._sleepers
            if not f.done() and w > self._now and (tag is None or t == tag)
        ]
        return min(waiting) if waiting else None

    def view(self, tag: int) -> ClockView:
        return ClockView(self, tag)


class ClockView:
    def __init__(self, clock: FakeClock, tag: int) -> None:
        self._clock = clock
        self.tag = tag

    def now(self) -> datetime:
        return self._clock.now()

    async def sleep_until(self, when: datetime) -> None:
        await self._clock.sleep_until(when, self.tag)


class RecordingInvoker:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.events: list[Any] = []

    async def enqueue(self, name: str, payload: bytes, *, also: Operation | None = None) -> str:
        def op(conn: Any) -> None:
            if also is not None:
                also(conn)

        await self.store.run(op)  # raises (and stores nothing) when ``also`` refuses
        self.events.append(json.loads(payload))
        return "request-id"


class Harness:
    def __init__(self, store: Store, loaded: LoadedConfig, clock: FakeClock) -> None:
        self.store = store
        self.loaded = loaded
        self.clock = clock
        self.invoker = RecordingInvoker(store)
        self.sources: list[tuple[ScheduleSource, asyncio.Task[None]]] = []
        self._tags: dict[int, int] = {}

    @property
    def events(self) -> list[Any]:
        return self.invoker.events

    def times(self) -> list[str]:
        return [e["time"] for e in self.events]

    async def start(self, expression: str, name: str = "tick", **settings: Any) -> ScheduleSource:
        config = ScheduleSourceConfig(
            type="schedule", expression=expression, function="f", **settings
        )
        env = cast(HubEnv, _Env(self.loaded, self.invoker, self.store))
        view = self.clock.view(len(self.sources) + 1)
        source = ScheduleSource(name, config, env, clock=view)
        self._tags[id(source)] = view.tag
        task = asyncio.create_task(source.run())
        self.sources.append((source, task))
        await self.idle(source)
        return source

    async def idle(self, source: ScheduleSource) -> None:
        """Until the loop sleeps again (or has nothing left to do)."""
        for _ in range(5000):
            asleep = self.clock.asleep_until(self._tags[id(source)]) is not None
            if asleep or source.status().state == "completed":
                return
            await asyncio.sleep(0.001)
        raise AssertionError("the schedule loop did not go back to sleep")

    async def advance(self, source: ScheduleSource, to: datetime) -> None:
        self.clock.set(to)
        await asyncio.sleep(0)
        await self.idle(source)

    async def stop(self, source: ScheduleSource) -> None:
        await source.stop(5)
        task = next(t for s, t in self.sources if s is source)
        await task

    async def kill(self, source: ScheduleSource) -> None:
        """As abrupt as it gets inside one process: cancel the loop where it is."""
        task = next(t for s, t in self.sources if s is source)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _Env:
    def __init__(self, loaded: LoadedConfig, invoker: RecordingInvoker, store: Store) -> None:
        self.loaded = loaded
        self.invoker = invoker
        self.store = store
        self.metrics = Metrics()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    text = (
        'version: 1\nhub: {region: eu-west-3, account_id: "123456789012"}\n'
        "functions: {f: {handler: m:h}}\n"
    )
    loaded = LoadedConfig(parse_config(text, {}), tmp_path / "eventhub.yaml", text)
    async with Store(tmp_path / "state.db") as store:
        h = Harness(store, loaded, FakeClock(T0))
        yield h
        for _, task in h.sources:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_rate_fires_one_period_after_first_start_then_every_period(harness: Harness) -> None:
    source = await harness.start("rate(5 minutes)")
    assert harness.clock.asleep_until() == T0 + timedelta(minutes=5)
    await harness.advance(source, T0 + timedelta(minutes=4, seconds=59))
    assert harness.events == []
    for k in (1, 2, 3):
        await harness.advance(source, T0 + timedelta(minutes=5 * k, milliseconds=3))
    assert harness.times() == [iso(T0 + timedelta(minutes=5 * k)) for k in (1, 2, 3)]
    event = harness.events[0]
    models.EventBridgeModel.model_validate(event)
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:eu-west-3:123456789012:rule/tick"]
    assert event["account"] == "123456789012"
    assert event["region"] == "eu-west-3"
    assert event["detail"] == {}
    assert len({e["id"] for e in harness.events}) == 3
    status = source.status()
    assert status.detail["fires"] == 3
    assert status.last_result == f"fired {iso(T0 + timedelta(minutes=15))}"
    assert status.detail["next_run"] == (T0 + timedelta(minutes=20)).isoformat()
    assert status.detail["last_late_ms"] == 3.0
    registry = cast(_Env, source._env).metrics.registry
    assert registry.get_sample_value("eventhub_schedule_fires_total", {"source": "tick"}) == 3


async def test_restart_keeps_the_grid_and_never_fires_a_due_time_twice(harness: Harness) -> None:
    source = await harness.start("rate(1 minute)")
    await harness.advance(source, T0 + timedelta(minutes=1))
    await harness.kill(source)  # right after the fire: the state went with the event
    again = await harness.start("rate(1 minute)")
    assert harness.clock.asleep_until() == T0 + timedelta(minutes=2)
    await harness.stop(again)
    third = await harness.start("rate(1 minute)")
    await harness.advance(third, T0 + timedelta(minutes=2, seconds=30))
    assert harness.times() == [iso(T0 + timedelta(minutes=1)), iso(T0 + timedelta(minutes=2))]


async def test_missed_runs_are_skipped_with_a_warning(harness: Harness) -> None:
    source = await harness.start("rate(1 minute)")
    await harness.advance(source, T0 + timedelta(minutes=1))
    await harness.stop(source)
    harness.clock.set(T0 + timedelta(minutes=10, seconds=30))
    with capture_logs() as logs:
        again = await harness.start("rate(1 minute)")
    assert harness.times() == [iso(T0 + timedelta(minutes=1))]
    warning = next(e for e in logs if e["event"].startswith("runs missed while stopped"))
    assert warning["log_level"] == "warning"
    assert warning["missed"] == "9"
    assert harness.clock.asleep_until() == T0 + timedelta(minutes=11)
    await harness.advance(again, T0 + timedelta(minutes=11))
    assert harness.times()[-1] == iso(T0 + timedelta(minutes=11))


async def test_catch_up_fires_the_latest_missed_run_once(harness: Harness) -> None:
    source = await harness.start("rate(1 minute)", catch_up=True)
    await harness.advance(source, T0 + timedelta(minutes=1))
    await harness.stop(source)
    harness.clock.set(T0 + timedelta(minutes=10, seconds=30))
    again = await harness.start("rate(1 minute)", catch_up=True)
    assert harness.times() == [iso(T0 + timedelta(minutes=1)), iso(T0 + timedelta(minutes=10))]
    await harness.stop(again)
    await harness.start("rate(1 minute)", catch_up=True)  # nothing new was missed
    assert len(harness.events) == 2
    assert harness.clock.asleep_until() == T0 + timedelta(minutes=11)


async def test_at_fires_once(harness: Harness) -> None:
    source = await harness.start("at(2024-03-29T14:30:00)", timezone="Europe/Paris")
    due = datetime(2024, 3, 29, 13, 30, tzinfo=UTC)  # 14:30 CET
    assert harness.clock.asleep_until() == due
    await harness.advance(source, due + timedelta(milliseconds=1))
    assert harness.times() == ["2024-03-29T13:30:00Z"]
    assert source.status().state == "completed"
    await harness.stop(source)
    again = await harness.start("at(2024-03-29T14:30:00)", timezone="Europe/Paris", catch_up=True)
    assert again.status().state == "completed"
    assert len(harness.events) == 1


async def test_at_in_the_past_never_fires(harness: Harness) -> None:
    with capture_logs() as logs:
        source = await harness.start("at(2020-01-01T00:00:00)")
    assert source.status().state == "completed"
    assert harness.events == []
    assert any(e["event"].startswith("one-time schedule lies in the past") for e in logs)


async def test_spring_forward_skips_the_missing_run_with_a_warning(harness: Harness) -> None:
    # Europe/Paris, 2024-03-31: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist.
    with capture_logs() as logs:
        source = await harness.start("cron(30 2 * * ? *)", timezone="Europe/Paris")
        for day in (30, 31):
            await harness.advance(source, datetime(2024, 3, day, 12, tzinfo=UTC))
        await harness.advance(source, datetime(2024, 4, 1, 12, tzinfo=UTC))
    assert harness.times() == ["2024-03-30T01:30:00Z", "2024-04-01T00:30:00Z"]
    skipped = [e for e in logs if e["event"].startswith("run skipped")]
    assert len(skipped) == 1
    assert skipped[0]["log_level"] == "warning"
    assert skipped[0]["wall_time"] == "2024-03-31T02:30:00"


async def test_fall_back_fires_the_repeated_hour_once(harness: Harness) -> None:
    harness.clock.set(datetime(2024, 10, 26, 12, tzinfo=UTC))
    source = await harness.start("cron(30 2 * * ? *)", timezone="Europe/Paris")
    # 2024-10-27: 03:00 CEST falls back to 02:00 CET; 02:30 happens at 00:30Z and 01:30Z.
    assert harness.clock.asleep_until() == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    await harness.advance(source, datetime(2024, 10, 27, 0, 30, tzinfo=UTC))
    assert harness.clock.asleep_until() == datetime(2024, 10, 28, 1, 30, tzinfo=UTC)
    await harness.advance(source, datetime(2024, 10, 27, 1, 30, tzinfo=UTC))
    await harness.advance(source, datetime(2024, 10, 28, 1, 30, tzinfo=UTC))
    assert harness.times() == ["2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"]


async def test_crontab_line_in_a_time_zone(harness: Harness) -> None:
    source = await harness.start("0 12 * * *", timezone="America/New_York")
    await harness.advance(source, datetime(2024, 3, 29, 16, 0, tzinfo=UTC))  # 12:00 EDT
    assert harness.times() == ["2024-03-29T16:00:00Z"]


async def test_a_clock_jump_fires_only_the_latest_due_time(harness: Harness) -> None:
    source = await harness.start("rate(1 minute)")
    with capture_logs() as logs:
        await harness.advance(source, T0 + timedelta(minutes=5, seconds=10))
    assert harness.times() == [iso(T0 + timedelta(minutes=5))]
    assert any(e["event"].startswith("several due times passed") for e in logs)


async def test_fixed_input_is_the_event(harness: Harness) -> None:
    source = await harness.start("rate(1 hour)", input={"job": "report", "n": [1, 2]})
    await harness.advance(source, T0 + timedelta(hours=1))
    assert harness.events == [{"job": "report", "n": [1, 2]}]


async def test_two_instances_of_one_source_never_double_fire(harness: Harness) -> None:
    # A reload can briefly overlap the old and the new instance of a source.
    first = await harness.start("rate(1 minute)")
    second = await harness.start("rate(1 minute)")
    assert harness.clock.asleep_until(1) == harness.clock.asleep_until(2)  # both wait for 12:01
    await harness.advance(first, T0 + timedelta(minutes=1))
    await harness.idle(second)
    assert harness.times() == [iso(T0 + timedelta(minutes=1))]
    assert first.status().detail["fires"] + second.status().detail["fires"] == 1


async def test_a_changed_expression_counts_from_now(harness: Harness) -> None:
    source = await harness.start("rate(1 minute)")
    await harness.advance(source, T0 + timedelta(minutes=1))
    await harness.stop(source)
    harness.clock.set(T0 + timedelta(minutes=1, seconds=20))
    await harness.start("rate(2 minutes)")
    assert harness.clock.asleep_until() == T0 + timedelta(minutes=3, seconds=20)


@pytest.mark.parametrize(
    ("expression", "after", "now", "latest", "number"),
    [
        ("rate(1 minute)", T0, T0 + timedelta(minutes=3, seconds=1), T0 + timedelta(minutes=3), 3),
        (
            "rate(1 minute)",
            T0 + timedelta(minutes=1),
            T0 + timedelta(minutes=1, seconds=59),
            None,
            0,
        ),
        ("rate(1 day)", T0, T0 + timedelta(days=400), T0 + timedelta(days=400), 400),
        (
            "cron(0 * * * ? *)",
            datetime(2024, 1, 1, tzinfo=UTC),
            datetime(2024, 1, 1, 5, 30, tzinfo=UTC),
            datetime(2024, 1, 1, 5, tzinfo=UTC),
            5,
        ),
        (
            "cron(0 0 1 1 ? *)",
            datetime(2020, 6, 1, tzinfo=UTC),
            datetime(2024, 6, 1, tzinfo=UTC),
            datetime(2024, 1, 1, tzinfo=UTC),
            4,
        ),
    ],
)
def test_passed_due_times(
    expression: str, after: datetime, now: datetime, latest: datetime | None, number: int
) -> None:
    schedule = parse_schedule(expression)
    passed = passed_due_times(schedule, after, now, anchor=T0)
    assert passed.latest == latest
    assert passed.number == number


def test_a_long_outage_of_a_frequent_cron_is_counted_as_a_lower_bound() -> None:
    schedule = parse_schedule("cron(* * * * ? *)")
    passed = passed_due_times(schedule, T0, T0 + timedelta(days=30), anchor=T0)
    assert passed.latest == T0.replace(microsecond=0) + timedelta(days=30)
    assert passed.number == 10_000
    assert not passed.exact


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 2 * * *)", "cron(...) needs 6 fields"),
        ("rate(5 minute)", "plural"),
        ("rate(10 seconds)", "EVENTHUB_ALLOW_SECOND_RATES"),
        ("at(2026-02-30T10:00:00)", "impossible date"),
    ],
)
def test_an_invalid_expression_is_a_config_error_naming_the_source(
    expression: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventhub.config.errors import ConfigError  # noqa: PLC0415

    monkeypatch.delenv("EVENTHUB_ALLOW_SECOND_RATES", raising=False)
    text = (
        "version: 1\nfunctions: {f: {handler: m:h}}\n"
        f'sources:\n  nightly: {{type: schedule, expression: "{expression}", function: f}}\n'
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, {})
    rendered = str(info.value)
    assert "sources.nightly.expression" in rendered
    assert message in rendered
