"""Persistent state of ``schedule`` sources: anchor, last due time handled, last fire.

Times are stored as integer microseconds since the epoch, so a due time read back is
exactly the one written (a float could round below it and make it due again). The
operation that records a fire is passed to ``Invoker.enqueue(also=...)``: the fire and
its async event commit together. It refuses (raises :class:`AlreadyHandled`, which
rolls the event back) a due time at or before the recorded one, so two instances of
one source (a reload overlapping a restart) can never fire the same due time twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventhub.store.db import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS schedule_state (
    source TEXT PRIMARY KEY,
    signature TEXT NOT NULL,
    anchor_us INTEGER NOT NULL,
    cursor_us INTEGER,
    last_fire_us INTEGER,
    fires INTEGER NOT NULL DEFAULT 0
)
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime."""
    return (moment - _EPOCH) // _US


def from_us(value: int) -> datetime:
    return _EPOCH + value * _US


class AlreadyHandled(Exception):  # noqa: N818 - a condition the caller expects
    """The due time was already fired or skipped by this source."""


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """``anchor``: when the schedule (as configured now) first started; ``cursor``: the
    last due time fired or skipped (None: none yet); ``last_fire``: the last one fired."""

    anchor: datetime
    cursor: datetime | None
    last_fire: datetime | None
    fires: int


class ScheduleStore:
    """Table access for one schedule source."""

    def __init__(self, store: Store, source: str) -> None:
        self._store = store
        self.source = source

    async def load(self, signature: str, now: datetime) -> tuple[ScheduleState, str]:
        """The state, created with ``anchor = now`` on the first start or reset (anchor and
        cursor = now) when the expression or time zone changed. Returns it with what
        happened: ``"first"``, ``"changed"`` or ``"resumed"``."""
        await self._store.ensure_schema(SCHEMA)
        source, now_us = self.source, to_us(now)

        def op(conn: sqlite3.Connection) -> tuple[ScheduleState, str]:
            row = conn.execute(
                "SELECT signature, anchor_us, cursor_us, last_fire_us, fires"
                " FROM schedule_state WHERE source = ?",
                (source,),
            ).fetchone()
            if row is not None and row[0] == signature:
                anchor, cursor, last, fires = row[1:]
                return (
                    ScheduleState(
                        from_us(anchor),
                        None if cursor is None else from_us(cursor),
                        None if last is None else from_us(last),
                        fires,
                    ),
                    "resumed",
                )
            cursor = None if row is None else now_us
            last = None if row is None else row[3]
            conn.execute(
                "INSERT OR REPLACE INTO schedule_state"
                " (source, signature, anchor_us, cursor_us, last_fire_us, fires)"
                " VALUES (?, ?, ?, ?, ?, 0)",
                (source, signature, now_us, cursor, last),
            )
            state = ScheduleState(
                now, None if cursor is None else now, None if last is None else from_us(last), 0
            )
            return state, "first" if row is None else "changed"

        return await self._store.run(op)

    def advance_op(self, due: datetime, *, fired: bool) -> Callable[[sqlite3.Connection], None]:
        """Record ``due`` as handled (fired, or skipped when ``fired`` is false). Raises
        AlreadyHandled (rolling back its transaction) when ``due`` is not after the cursor."""
        source, due_us = self.source, to_us(due)

        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE schedule_state SET cursor_us = ?,"
                " last_fire_us = CASE WHEN ? THEN ? ELSE last_fire_us END,"
                " fires = fires + ?"
                " WHERE source = ? AND (cursor_us IS NULL OR cursor_us < ?)",
                (due_us, fired, due_us, int(fired), source, due_us),
            )
            if cur.rowcount != 1:
                raise AlreadyHandled(f"{source}: {due.isoformat()} was already handled")

        return op

    async def skip(self, due: datetime) -> None:
        """Record ``due`` as handled without firing (missed runs without catch_up)."""
        await self._store.run(self.advance_op(due, fired=False))
