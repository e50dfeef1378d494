"""Cron syntax for the ``schedule`` source: validation and translation to croniter.

Pure logic (no I/O, no asyncio) used by :mod:`connectors.schedule_expressions`.
Two dialects are understood and both become a :class:`CronPlan`, which is a
five-field croniter expression plus an optional set of allowed years:

* EventBridge ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``
  (:func:`translate_eventbridge_cron`). Exactly one of day-of-month and
  day-of-week is ``?``. Day-of-week is 1-7 = SUN-SAT, shifted to croniter's 0-6.
  ``L`` (last day of month), ``nW`` (nearest weekday), ``LW`` (last weekday),
  ``nL`` (last given weekday of the month), plain ``L`` in day-of-week (= SAT,
  as in Quartz) and ``n#k`` (k-th given weekday) become croniter's ``L``,
  ``nW``, ``31W``, ``L<n-1>``, ``6`` and ``<n-1>#k``. The year field
  (1970-2199) is not given to croniter: :meth:`CronPlan.walls_after` skips
  non-matching years itself.
* A standard five-field crontab line (:func:`translate_crontab`): day-of-week
  0-7 with 0 and 7 = Sunday; when both day fields are restricted a day matches
  either of them (standard cron OR semantics, as croniter implements them).

Plain fields are expanded here to explicit value lists (croniter only iterates),
so ranges, steps and names mean the same in both dialects: ``a-b`` with
``a > b`` wraps around (``FRI-MON``, ``22-2``; Quartz behaviour), ``a/n`` is
``a-<max>/n`` and a step must lie between 1 and the field's span. Names are
case-insensitive. ``W`` for a day past the end of a month is clamped to the
month's last day (croniter behaviour; this is also how ``LW`` is translated).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from croniter import CroniterBadDateError, croniter

__all__ = ["MAX_YEAR", "MIN_YEAR", "CronPlan", "translate_crontab", "translate_eventbridge_cron"]

MIN_YEAR = 1970
MAX_YEAR = 2199

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # longest length of each month


class _Spec(NamedTuple):
    label: str
    low: int
    high: int
    names: Mapping[str, int]


_MINUTES = _Spec("minutes", 0, 59, {})
_HOURS = _Spec("hours", 0, 23, {})
_DOM = _Spec("day-of-month", 1, 31, {})
_MONTH = _Spec("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)})
_EB_DOW = _Spec("day-of-week", 1, 7, {name: i + 1 for i, name in enumerate(_DAYS)})
_CRONTAB_DOW = _Spec("day-of-week", 0, 7, {name: i for i, name in enumerate(_DAYS)})
_YEAR = _Spec("year", MIN_YEAR, MAX_YEAR, {})

_ITEM_RE = re.compile(r"(?P<base>\*|[^-/]+(?:-[^-/]+)?)(?:/(?P<step>[^/]*))?")
_NUMBER_RE = re.compile(r"[0-9]+")
_NEAREST_WEEKDAY_RE = re.compile(r"(?P<day>[0-9]+)W")
_LAST_WEEKDAY_RE = re.compile(r"(?P<day>[^#,L]+)L")
_NTH_WEEKDAY_RE = re.compile(r"(?P<day>[^#,]+)#(?P<nth>[^#,]*)")


@dataclass(frozen=True)
class CronPlan:
    """A validated cron expression in the form croniter iterates.

    ``croniter_expression`` is a five-field croniter expression (day-of-week
    0-6 = SUN-SAT); ``years`` is the set of allowed years, or ``None`` when the
    source syntax had no year field (a crontab line).
    """

    croniter_expression: str
    years: frozenset[int] | None = field(repr=False)

    def walls_after(self, start: datetime) -> Iterator[datetime]:
        """Yield the matching naive wall-clock times strictly after naive ``start``.

        Times come in ascending order with seconds set to zero. Time zones and
        DST are the caller's business (these are plain calendar times). The
        iterator ends when no allowed year is left, or when croniter finds no
        match within its 50-year search window (e.g. ``30 2`` on Feb 30).
        """
        cron = croniter(self.croniter_expression, start, ret_type=datetime)
        while True:
            try:
                candidate = cron.get_next(datetime)
            except CroniterBadDateError:
                return
            if self.years is None or candidate.year in self.years:
                yield candidate
                continue
            later = [year for year in self.years if year > candidate.year]
            if not later:
                return
            # Restart just before 1 January of the next allowed year (bounded jump).
            restart = datetime(min(later), 1, 1) - timedelta(minutes=1)  # noqa: DTZ001 - naive wall
            cron.set_current(restart, force=True)


def translate_eventbridge_cron(fields: Sequence[str]) -> CronPlan:
    """Validate the six fields of an EventBridge ``cron(...)`` and translate them.

    ``fields`` must already be upper-cased. Raises ``ValueError`` naming the
    offending field and value (wrong field count, ``?`` misuse, out-of-range
    values, bad steps, misplaced ``L``/``W``/``#``, days that never occur in
    the selected months).
    """
    if len(fields) != 6:
        raise ValueError(f"expected 6 fields, got {len(fields)}")
    minute, hour, dom, month, dow, year = fields
    _check_question_marks(fields)
    if (dom == "?") == (dow == "?"):
        if dom == "?":
            raise ValueError("day-of-month and day-of-week cannot both be '?'")
        raise ValueError("one of day-of-month and day-of-week must be '?'")
    months = _expand_list(month, _MONTH)
    dom_expr = "*" if dom == "?" else _eventbridge_dom(dom, months)
    dow_expr = "*" if dow == "?" else _eventbridge_dow(dow)
    parts = (_emit(minute, _MINUTES), _emit(hour, _HOURS), dom_expr, _emit(month, _MONTH), dow_expr)
    return CronPlan(" ".join(parts), frozenset(_expand_list(year, _YEAR)))


def translate_crontab(fields: Sequence[str]) -> CronPlan:
    """Validate a five-field crontab line (already upper-cased) and translate it.

    Only standard syntax is accepted (``*``, lists, ranges, steps, names); the
    EventBridge/Quartz extensions ``?``, ``L``, ``W`` and ``#`` are rejected
    with ``ValueError``, as are out-of-range values and bad steps.
    """
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    minute, hour, dom, month, dow = fields
    for text in fields:
        if any(mark in text for mark in "?#"):
            raise ValueError(
                f"{text!r}: '?' and '#' are EventBridge syntax; write cron(...) with six fields"
            )
    dom_expr = _emit(dom, _DOM)
    dow_expr = "*" if dow == "*" else _join({day % 7 for day in _expand_list(dow, _CRONTAB_DOW)})
    if dow == "*" and dom != "*":
        _check_days_fit(_expand_list(dom, _DOM), _expand_list(month, _MONTH))
    parts = (_emit(minute, _MINUTES), _emit(hour, _HOURS), dom_expr, _emit(month, _MONTH), dow_expr)
    return CronPlan(" ".join(parts), None)


def _check_question_marks(fields: Sequence[str]) -> None:
    """``?`` is a whole day-of-month or day-of-week field and appears nowhere else."""
    specs = (_MINUTES, _HOURS, _DOM, _MONTH, _EB_DOW, _YEAR)
    for text, spec in zip(fields, specs, strict=True):
        if "?" not in text or (text == "?" and spec in (_DOM, _EB_DOW)):
            continue
        if spec in (_DOM, _EB_DOW):
            raise ValueError(f"{spec.label} {text!r}: '?' must be the whole field")
        raise ValueError(f"'?' is only allowed in day-of-month or day-of-week, not {spec.label}")


def _eventbridge_dom(text: str, months: set[int]) -> str:
    """Translate an EventBridge day-of-month field other than ``?``."""
    if text == "L":
        return "L"
    if text == "LW":
        return "31W"  # croniter clamps W to the month's last day: nearest weekday to it
    match = _NEAREST_WEEKDAY_RE.fullmatch(text)
    if match:
        return f"{_value(match['day'], _DOM)}W"
    if "L" in text or "W" in text:
        raise ValueError(
            f"day-of-month {text!r}: 'L', 'LW' and 'nW' must stand alone (e.g. L, LW, 15W)"
        )
    if text == "*":
        return "*"
    days = _expand_list(text, _DOM)
    _check_days_fit(days, months)
    return _join(days)


def _eventbridge_dow(text: str) -> str:
    """Translate an EventBridge day-of-week field other than ``?`` (1-7 = SUN-SAT)."""
    if text in ("*", "L"):
        return "*" if text == "*" else "6"  # plain L: last day of the week, Saturday
    if "L" in text or "#" in text:
        return _eventbridge_dow_special(text)
    return _join({day - 1 for day in _expand_list(text, _EB_DOW)})


def _eventbridge_dow_special(text: str) -> str:
    """Translate ``nL`` (last weekday n of the month) and ``n#k`` (k-th weekday n)."""
    last = _LAST_WEEKDAY_RE.fullmatch(text)
    if last:
        return f"L{_value(last['day'], _EB_DOW) - 1}"
    nth = _NTH_WEEKDAY_RE.fullmatch(text)
    if not nth:
        raise ValueError(
            f"day-of-week {text!r}: 'nL' and 'n#k' must stand alone, one per field (e.g. 6L, MON#2)"
        )
    if not _NUMBER_RE.fullmatch(nth["nth"]) or not 1 <= int(nth["nth"]) <= 5:
        raise ValueError(f"day-of-week {text!r}: the number after '#' must be 1-5")
    return f"{_value(nth['day'], _EB_DOW) - 1}#{int(nth['nth'])}"


def _emit(text: str, spec: _Spec) -> str:
    """Croniter text for a plain field: ``*`` stays ``*``, anything else is expanded."""
    return "*" if text == "*" else _join(_expand_list(text, spec))


def _join(values: set[int]) -> str:
    return ",".join(str(value) for value in sorted(values))


def _check_days_fit(days: set[int], months: set[int]) -> None:
    """Reject day-of-month values that never occur in any selected month (e.g. 30 FEB)."""
    if not any(day <= _MONTH_DAYS[month - 1] for day in days for month in months):
        raise ValueError(f"day-of-month {_join(days)} never occurs in month {_join(months)}")


def _expand_list(text: str, spec: _Spec) -> set[int]:
    """Expand a comma-separated list of values, ranges and steps into a set."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"{spec.label} {text!r}: empty item in list")
        values |= _expand_item(item, spec)
    return values


def _expand_item(item: str, spec: _Spec) -> set[int]:
    """Expand ``*``, ``v``, ``a-b``, optionally followed by ``/step``."""
    match = _ITEM_RE.fullmatch(item)
    if not match:
        raise ValueError(f"{spec.label} {item!r} is not a value, range or step")
    base, step_text = match["base"], match["step"]
    step = 1 if step_text is None else _step(step_text, item, spec)
    if base == "*":
        start, end = spec.low, spec.high
    elif "-" in base:
        first, last = base.split("-")
        start, end = _value(first, spec), _value(last, spec)
    else:
        start = _value(base, spec)
        end = spec.high if step_text is not None else start
    span = spec.high - spec.low + 1
    # (end - start) % span also covers wrap-around ranges such as FRI-MON or 22-2.
    offsets = range(0, (end - start) % span + 1, step)
    return {spec.low + (start - spec.low + offset) % span for offset in offsets}


def _step(text: str, item: str, spec: _Spec) -> int:
    span = spec.high - spec.low + 1
    if not _NUMBER_RE.fullmatch(text) or not 1 <= int(text) <= span:
        raise ValueError(f"{spec.label} {item!r}: step must be an integer from 1 to {span}")
    return int(text)


def _value(token: str, spec: _Spec) -> int:
    """One number or name of a field, range-checked."""
    if token in spec.names:
        return spec.names[token]
    if not _NUMBER_RE.fullmatch(token):
        kind = "a number or name" if spec.names else "a number"
        raise ValueError(f"{spec.label} value {token!r} is not {kind}")
    value = int(token)
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{spec.label} value {value} is out of range {spec.low}-{spec.high}")
    return value
