"""Which due times of a schedule have passed: pure logic over :mod:`schedule_expressions`.

:func:`passed_due_times` answers "which due times lie in ``(after, now]``?" with the
latest one and how many there were, without walking years of minutes: rates are
computed, and cron / at schedules are searched in growing windows ending at ``now``.
The schedule loop uses it at start-up (missed while down: fire the latest with
``catch_up``, else skip them) and after every sleep (a clock jump or a suspended
machine can pass several due times at once: only the latest fires).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from connectors.schedule_expressions import RateSchedule, Schedule

_WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=400))
_MAX_COUNT = 10_000  # due times walked one by one before searching near ``now``


class Passed(NamedTuple):
    """The latest due time in the interval (None when none passed) and how many passed
    (a lower bound when ``exact`` is false: only the most recent window was counted)."""

    latest: datetime | None
    number: int
    exact: bool


def passed_due_times(
    schedule: Schedule, after: datetime, now: datetime, anchor: datetime
) -> Passed:
    """Due times of ``schedule`` in ``(after, now]`` (aware datetimes)."""
    if now <= after:
        return Passed(None, 0, True)
    if isinstance(schedule, RateSchedule):
        return _rate(schedule, after, now, anchor)
    latest, count = _walk(schedule, after, now, anchor)
    if count < _MAX_COUNT:
        return Passed(latest, count, True)
    for window in _WINDOWS:  # too many to walk: find the latest near ``now``
        if now - window > after:
            recent, _ = _walk(schedule, now - window, now, anchor)
            if recent is not None:
                return Passed(recent, count, False)
    return Passed(latest, count, False)


def _rate(schedule: RateSchedule, after: datetime, now: datetime, anchor: datetime) -> Passed:
    period = schedule.period
    last_index = (now - anchor) // period
    first_index = max(0, (after - anchor) // period)
    count = max(0, last_index - first_index)
    if count == 0 or last_index < 1:
        return Passed(None, 0, True)
    return Passed(anchor + last_index * period, count, True)


def _walk(
    schedule: Schedule, start: datetime, now: datetime, anchor: datetime
) -> tuple[datetime | None, int]:
    latest, count = None, 0
    due = schedule.next_fire(start, anchor=anchor)
    while due is not None and due <= now and count < _MAX_COUNT:
        latest, count = due, count + 1
        due = schedule.next_fire(due, anchor=anchor)
    return latest, count
