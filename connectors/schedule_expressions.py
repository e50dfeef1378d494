"""Schedule expressions of the ``schedule`` source, with EventBridge semantics.

Pure logic (no asyncio, no I/O apart from reading one environment variable at
parse time). :func:`parse_schedule` turns an expression and an IANA time zone
into a :class:`Schedule`, whose :meth:`Schedule.next_fire` answers "when is the
first due time strictly after this instant?". Instants in and out are aware
datetimes; results are in UTC. Nothing here looks at the wall clock, so a caller
that was down for a while gets the due times it missed (``next_fire`` of the last
fire may lie in the past) and decides itself whether to catch up.

Accepted forms (see SPEC section 5 and the AWS reference, section E):

* ``rate(N unit)``: N a positive integer, unit ``minute|minutes|hour|hours|
  day|days``, singular iff N == 1 (EventBridge rules). ``second|seconds`` is
  test-only and needs ``EVENTHUB_ALLOW_SECOND_RATES=1``. A rate is an absolute
  period (a day is 24 h even across DST); the time zone does not apply.
* ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``: EventBridge's six
  fields (details in :mod:`connectors.schedule_cron`), evaluated on the wall
  clock of the schedule's time zone.
* A bare five-field crontab line such as ``0 12 * * *`` (never inside
  ``cron(...)``), same time-zone handling.
* ``at(yyyy-mm-ddThh:mm:ss)``: one time, on the wall clock of the time zone.

DST (EventBridge Scheduler behaviour): a cron wall time that does not exist
because clocks spring forward is **skipped**, not moved; a wall time that occurs
twice when clocks fall back fires **once**, at its first occurrence. So that no
skipped run goes unnoticed, :meth:`Schedule.skipped_in_gap` lists the wall times
that were skipped between two instants (call it with the previous and the next
fire time and log a warning for each). An ``at`` time inside a DST gap is
rejected at parse time; an ambiguous one means its first occurrence.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.schedule_cron import CronPlan, translate_crontab, translate_eventbridge_cron

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "SECOND_RATES_ENV",
    "AtSchedule",
    "CronSchedule",
    "RateSchedule",
    "Schedule",
    "ScheduleKind",
    "parse_schedule",
]

ScheduleKind = Literal["rate", "cron", "at"]

SECOND_RATES_ENV = "EVENTHUB_ALLOW_SECOND_RATES"
MAX_EXPRESSION_LENGTH = 256  # EventBridge Scheduler's ScheduleExpression limit

# unit -> (seconds, singular?)
_RATE_UNITS: dict[str, tuple[int, bool]] = {
    "second": (1, True),
    "seconds": (1, False),
    "minute": (60, True),
    "minutes": (60, False),
    "hour": (3600, True),
    "hours": (3600, False),
    "day": (86400, True),
    "days": (86400, False),
}
_AT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_FIELD_SEP_RE = re.compile(r"[ \t]+")
# Guard against a pathological cron whose matches all fall into DST gaps.
_MAX_SKIPPED_CANDIDATES = 100_000
_EXPECTED = "expected rate(...), cron(...), at(...) or a five-field crontab line"


@dataclass(frozen=True)
class Schedule(ABC):
    """A parsed schedule expression; build one with :func:`parse_schedule`.

    ``expression`` is the normalized expression (whitespace collapsed, cron
    names upper-cased); parsing it again with the same ``timezone`` gives an
    equal schedule. ``timezone`` is the IANA name it was parsed with.
    """

    expression: str
    timezone: str
    kind: ClassVar[ScheduleKind]

    @abstractmethod
    def next_fire(self, after: datetime, *, anchor: datetime | None = None) -> datetime | None:
        """Return the first due time strictly after ``after``, in UTC, or ``None`` if none is left.

        ``after`` and ``anchor`` must be timezone-aware (``ValueError`` otherwise).
        ``anchor`` is only used by rate schedules.
        """

    def skipped_in_gap(self, after: datetime, until: datetime) -> list[datetime]:
        """Naive wall times due in ``(after, until]`` that were skipped by a DST gap.

        Only cron schedules can skip; the others return ``[]``. Raises
        ``ValueError`` for naive arguments.
        """
        _to_utc(after, "after")
        _to_utc(until, "until")
        return []


@dataclass(frozen=True)
class RateSchedule(Schedule):
    """``rate(N unit)``: due at ``anchor + k * period`` for k = 1, 2, ...

    The anchor is the first start time of the source, persisted by the caller,
    so the first fire is one period after it and restarts keep the grid.
    (Passing the last fire time as anchor gives "one period after the last
    fire" instead.) The period is absolute: 1 day is 24 h across DST changes.
    """

    period: timedelta
    kind: ClassVar[ScheduleKind] = "rate"

    def next_fire(self, after: datetime, *, anchor: datetime | None = None) -> datetime:
        """First ``anchor + k * period`` (k >= 1) strictly after ``after``; never ``None``.

        Raises ``ValueError`` if ``anchor`` is missing or either datetime is naive.
        """
        if anchor is None:
            raise ValueError(
                f"{self.expression}: rate schedules need anchor= (the source's first start time)"
            )
        after_utc, anchor_utc = _to_utc(after, "after"), _to_utc(anchor, "anchor")
        periods = max(1, (after_utc - anchor_utc) // self.period + 1)
        return anchor_utc + periods * self.period


@dataclass(frozen=True)
class CronSchedule(Schedule):
    """``cron(...)`` or a crontab line, evaluated on the wall clock of ``timezone``.

    Wall times inside a spring-forward gap are skipped (see
    :meth:`skipped_in_gap`); wall times repeated by a fall-back fire once, at
    their first occurrence. With a year field, ``None`` is returned once no
    allowed year is left.
    """

    plan: CronPlan
    kind: ClassVar[ScheduleKind] = "cron"

    def next_fire(self, after: datetime, *, anchor: datetime | None = None) -> datetime | None:
        """Next matching wall time of the zone strictly after ``after``, as UTC.

        ``anchor`` is ignored. Returns ``None`` when no future time matches.
        Raises ``ValueError`` for a naive ``after``.
        """
        after_utc = _to_utc(after, "after")
        for _wall, instant in self._candidates(after_utc):
            if instant is not None and instant > after_utc:
                return instant
        return None

    def skipped_in_gap(self, after: datetime, until: datetime) -> list[datetime]:
        """Matching naive wall times in ``(after, until]`` that did not exist (DST gap).

        Meant for consecutive fire times (cost grows with the number of matching
        wall times in the interval); the caller should log each one as a run
        skipped by DST. Raises ``ValueError`` for naive arguments.
        """
        after_utc, until_utc = _to_utc(after, "after"), _to_utc(until, "until")
        end_wall = until_utc.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)
        skipped: list[datetime] = []
        for wall, instant in self._candidates(after_utc):
            if wall > end_wall:
                break
            if instant is None:
                skipped.append(wall)
        return skipped

    def _candidates(self, after_utc: datetime) -> Iterator[tuple[datetime, datetime | None]]:
        """Matching wall times after the wall time of ``after_utc`` with their UTC instants.

        The instant is the first occurrence of the wall time, or ``None`` if it
        falls in a DST gap. Wall times repeated by a fall-back may map to
        instants not after ``after_utc``; callers filter those.
        """
        zone = ZoneInfo(self.timezone)
        start = after_utc.astimezone(zone).replace(tzinfo=None)
        skipped = 0
        for wall in self.plan.walls_after(start):
            instant = _first_instant(wall, zone)
            yield wall, instant
            skipped = skipped + 1 if instant is None or instant <= after_utc else 0
            if skipped > _MAX_SKIPPED_CANDIDATES:
                raise RuntimeError(f"{self.expression}: no existing wall time found")


@dataclass(frozen=True)
class AtSchedule(Schedule):
    """``at(yyyy-mm-ddThh:mm:ss)``: one due time, ``when`` (UTC)."""

    when: datetime
    kind: ClassVar[ScheduleKind] = "at"

    def next_fire(self, after: datetime, *, anchor: datetime | None = None) -> datetime | None:
        """``when`` if it is strictly after ``after``, else ``None``; ``anchor`` is ignored.

        Raises ``ValueError`` for a naive ``after``.
        """
        return self.when if self.when > _to_utc(after, "after") else None


def parse_schedule(expression: str, timezone: str = "UTC") -> Schedule:
    """Parse a schedule expression for the IANA ``timezone`` (used by cron and at).

    Returns a :class:`RateSchedule`, :class:`CronSchedule` or :class:`AtSchedule`.
    Raises ``ValueError`` whose message starts with the expression and names
    what is wrong (unknown form, bad value, field or unit, unknown time zone,
    impossible date, test-only ``seconds`` rate without
    ``EVENTHUB_ALLOW_SECOND_RATES=1``, ...).
    """
    text = expression.strip()
    try:
        return _parse(text, timezone)
    except ValueError as exc:
        raise ValueError(f"{text}: {exc}") from None


def _parse(text: str, timezone: str) -> Schedule:
    if not text:
        raise ValueError(f"empty schedule expression; {_EXPECTED}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ValueError(f"longer than {MAX_EXPRESSION_LENGTH} characters")
    zone = _zone(timezone)
    for keyword in ("rate", "cron", "at"):
        if text.startswith(keyword + "("):
            if not text.endswith(")"):
                raise ValueError("missing closing ')'")
            inner = text[len(keyword) + 1 : -1].strip()
            if keyword == "rate":
                return _parse_rate(inner, timezone)
            if keyword == "cron":
                return _parse_cron(inner, timezone)
            return _parse_at(inner, timezone, zone)
    if "(" in text or ")" in text:
        raise ValueError(f"unknown schedule expression; {_EXPECTED} (keywords are lower-case)")
    fields = _split(text)
    if len(fields) != 5:
        raise ValueError(f"{_EXPECTED}; got {len(fields)} space-separated fields")
    plan = translate_crontab(fields)
    return CronSchedule(" ".join(fields), timezone, plan)


def _parse_rate(inner: str, timezone: str) -> RateSchedule:
    tokens = _FIELD_SEP_RE.split(inner) if inner else []
    if len(tokens) != 2:
        raise ValueError("expected rate(value unit), e.g. rate(5 minutes)")
    value_text, unit = tokens
    if not value_text.isascii() or not value_text.isdigit() or int(value_text) == 0:
        raise ValueError(f"rate value must be a positive integer, got {value_text!r}")
    value = int(value_text)
    if unit not in _RATE_UNITS:
        raise ValueError(f"rate unit must be minute(s), hour(s) or day(s), got {unit!r}")
    seconds, singular = _RATE_UNITS[unit]
    if seconds == 1 and os.environ.get(SECOND_RATES_ENV) != "1":
        raise ValueError(f"rate unit {unit!r} is test-only; set {SECOND_RATES_ENV}=1 to allow it")
    if singular and value != 1:
        raise ValueError(f"rate unit must be plural for a value of {value}: use '{unit}s'")
    if not singular and value == 1:
        raise ValueError(f"rate unit must be singular for a value of 1: use '{unit[:-1]}'")
    try:
        period = timedelta(seconds=value * seconds)
    except OverflowError:
        raise ValueError(f"rate period {value} {unit} is too long") from None
    return RateSchedule(f"rate({value} {unit})", timezone, period)


def _parse_cron(inner: str, timezone: str) -> CronSchedule:
    fields = _split(inner)
    if len(fields) != 6:
        hint = {
            5: "; a five-field crontab line is written without cron(...)",
            7: "; EventBridge has no seconds field (nothing runs more than once a minute)",
        }.get(len(fields), "")
        raise ValueError(
            "cron(...) needs 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), "
            f"got {len(fields)}{hint}"
        )
    plan = translate_eventbridge_cron(fields)
    return CronSchedule(f"cron({' '.join(fields)})", timezone, plan)


def _parse_at(inner: str, timezone: str, zone: ZoneInfo) -> AtSchedule:
    if not _AT_RE.fullmatch(inner):
        raise ValueError(f"expected at(yyyy-mm-ddThh:mm:ss), got at({inner})")
    try:
        wall = datetime.strptime(inner, "%Y-%m-%dT%H:%M:%S")  # noqa: DTZ007 - zone added below
    except ValueError as exc:
        raise ValueError(f"impossible date or time {inner!r} ({exc})") from None
    when = _first_instant(wall, zone)
    if when is None:
        raise ValueError(f"{inner} does not exist in {timezone} (skipped by a DST change)")
    return AtSchedule(f"at({inner})", timezone, when)


def _split(text: str) -> list[str]:
    """Space/tab-separated fields, upper-cased (cron names are case-insensitive)."""
    return _FIELD_SEP_RE.split(text.upper()) if text else []


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name)") from None


def _to_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _first_instant(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """UTC instant of the first occurrence of naive ``wall`` in ``zone``; None in a DST gap."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant
