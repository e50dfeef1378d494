"""``schedule`` sources: rate, cron and one-time schedules fired as async invocations.

The loop asks the schedule for the next due time after the cursor (the last due time
fired or skipped, persisted), sleeps on an injectable :class:`Clock` until then and
fires: the event (EventBridge ``Scheduled Event``, or the fixed ``input``) is enqueued
durably with the cursor update in the same transaction, so a due time fires once,
never twice, whatever moment a kill -9 hits. Due times missed while the hub was down
are skipped with a warning, or with ``catch_up: true`` the latest one fires at start.
Cron wall times that a DST spring-forward skips are logged as warnings; the repeated
hour of a fall-back fires once (see :mod:`connectors.schedule_expressions`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Protocol

import structlog

from connectors.schedule_expressions import Schedule, parse_schedule
from connectors.schedule_plan import passed_due_times
from eventhub.config.sources import ScheduleSourceConfig
from eventhub.events.scheduled import rule_arn, scheduled_event
from eventhub.hubenv import HubEnv
from eventhub.sources import SourceStatus
from eventhub.store.schedules import AlreadyHandled, ScheduleState, ScheduleStore

log = structlog.get_logger("eventhub.schedule")

_EVENT_IDS = uuid.UUID("8f0d5b4e-3c35-4d1e-9a57-5d3c0f6b2a11")
MAX_SLEEP = 60.0  # re-read the wall clock at least this often (it may be stepped)


class Clock(Protocol):
    """Wall time for the schedule loop; tests inject a controllable one."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``now() >= when``."""
        ...


class SystemClock:
    """The real wall clock. Sleeps in slices of at most a minute, so a stepped clock
    (NTP, a suspended machine) is noticed soon."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        # ASYNC110 does not apply: this waits for a wall-clock time, it polls no flag.
        while (delay := (when - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(delay, MAX_SLEEP))


class ScheduleSource:
    """One ``schedule`` source (a :class:`eventhub.sources.ManagedSource`)."""

    def __init__(
        self, name: str, config: ScheduleSourceConfig, env: HubEnv, clock: Clock | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._env = env
        self._clock: Clock = clock or SystemClock()
        self._schedule: Schedule = parse_schedule(config.expression, config.timezone)
        self._state = ScheduleStore(env.store, name)
        self._stopping = asyncio.Event()
        self._running = False
        self._next: datetime | None = None
        self._last_fire: datetime | None = None
        self._fires = 0
        self._late_ms: float | None = None
        self._completed = False
        self._done = asyncio.Event()
        self._started = False

    async def run(self) -> None:
        """Fire due times until ``stop`` (or until a one-time schedule has fired)."""
        self._started = True
        schedule = self._schedule
        try:
            state, how = await self._state.load(
                f"{schedule.expression}|{schedule.timezone}", self._clock.now()
            )
            self._last_fire = state.last_fire
            if how == "changed":
                log.info("schedule changed; due times count from now", source=self.name)
            self._running = True
            cursor: datetime | None = await self._start(state)
            while cursor is not None and not self._stopping.is_set():
                cursor = await self._next_round(cursor, state.anchor)
            if cursor is None:
                self._finished()
                await self._stopping.wait()
        finally:
            self._running = False
            self._done.set()

    def _finished(self) -> None:
        self._completed = True
        if self._schedule.kind == "at" and self._last_fire is None:
            log.warning("one-time schedule lies in the past; it never fired", source=self.name)
        else:
            log.info("schedule has no due time left", source=self.name)

    async def stop(self, grace: float) -> None:
        """Stop now: no new fire starts; one in progress (shielded) completes within
        ``grace`` seconds."""
        self._stopping.set()
        if not self._started:
            return
        try:
            async with asyncio.timeout(grace):
                await self._done.wait()
        except TimeoutError:
            log.warning("schedule source still busy after grace", source=self.name)

    async def _start(self, state: ScheduleState) -> datetime:
        """Handle due times missed while the source was not running; returns the cursor."""
        cursor = state.cursor or state.anchor
        now = self._clock.now()
        passed = passed_due_times(self._schedule, cursor, now, state.anchor)
        if passed.latest is None:
            return cursor
        count = f"{passed.number}" if passed.exact else f"at least {passed.number}"
        if self.config.catch_up:
            log.info(
                "catching up the latest run missed while stopped",
                source=self.name,
                due=passed.latest.isoformat(),
                missed=count,
            )
            await self._fire(passed.latest)
        else:
            log.warning(
                "runs missed while stopped are skipped (catch_up is off)",
                source=self.name,
                missed=count,
                latest=passed.latest.isoformat(),
            )
            await asyncio.shield(self._skip(passed.latest))
        return passed.latest

    async def _skip(self, due: datetime) -> None:
        try:
            await self._state.skip(due)
        except AlreadyHandled:
            pass

    async def _next_round(self, cursor: datetime, anchor: datetime) -> datetime | None:
        """Sleep until the next due time and fire it; returns the new cursor, or None when
        the schedule has no due time left."""
        due = self._schedule.next_fire(cursor, anchor=anchor)
        self._next = due
        if due is None:
            return None
        for wall in self._schedule.skipped_in_gap(cursor, due):
            log.warning(
                "run skipped: its wall time does not exist (DST gap)",
                source=self.name,
                wall_time=wall.isoformat(),
                timezone=self._schedule.timezone,
                next_run=due.isoformat(),
            )
        if not await self._sleep_until(due):
            return cursor
        passed = passed_due_times(self._schedule, cursor, self._clock.now(), anchor)
        latest = passed.latest or due
        if passed.number > 1:
            log.warning(
                "several due times passed at once (clock jump or suspended machine); "
                "firing the latest",
                source=self.name,
                passed=passed.number,
                due=latest.isoformat(),
            )
        await self._fire(latest)
        return latest

    async def _sleep_until(self, due: datetime) -> bool:
        """False when stopped first."""
        sleeper = asyncio.ensure_future(self._clock.sleep_until(due))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
        return not self._stopping.is_set()

    async def _fire(self, due: datetime) -> None:
        payload = self._payload(due)
        op = self._state.advance_op(due, fired=True)
        try:
            await asyncio.shield(self._env.invoker.enqueue(self.config.function, payload, also=op))
        except AlreadyHandled:
            log.info("due time already fired", source=self.name, due=due.isoformat())
            return
        late = (self._clock.now() - due).total_seconds()
        self._fires += 1
        self._last_fire = due
        self._late_ms = round(late * 1000, 3)
        metrics = self._env.metrics
        metrics.schedule_fires.labels(self.name).inc()
        metrics.schedule_lateness.labels(self.name).observe(max(0.0, late))

    def _payload(self, due: datetime) -> bytes:
        if self.config.input is not None:
            return json.dumps(self.config.input).encode()
        hub = self._env.loaded.config.hub
        event = scheduled_event(
            rule_arn=rule_arn(hub.region, hub.account_id, self.name),
            time=due,
            region=hub.region,
            account=hub.account_id,
            event_id=str(uuid.uuid5(_EVENT_IDS, f"{self.name}|{due.isoformat()}")),
        )
        return json.dumps(event).encode()

    def status(self) -> SourceStatus:
        state = "completed" if self._completed else ("running" if self._running else "starting")
        return SourceStatus(
            name=self.name,
            type="schedule",
            function=self.config.function,
            state=state,
            connected=self._running,
            last_result=None if self._last_fire is None else f"fired {_utc(self._last_fire)}",
            detail={
                "expression": self._schedule.expression,
                "timezone": self._schedule.timezone,
                "kind": self._schedule.kind,
                "next_run": None if self._next is None else self._next.isoformat(),
                "fires": self._fires,
                "last_late_ms": self._late_ms,
            },
        )


def _utc(moment: datetime) -> str:
    """As the event's ``time`` is written: ``2026-11-23T19:24:13Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
