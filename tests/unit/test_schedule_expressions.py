"""Tests for connectors.schedule_expressions and its cron translation (schedule_cron).

All datetimes are fixed; nothing sleeps or reads the wall clock.
Reference DST transitions used below (2024):
  Europe/Paris      spring 2024-03-31 02:00 CET -> 03:00 CEST (01:00Z)
                    fall   2024-10-27 03:00 CEST -> 02:00 CET (01:00Z)
  America/New_York  spring 2024-03-10 02:00 EST -> 03:00 EDT (07:00Z)
                    fall   2024-11-03 02:00 EDT -> 01:00 EST (06:00Z)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.schedule_cron import CronPlan, translate_crontab, translate_eventbridge_cron
from connectors.schedule_expressions import (
    SECOND_RATES_ENV,
    AtSchedule,
    CronSchedule,
    RateSchedule,
    Schedule,
    parse_schedule,
)

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def fires(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """``count`` consecutive fire times after ``after`` (each one feeds the next call)."""
    result: list[datetime] = []
    for _ in range(count):
        nxt = schedule.next_fire(after, anchor=None)
        assert nxt is not None
        result.append(nxt)
        after = nxt
    return result


def cron(expression: str, timezone: str = "UTC") -> CronSchedule:
    schedule = parse_schedule(expression, timezone)
    assert isinstance(schedule, CronSchedule)
    return schedule


@pytest.fixture(autouse=True)
def _no_second_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECOND_RATES_ENV, raising=False)


# --------------------------------------------------------------------------- parsing: valid

VALID_RATES = [
    ("rate(1 minute)", "rate(1 minute)", timedelta(minutes=1)),
    ("rate(5 minutes)", "rate(5 minutes)", timedelta(minutes=5)),
    ("rate(1 hour)", "rate(1 hour)", timedelta(hours=1)),
    ("rate(12 hours)", "rate(12 hours)", timedelta(hours=12)),
    ("rate(1 day)", "rate(1 day)", timedelta(days=1)),
    ("rate(7 days)", "rate(7 days)", timedelta(days=7)),
    ("  rate( 5   minutes )  ", "rate(5 minutes)", timedelta(minutes=5)),
    ("rate(05 minutes)", "rate(5 minutes)", timedelta(minutes=5)),
]


@pytest.mark.parametrize(("expression", "normalized", "period"), VALID_RATES)
def test_parse_valid_rate(expression: str, normalized: str, period: timedelta) -> None:
    schedule = parse_schedule(expression)
    assert isinstance(schedule, RateSchedule)
    assert (schedule.kind, schedule.expression, schedule.period) == ("rate", normalized, period)


ALL_YEARS = frozenset(range(1970, 2200))

# (expression, normalized, croniter expression, allowed years)
VALID_CRONS = [
    ("cron(0 12 * * ? *)", "cron(0 12 * * ? *)", "0 12 * * *", ALL_YEARS),
    (
        "cron(0/15 * ? * MON-FRI *)",
        "cron(0/15 * ? * MON-FRI *)",
        "0,15,30,45 * * * 1,2,3,4,5",
        ALL_YEARS,
    ),
    (
        "cron(*/20 8-10 ? * 2-6 *)",
        "cron(*/20 8-10 ? * 2-6 *)",
        "0,20,40 8,9,10 * * 1,2,3,4,5",
        ALL_YEARS,
    ),
    ("cron(1/20 * * * ? *)", "cron(1/20 * * * ? *)", "1,21,41 * * * *", ALL_YEARS),
    ("cron(59/15 * * * ? *)", "cron(59/15 * * * ? *)", "59 * * * *", ALL_YEARS),
    ("cron(0 12 L * ? *)", "cron(0 12 L * ? *)", "0 12 L * *", ALL_YEARS),
    ("cron(0 12 LW * ? *)", "cron(0 12 LW * ? *)", "0 12 31W * *", ALL_YEARS),
    ("cron(0 12 15W * ? *)", "cron(0 12 15W * ? *)", "0 12 15W * *", ALL_YEARS),
    ("cron(0 12 ? * 6L *)", "cron(0 12 ? * 6L *)", "0 12 * * L5", ALL_YEARS),
    ("cron(0 12 ? * FRIL *)", "cron(0 12 ? * FRIL *)", "0 12 * * L5", ALL_YEARS),
    ("cron(0 12 ? * L *)", "cron(0 12 ? * L *)", "0 12 * * 6", ALL_YEARS),
    ("cron(0 12 ? * 3#2 *)", "cron(0 12 ? * 3#2 *)", "0 12 * * 2#2", ALL_YEARS),
    ("cron(0 12 ? * MON#1 *)", "cron(0 12 ? * MON#1 *)", "0 12 * * 1#1", ALL_YEARS),
    ("cron(0 12 ? * SUN,SAT *)", "cron(0 12 ? * SUN,SAT *)", "0 12 * * 0,6", ALL_YEARS),
    ("cron(0 12 ? * 1,7 *)", "cron(0 12 ? * 1,7 *)", "0 12 * * 0,6", ALL_YEARS),
    ("cron(0 12 ? * FRI-MON *)", "cron(0 12 ? * FRI-MON *)", "0 12 * * 0,1,5,6", ALL_YEARS),
    ("cron(0 22-2 * * ? *)", "cron(0 22-2 * * ? *)", "0 0,1,2,22,23 * * *", ALL_YEARS),
    ("cron(0 12 1 JAN,JUL ? *)", "cron(0 12 1 JAN,JUL ? *)", "0 12 1 1,7 *", ALL_YEARS),
    ("cron(0 12 1 NOV-FEB ? *)", "cron(0 12 1 NOV-FEB ? *)", "0 12 1 1,2,11,12 *", ALL_YEARS),
    ("cron(0 12 ? jan mon *)", "cron(0 12 ? JAN MON *)", "0 12 * 1 1", ALL_YEARS),
    ("cron(0 0 29 2 ? *)", "cron(0 0 29 2 ? *)", "0 0 29 2 *", ALL_YEARS),
    ("cron(0 12 * * ? 2025)", "cron(0 12 * * ? 2025)", "0 12 * * *", frozenset({2025})),
    (
        "cron(0 12 * * ? 2025-2027,2030)",
        "cron(0 12 * * ? 2025-2027,2030)",
        "0 12 * * *",
        frozenset({2025, 2026, 2027, 2030}),
    ),
    ("cron(0 12 * * ? 2180/10)", "cron(0 12 * * ? 2180/10)", "0 12 * * *", frozenset({2180, 2190})),
    ("cron( 0  12 * *\t? * )", "cron(0 12 * * ? *)", "0 12 * * *", ALL_YEARS),
]


@pytest.mark.parametrize(("expression", "normalized", "translated", "years"), VALID_CRONS)
def test_parse_valid_eventbridge_cron(
    expression: str, normalized: str, translated: str, years: frozenset[int]
) -> None:
    schedule = cron(expression)
    assert (schedule.kind, schedule.expression) == ("cron", normalized)
    assert schedule.plan.croniter_expression == translated
    assert schedule.plan.years == years


VALID_CRONTABS = [
    ("0 12 * * *", "0 12 * * *", "0 12 * * *"),
    ("0 12 * * 7", "0 12 * * 7", "0 12 * * 0"),
    ("0 12 * * 0", "0 12 * * 0", "0 12 * * 0"),
    ("0 12 * * sat-sun", "0 12 * * SAT-SUN", "0 12 * * 0,6"),
    ("0 12 1,15 * MON", "0 12 1,15 * MON", "0 12 1,15 * 1"),
    ("*/30 9-10 * * *", "*/30 9-10 * * *", "0,30 9,10 * * *"),
    ("  0   12 * * *  ", "0 12 * * *", "0 12 * * *"),
]


@pytest.mark.parametrize(("expression", "normalized", "translated"), VALID_CRONTABS)
def test_parse_valid_crontab_line(expression: str, normalized: str, translated: str) -> None:
    schedule = cron(expression)
    assert schedule.expression == normalized
    assert schedule.plan == CronPlan(translated, None)


def test_parse_valid_at_in_time_zone() -> None:
    schedule = parse_schedule("at(2026-12-01T10:00:00)", PARIS)
    assert isinstance(schedule, AtSchedule)
    assert (schedule.kind, schedule.expression, schedule.timezone) == (
        "at",
        "at(2026-12-01T10:00:00)",
        PARIS,
    )
    assert schedule.when == utc(2026, 12, 1, 9, 0)
    assert parse_schedule("at(2024-02-29T00:00:00)").next_fire(utc(2024, 1, 1)) == utc(2024, 2, 29)


def test_parse_second_rate_only_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="test-only"):
        parse_schedule("rate(30 seconds)")
    monkeypatch.setenv(SECOND_RATES_ENV, "1")
    assert parse_schedule("rate(1 second)") == RateSchedule(
        "rate(1 second)", "UTC", timedelta(seconds=1)
    )
    schedule = parse_schedule("rate(30 seconds)")
    assert isinstance(schedule, RateSchedule)
    assert schedule.period == timedelta(seconds=30)
    with pytest.raises(ValueError, match="plural"):
        parse_schedule("rate(30 second)")


@pytest.mark.parametrize(
    "expression",
    [case[0] for case in VALID_RATES + VALID_CRONS + VALID_CRONTABS] + ["at(2026-12-01T10:00:00)"],
)
def test_normalized_expression_round_trips(expression: str) -> None:
    schedule = parse_schedule(expression, PARIS)
    assert parse_schedule(schedule.expression, PARIS) == schedule


# --------------------------------------------------------------------------- parsing: invalid

INVALID = [
    ("", "UTC", "empty schedule expression"),
    ("   ", "UTC", "empty schedule expression"),
    ("x" * 300, "UTC", "longer than 256 characters"),
    ("rate(0 minutes)", "UTC", "positive integer, got '0'"),
    ("rate(-5 minutes)", "UTC", "positive integer, got '-5'"),
    ("rate(1.5 hours)", "UTC", "positive integer, got '1.5'"),
    ("rate(1 hours)", "UTC", "singular for a value of 1: use 'hour'"),
    ("rate(1 minutes)", "UTC", "singular for a value of 1: use 'minute'"),
    ("rate(5 hour)", "UTC", "plural for a value of 5: use 'hours'"),
    ("rate(2 day)", "UTC", "plural for a value of 2: use 'days'"),
    ("rate(5 weeks)", "UTC", "rate unit must be minute(s), hour(s) or day(s), got 'weeks'"),
    ("rate(5 Minutes)", "UTC", "got 'Minutes'"),
    ("rate(5)", "UTC", "expected rate(value unit)"),
    ("rate(5 minutes", "UTC", "missing closing ')'"),
    ("rate(30 seconds)", "UTC", "test-only; set EVENTHUB_ALLOW_SECOND_RATES=1"),
    ("rate(99999999999999 days)", "UTC", "too long"),
    ("Rate(5 minutes)", "UTC", "unknown schedule expression"),
    ("every 5 minutes", "UTC", "got 3 space-separated fields"),
    ("@daily", "UTC", "got 1 space-separated fields"),
    (
        "cron(0 12 * * * *)",
        "UTC",
        "cron(0 12 * * * *): one of day-of-month and day-of-week must be '?'",
    ),
    ("cron(0 12 1 * MON *)", "UTC", "one of day-of-month and day-of-week must be '?'"),
    ("cron(0 12 ? * ? *)", "UTC", "cannot both be '?'"),
    ("cron(0 12 * * ?)", "UTC", "got 5; a five-field crontab line is written without cron(...)"),
    ("cron(0 0 12 * * ? *)", "UTC", "got 7; EventBridge has no seconds field"),
    ("cron()", "UTC", "needs 6 fields"),
    ("cron(0 12 * * ? *", "UTC", "missing closing ')'"),
    ("cron(60 12 * * ? *)", "UTC", "minutes value 60 is out of range 0-59"),
    ("cron(0 24 * * ? *)", "UTC", "hours value 24 is out of range 0-23"),
    ("cron(0 12 32 * ? *)", "UTC", "day-of-month value 32 is out of range 1-31"),
    ("cron(0 12 0 * ? *)", "UTC", "day-of-month value 0 is out of range 1-31"),
    ("cron(0 12 * 13 ? *)", "UTC", "month value 13 is out of range 1-12"),
    ("cron(0 12 ? * 0 *)", "UTC", "day-of-week value 0 is out of range 1-7"),
    ("cron(0 12 ? * 2-9 *)", "UTC", "day-of-week value 9 is out of range 1-7"),
    ("cron(0 12 * * ? 1969)", "UTC", "year value 1969 is out of range 1970-2199"),
    ("cron(0 12 * * ? 2200)", "UTC", "year value 2200 is out of range 1970-2199"),
    ("cron(0 12 * FOO ? *)", "UTC", "month value 'FOO' is not a number or name"),
    ("cron(0 12 ? * FUN *)", "UTC", "day-of-week value 'FUN' is not a number or name"),
    ("cron(x 12 * * ? *)", "UTC", "minutes value 'X' is not a number"),
    ("cron(0 12 ? * MON#6 *)", "UTC", "the number after '#' must be 1-5"),
    ("cron(0 12 ? * MON#1,FRI#2 *)", "UTC", "must stand alone, one per field"),
    ("cron(0 12 ? * 5L,6 *)", "UTC", "must stand alone"),
    ("cron(0 12 L,15 * ? *)", "UTC", "'L', 'LW' and 'nW' must stand alone"),
    ("cron(0 12 L-3 * ? *)", "UTC", "'L', 'LW' and 'nW' must stand alone"),
    ("cron(0 12 15W,20 * ? *)", "UTC", "'L', 'LW' and 'nW' must stand alone"),
    ("cron(0 12 32W * ? *)", "UTC", "day-of-month value 32 is out of range"),
    ("cron(0 ? * * ? *)", "UTC", "'?' is only allowed in day-of-month or day-of-week, not hours"),
    ("cron(0 12 ?5 * ? *)", "UTC", "day-of-month '?5': '?' must be the whole field"),
    ("cron(0 12 * * ?,1 *)", "UTC", "day-of-week '?,1': '?' must be the whole field"),
    ("cron(0 12 * * ? ?)", "UTC", "'?' is only allowed in day-of-month or day-of-week, not year"),
    ("cron(*/0 * * * ? *)", "UTC", "minutes '*/0': step must be an integer from 1 to 60"),
    ("cron(0/61 * * * ? *)", "UTC", "step must be an integer from 1 to 60"),
    ("cron(0/x * * * ? *)", "UTC", "step must be an integer"),
    ("cron(1-2-3 * * * ? *)", "UTC", "minutes '1-2-3' is not a value, range or step"),
    ("cron(-5 * * * ? *)", "UTC", "is not a value, range or step"),
    ("cron(1,,2 * * * ? *)", "UTC", "minutes '1,,2': empty item in list"),
    ("cron(0 0 30 2 ? *)", "UTC", "day-of-month 30 never occurs in month 2"),
    ("cron(0 0 31 4,6,9,11 ? *)", "UTC", "never occurs"),
    ("0 12 * *", "UTC", "got 4 space-separated fields"),
    ("0 12 * * * *", "UTC", "got 6 space-separated fields"),
    ("0 12 ? * *", "UTC", "'?' and '#' are EventBridge syntax"),
    ("0 12 * * 1#2", "UTC", "'?' and '#' are EventBridge syntax"),
    ("0 12 L * *", "UTC", "day-of-month value 'L' is not a number"),
    ("0 12 15W * *", "UTC", "day-of-month value '15W' is not a number"),
    ("0 12 * * 8", "UTC", "day-of-week value 8 is out of range 0-7"),
    ("60 12 * * *", "UTC", "minutes value 60 is out of range 0-59"),
    ("0 12 30 2 *", "UTC", "never occurs in month 2"),
    ("at(2026-02-30T10:00:00)", "UTC", "impossible date or time '2026-02-30T10:00:00'"),
    ("at(2026-13-01T10:00:00)", "UTC", "impossible date or time"),
    ("at(2026-12-01T24:00:00)", "UTC", "impossible date or time"),
    ("at(2026-12-01 10:00:00)", "UTC", "expected at(yyyy-mm-ddThh:mm:ss)"),
    ("at(2026-12-01T10:00:00Z)", "UTC", "expected at(yyyy-mm-ddThh:mm:ss)"),
    ("at(2026-12-01T10:00)", "UTC", "expected at(yyyy-mm-ddThh:mm:ss)"),
    ("at(2024-03-31T02:30:00)", PARIS, "does not exist in Europe/Paris (skipped by a DST change)"),
    ("at(2024-03-10T02:00:00)", NEW_YORK, "does not exist in America/New_York"),
    ("rate(5 minutes)", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ("cron(0 12 * * ? *)", "", "unknown time zone ''"),
    ("at(2026-12-01T10:00:00)", "../etc/passwd", "unknown time zone"),
]


@pytest.mark.parametrize(("expression", "timezone", "fragment"), INVALID)
def test_parse_invalid(expression: str, timezone: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_schedule(expression, timezone)
    message = str(info.value)
    assert fragment in message
    assert message.startswith(expression.strip()[:40])


def test_parse_table_is_large_enough() -> None:
    valid = len(VALID_RATES) + len(VALID_CRONS) + len(VALID_CRONTABS)
    assert valid >= 20
    assert len(INVALID) >= 40


def test_translators_reject_wrong_field_counts() -> None:
    with pytest.raises(ValueError, match="expected 6 fields, got 5"):
        translate_eventbridge_cron(["0"] * 5)
    with pytest.raises(ValueError, match="expected 5 fields, got 6"):
        translate_crontab(["0"] * 6)


# --------------------------------------------------------------------------- cron next fire

# (expression, after, expected consecutive fires), all in UTC
CRON_FIRES = [
    # L: last day of the month (leap and non-leap February)
    ("cron(0 12 L * ? *)", utc(2024, 2, 1), [utc(2024, 2, 29, 12), utc(2024, 3, 31, 12)]),
    ("cron(0 12 L * ? *)", utc(2023, 2, 1), [utc(2023, 2, 28, 12), utc(2023, 3, 31, 12)]),
    # W: 2024-06-15 is a Saturday -> Fri 14th; 2024-09-15 is a Sunday -> Mon 16th
    ("cron(0 9 15W * ? *)", utc(2024, 6, 1), [utc(2024, 6, 14, 9), utc(2024, 7, 15, 9)]),
    ("cron(0 9 15W * ? *)", utc(2024, 9, 1), [utc(2024, 9, 16, 9)]),
    # 1W never leaves the month: 2024-06-01 is a Saturday -> Mon 3rd
    ("cron(0 9 1W * ? *)", utc(2024, 5, 20), [utc(2024, 6, 3, 9), utc(2024, 7, 1, 9)]),
    # LW: last weekday; Mar 2024 ends Sunday -> 29th, Aug 2024 ends Saturday -> 30th
    ("cron(0 18 LW * ? *)", utc(2024, 3, 1), [utc(2024, 3, 29, 18), utc(2024, 4, 30, 18)]),
    ("cron(0 18 LW * ? *)", utc(2024, 8, 1), [utc(2024, 8, 30, 18)]),
    ("cron(0 18 LW * ? *)", utc(2024, 1, 1), [utc(2024, 1, 31, 18), utc(2024, 2, 29, 18)]),
    # nL: last Friday / last Sunday of the month
    ("cron(0 12 ? * 6L *)", utc(2024, 4, 1), [utc(2024, 4, 26, 12), utc(2024, 5, 31, 12)]),
    ("cron(0 1 ? * 1L *)", utc(2024, 3, 1), [utc(2024, 3, 31, 1)]),
    # plain L in day-of-week is Saturday
    ("cron(0 12 ? * L *)", utc(2024, 1, 1), [utc(2024, 1, 6, 12), utc(2024, 1, 13, 12)]),
    # #: 3#2 = second Tuesday (EventBridge 1 = SUN), MON#1, 1#5 = fifth Sunday
    ("cron(0 12 ? * 3#2 *)", utc(2024, 1, 1), [utc(2024, 1, 9, 12), utc(2024, 2, 13, 12)]),
    ("cron(0 12 ? * MON#1 *)", utc(2024, 6, 15), [utc(2024, 7, 1, 12), utc(2024, 8, 5, 12)]),
    ("cron(0 12 ? * 1#5 *)", utc(2024, 1, 1), [utc(2024, 3, 31, 12), utc(2024, 6, 30, 12)]),
    # day-of-week numbering: 2 = MON, 7 = SAT
    ("cron(0 12 ? * 2 *)", utc(2024, 1, 1, 12), [utc(2024, 1, 8, 12)]),
    ("cron(0 12 ? * 7 *)", utc(2024, 1, 1), [utc(2024, 1, 6, 12)]),
    # names and wrap-around ranges
    ("cron(0 12 1 JAN,JUL ? *)", utc(2024, 1, 1, 12), [utc(2024, 7, 1, 12), utc(2025, 1, 1, 12)]),
    ("cron(0 12 ? * FRI-MON *)", utc(2024, 1, 2), [utc(2024, 1, 5, 12), utc(2024, 1, 6, 12)]),
    ("cron(0 23-0 * * ? *)", utc(2024, 1, 1, 12), [utc(2024, 1, 1, 23), utc(2024, 1, 2, 0)]),
    # steps
    ("cron(0/15 * * * ? *)", utc(2024, 1, 1, 10, 7), [utc(2024, 1, 1, 10, 15)]),
    ("cron(1/10 * * * ? *)", utc(2024, 1, 1, 10, 2), [utc(2024, 1, 1, 10, 11)]),
    ("cron(59/15 * * * ? *)", utc(2024, 1, 1, 10), [utc(2024, 1, 1, 10, 59)]),
    ("cron(0 */6 * * ? *)", utc(2024, 1, 1, 1), [utc(2024, 1, 1, 6), utc(2024, 1, 1, 12)]),
    # strictly after, seconds ignored
    ("cron(0 12 * * ? *)", utc(2024, 1, 1, 12), [utc(2024, 1, 2, 12)]),
    ("cron(0 12 * * ? *)", utc(2024, 1, 1, 11, 59, 59), [utc(2024, 1, 1, 12)]),
    # years
    ("cron(0 12 1 1 ? 2026,2028)", utc(2024, 6, 1), [utc(2026, 1, 1, 12), utc(2028, 1, 1, 12)]),
    ("cron(0 12 * * ? 2030)", utc(2024, 6, 1), [utc(2030, 1, 1, 12), utc(2030, 1, 2, 12)]),
    ("cron(0 12 * * ? 2020/5)", utc(2024, 6, 1), [utc(2025, 1, 1, 12)]),
    ("cron(0 0 29 2 ? 2025-2030)", utc(2024, 6, 1), [utc(2028, 2, 29)]),
    # crontab: 7 = Sunday, and OR of both day fields
    ("0 12 * * 7", utc(2024, 1, 1), [utc(2024, 1, 7, 12)]),
    ("0 12 1,15 * MON", utc(2024, 1, 1, 12), [utc(2024, 1, 8, 12), utc(2024, 1, 15, 12)]),
    ("0 12 1,15 * MON", utc(2024, 1, 22, 12), [utc(2024, 1, 29, 12), utc(2024, 2, 1, 12)]),
]


@pytest.mark.parametrize(("expression", "after", "expected"), CRON_FIRES)
def test_cron_next_fire(expression: str, after: datetime, expected: list[datetime]) -> None:
    assert fires(cron(expression), after, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "after"),
    [
        ("cron(0 12 1 1 ? 2026,2028)", utc(2028, 1, 1, 12)),
        ("cron(0 12 * * ? 2025)", utc(2025, 12, 31, 12)),
        ("cron(0 0 29 2 ? 2025-2027)", utc(2024, 6, 1)),
        ("cron(0 0 * * ? *)", utc(2199, 12, 31)),
        ("cron(0 0 * * ? 1990)", utc(2024, 1, 1)),
    ],
)
def test_cron_returns_none_when_no_year_is_left(expression: str, after: datetime) -> None:
    assert cron(expression).next_fire(after) is None


def test_cron_results_are_utc_for_any_aware_input() -> None:
    after = datetime(2024, 1, 1, 13, 0, tzinfo=ZoneInfo(PARIS))  # 12:00Z
    result = cron("cron(30 12 * * ? *)").next_fire(after)
    assert result == utc(2024, 1, 1, 12, 30)
    assert result is not None
    assert result.tzinfo is UTC


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2024, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="after must be a timezone-aware datetime"):
        cron("cron(0 12 * * ? *)").next_fire(naive)
    with pytest.raises(ValueError, match="anchor must be a timezone-aware datetime"):
        parse_schedule("rate(1 hour)").next_fire(utc(2024, 1, 1), anchor=naive)
    with pytest.raises(ValueError, match="until must be a timezone-aware datetime"):
        parse_schedule("at(2026-01-01T00:00:00)").skipped_in_gap(utc(2024, 1, 1), naive)


# --------------------------------------------------------------------------- rate


def test_rate_first_fire_is_one_period_after_anchor() -> None:
    schedule = parse_schedule("rate(5 minutes)")
    anchor = utc(2024, 1, 1, 10)
    assert schedule.next_fire(anchor, anchor=anchor) == utc(2024, 1, 1, 10, 5)
    assert schedule.next_fire(utc(2024, 1, 1, 9), anchor=anchor) == utc(2024, 1, 1, 10, 5)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2024, 1, 1, 10, 5), utc(2024, 1, 1, 10, 10)),  # strictly after a due time
        (utc(2024, 1, 1, 10, 7, 30), utc(2024, 1, 1, 10, 10)),  # between due times
        (utc(2024, 1, 1, 10, 9, 59, 999999), utc(2024, 1, 1, 10, 10)),
        (utc(2024, 1, 3, 17, 2), utc(2024, 1, 3, 17, 5)),  # after a restart: grid kept
    ],
)
def test_rate_keeps_the_anchor_grid(after: datetime, expected: datetime) -> None:
    schedule = parse_schedule("rate(5 minutes)")
    assert schedule.next_fire(after, anchor=utc(2024, 1, 1, 10)) == expected


def test_rate_days_are_24_hours_across_dst() -> None:
    schedule = parse_schedule("rate(1 day)", PARIS)  # time zone does not apply to rates
    anchor = utc(2024, 3, 30, 12)  # 13:00 CET
    assert fires_rate(schedule, anchor, 2) == [utc(2024, 3, 31, 12), utc(2024, 4, 1, 12)]
    new_york = parse_schedule("rate(1 day)", NEW_YORK)
    assert new_york.next_fire(utc(2024, 11, 3, 4), anchor=utc(2024, 11, 2, 4)) == utc(
        2024, 11, 4, 4
    )


def fires_rate(schedule: Schedule, anchor: datetime, count: int) -> list[datetime]:
    result: list[datetime] = []
    after = anchor
    for _ in range(count):
        nxt = schedule.next_fire(after, anchor=anchor)
        assert nxt is not None
        result.append(nxt)
        after = nxt
    return result


def test_rate_needs_an_anchor_and_returns_utc() -> None:
    schedule = parse_schedule("rate(1 hour)")
    with pytest.raises(ValueError, match="rate schedules need anchor="):
        schedule.next_fire(utc(2024, 1, 1))
    anchor = datetime(2024, 1, 1, 12, tzinfo=ZoneInfo(NEW_YORK))  # 17:00Z
    result = schedule.next_fire(anchor, anchor=anchor)
    assert result == utc(2024, 1, 1, 18)
    assert result is not None
    assert result.tzinfo is UTC
    assert schedule.skipped_in_gap(utc(2024, 1, 1), utc(2024, 2, 1)) == []


def test_second_rates_for_benchmarks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECOND_RATES_ENV, "1")
    schedule = parse_schedule("rate(2 seconds)")
    anchor = utc(2024, 1, 1)
    assert fires_rate(schedule, anchor, 3) == [anchor + timedelta(seconds=s) for s in (2, 4, 6)]


# --------------------------------------------------------------------------- at


def test_at_fires_once_in_its_time_zone() -> None:
    schedule = parse_schedule("at(2026-12-01T10:00:00)", NEW_YORK)
    assert schedule.next_fire(utc(2026, 1, 1), anchor=utc(2025, 1, 1)) == utc(2026, 12, 1, 15)
    assert schedule.next_fire(utc(2026, 12, 1, 14, 59, 59)) == utc(2026, 12, 1, 15)
    assert schedule.next_fire(utc(2026, 12, 1, 15)) is None
    assert schedule.next_fire(utc(2027, 1, 1)) is None
    summer = parse_schedule("at(2026-07-01T10:00:00)", PARIS)
    assert summer.next_fire(utc(2026, 1, 1)) == utc(2026, 7, 1, 8)


def test_at_in_a_repeated_hour_means_the_first_occurrence() -> None:
    assert parse_schedule("at(2024-10-27T02:30:00)", PARIS).next_fire(utc(2024, 1, 1)) == utc(
        2024, 10, 27, 0, 30
    )
    assert parse_schedule("at(2024-11-03T01:30:00)", NEW_YORK).next_fire(utc(2024, 1, 1)) == utc(
        2024, 11, 3, 5, 30
    )


# --------------------------------------------------------------------------- DST


def test_paris_spring_forward_skips_the_missing_daily_run() -> None:
    schedule = cron("cron(30 2 * * ? *)", PARIS)
    previous = utc(2024, 3, 30, 1, 30)  # 02:30 CET on the 30th
    nxt = schedule.next_fire(previous)
    assert nxt == utc(2024, 4, 1, 0, 30)  # 02:30 CEST on 1 April; 31 March has no 02:30
    assert schedule.skipped_in_gap(previous, nxt) == [datetime(2024, 3, 31, 2, 30)]  # noqa: DTZ001


def test_paris_fall_back_fires_a_repeated_daily_time_once() -> None:
    schedule = cron("cron(30 2 * * ? *)", PARIS)
    assert fires(schedule, utc(2024, 10, 26, 0, 30), 2) == [
        utc(2024, 10, 27, 0, 30),  # first 02:30 (CEST)
        utc(2024, 10, 28, 1, 30),  # next day, CET; the second 02:30 (01:30Z) is not a fire
    ]
    between = utc(2024, 10, 27, 0, 45)  # after the first 02:30, before the second
    assert schedule.next_fire(between) == utc(2024, 10, 28, 1, 30)
    assert schedule.skipped_in_gap(utc(2024, 10, 26, 0, 30), utc(2024, 10, 28, 1, 30)) == []


def test_new_york_spring_forward_skips_the_missing_daily_run() -> None:
    schedule = cron("cron(30 2 * * ? *)", NEW_YORK)
    previous = utc(2024, 3, 9, 7, 30)  # 02:30 EST
    nxt = schedule.next_fire(previous)
    assert nxt == utc(2024, 3, 11, 6, 30)  # 02:30 EDT
    assert schedule.skipped_in_gap(previous, nxt) == [datetime(2024, 3, 10, 2, 30)]  # noqa: DTZ001


def test_new_york_fall_back_fires_a_repeated_daily_time_once() -> None:
    schedule = cron("cron(30 1 * * ? *)", NEW_YORK)
    assert fires(schedule, utc(2024, 11, 2, 5, 30), 2) == [
        utc(2024, 11, 3, 5, 30),  # 01:30 EDT, first occurrence
        utc(2024, 11, 4, 6, 30),  # 01:30 EST next day
    ]


def test_paris_hourly_across_fall_back_never_repeats_a_wall_time() -> None:
    schedule = cron("cron(0 * * * ? *)", PARIS)
    result = fires(schedule, utc(2024, 10, 26, 22, 30), 4)
    assert result == [
        utc(2024, 10, 26, 23),  # 01:00 CEST
        utc(2024, 10, 27, 0),  # 02:00 CEST
        utc(2024, 10, 27, 2),  # 03:00 CET (02:00 CET at 01:00Z is the same wall time)
        utc(2024, 10, 27, 3),  # 04:00 CET
    ]
    walls = [moment.astimezone(ZoneInfo(PARIS)).replace(tzinfo=None) for moment in result]
    assert len(set(walls)) == len(walls)


def test_paris_hourly_across_spring_forward_skips_two_oclock() -> None:
    schedule = cron("cron(0 * * * ? *)", PARIS)
    result = fires(schedule, utc(2024, 3, 30, 23, 30), 3)
    assert result == [utc(2024, 3, 31, 0), utc(2024, 3, 31, 1), utc(2024, 3, 31, 2)]
    assert schedule.skipped_in_gap(result[0], result[1]) == [datetime(2024, 3, 31, 2)]  # noqa: DTZ001
    assert schedule.skipped_in_gap(result[1], result[2]) == []


def test_new_york_hourly_across_fall_back_never_repeats_a_wall_time() -> None:
    schedule = cron("cron(0 * * * ? *)", NEW_YORK)
    assert fires(schedule, utc(2024, 11, 3, 3, 30), 4) == [
        utc(2024, 11, 3, 4),  # 00:00 EDT
        utc(2024, 11, 3, 5),  # 01:00 EDT
        utc(2024, 11, 3, 7),  # 02:00 EST; 01:00 EST (06:00Z) is not a second fire
        utc(2024, 11, 3, 8),
    ]


def test_new_york_hourly_across_spring_forward_skips_two_oclock() -> None:
    schedule = cron("cron(0 * * * ? *)", NEW_YORK)
    previous = utc(2024, 3, 10, 6)  # 01:00 EST
    nxt = schedule.next_fire(previous)
    assert nxt == utc(2024, 3, 10, 7)  # 03:00 EDT
    assert schedule.skipped_in_gap(previous, nxt) == [datetime(2024, 3, 10, 2)]  # noqa: DTZ001


def test_quarter_hourly_gap_lists_every_skipped_wall_time() -> None:
    schedule = cron("cron(0/15 * * * ? *)", NEW_YORK)
    previous = utc(2024, 3, 10, 6, 45)  # 01:45 EST
    nxt = schedule.next_fire(previous)
    assert nxt == utc(2024, 3, 10, 7)  # 03:00 EDT
    assert schedule.skipped_in_gap(previous, nxt) == [
        datetime(2024, 3, 10, 2, minute)  # noqa: DTZ001
        for minute in (0, 15, 30, 45)
    ]


def test_quarter_hourly_in_the_repeated_hour_does_not_fire_twice() -> None:
    schedule = cron("cron(0/15 * * * ? *)", NEW_YORK)
    assert schedule.next_fire(utc(2024, 11, 3, 5, 45)) == utc(
        2024, 11, 3, 7
    )  # 01:45 EDT -> 02:00 EST
    # `after` inside the second 01:xx (EST): walls 01:15..01:45 already fired in EDT
    assert schedule.next_fire(utc(2024, 11, 3, 6, 10)) == utc(2024, 11, 3, 7)


def test_daily_cron_keeps_its_wall_time_across_both_transitions() -> None:
    schedule = cron("cron(0 12 * * ? *)", PARIS)
    assert fires(schedule, utc(2024, 3, 30, 0), 2) == [utc(2024, 3, 30, 11), utc(2024, 3, 31, 10)]
    assert fires(schedule, utc(2024, 10, 26, 0), 2) == [
        utc(2024, 10, 26, 10),
        utc(2024, 10, 27, 11),
    ]


def test_crontab_line_uses_the_time_zone_and_dst_rules_too() -> None:
    schedule = cron("30 2 * * *", PARIS)
    previous = utc(2024, 3, 30, 1, 30)
    assert schedule.next_fire(previous) == utc(2024, 4, 1, 0, 30)
    assert schedule.skipped_in_gap(previous, utc(2024, 4, 1, 0, 30)) == [
        datetime(2024, 3, 31, 2, 30)  # noqa: DTZ001
    ]


def test_a_whole_year_of_daily_runs_fires_once_per_existing_day() -> None:
    schedule = cron("cron(30 2 * * ? *)", PARIS)
    after, seen, skipped = utc(2023, 12, 31, 12), [], []
    while True:
        nxt = schedule.next_fire(after)
        assert nxt is not None
        if nxt.year > 2024:
            break
        skipped += schedule.skipped_in_gap(after, nxt)
        seen.append(nxt.astimezone(ZoneInfo(PARIS)).date())
        after = nxt
    assert len(seen) == len(set(seen)) == 365  # 366 days in 2024 minus the spring-forward day
    assert skipped == [datetime(2024, 3, 31, 2, 30)]  # noqa: DTZ001


def test_last_sunday_of_march_at_2_30_in_paris_never_exists() -> None:
    # Always inside the EU spring-forward gap: bounded search, ends with the year field.
    schedule = cron("cron(30 2 ? 3 1L *)", PARIS)
    assert schedule.next_fire(utc(2024, 1, 1)) is None
    assert schedule.skipped_in_gap(utc(2024, 1, 1), utc(2026, 1, 1)) == [
        datetime(2024, 3, 31, 2, 30),  # noqa: DTZ001
        datetime(2025, 3, 30, 2, 30),  # noqa: DTZ001
    ]
