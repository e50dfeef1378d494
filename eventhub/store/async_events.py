"""Durable per-function queues of Event (async) invocations."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from eventhub.store.db import Operation, Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS async_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function TEXT NOT NULL,
    request_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    accepted_at REAL NOT NULL,
    due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    throttles INTEGER NOT NULL DEFAULT 0,
    leased INTEGER NOT NULL DEFAULT 0,
    last_response BLOB
);
CREATE INDEX IF NOT EXISTS async_events_due ON async_events (function, leased, due_at, id)
"""


@dataclass(frozen=True, slots=True)
class AsyncEvent:
    """One accepted Event invocation. ``attempts`` counts invocations that failed."""

    id: int
    function: str
    request_id: str
    payload: bytes
    accepted_at: float
    attempts: int
    throttles: int
    last_response: bytes | None


_COLUMNS = "id, function, request_id, payload, accepted_at, attempts, throttles, last_response"


def _row(row: tuple[object, ...]) -> AsyncEvent:
    return AsyncEvent(*row)  # type: ignore[arg-type]


class AsyncEventStore:
    """Table access for async events; every method is one store operation."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def open(self) -> None:
        """Create the table and release leases a previous run held when it died."""
        await self._store.ensure_schema(SCHEMA)
        await self._store.run(
            lambda c: c.execute("UPDATE async_events SET leased = 0 WHERE leased")
        )

    async def add(
        self,
        function: str,
        request_id: str,
        payload: bytes,
        now: float,
        *,
        leased: bool,
        also: Operation | None = None,
    ) -> AsyncEvent:
        """Persist an accepted event; committed when this returns. ``leased`` hands it
        straight to the caller's worker instead of waiting for the next fetch.

        ``also`` runs in the same savepoint as the insert: both commit or neither does
        (a trigger records "announced" atomically with the event). What it raises is
        raised here and nothing is stored."""

        def op(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO async_events"
                " (function, request_id, payload, accepted_at, due_at, leased)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (function, request_id, payload, now, now, int(leased)),
            )
            if also is not None:
                also(conn)
            return cur.lastrowid or 0

        event_id = await self._store.run(op)
        return AsyncEvent(event_id, function, request_id, payload, now, 0, 0, None)

    async def lease_due(self, function: str, now: float, limit: int) -> list[AsyncEvent]:
        """Take up to ``limit`` due events that no worker holds, oldest due first."""

        def op(conn: sqlite3.Connection) -> list[AsyncEvent]:
            rows = conn.execute(
                f"UPDATE async_events SET leased = 1 WHERE id IN ("  # noqa: S608 - constant columns
                " SELECT id FROM async_events WHERE function = ? AND leased = 0 AND due_at <= ?"
                " ORDER BY due_at, id LIMIT ?)"
                f" RETURNING {_COLUMNS}",
                (function, now, limit),
            ).fetchall()
            return sorted((_row(r) for r in rows), key=lambda e: e.id)

        return await self._store.run(op)

    async def next_due(self, function: str) -> float | None:
        """When the earliest unleased event of ``function`` becomes due, if any."""

        def op(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT MIN(due_at) FROM async_events WHERE function = ? AND leased = 0",
                (function,),
            ).fetchone()
            return row[0] if row else None

        return await self._store.run(op)

    async def retry_later(
        self, event_id: int, due_at: float, attempts: int, throttles: int, response: bytes | None
    ) -> None:
        """Release the lease and schedule the next attempt."""
        await self._store.run(
            lambda c: c.execute(
                "UPDATE async_events SET leased = 0, due_at = ?, attempts = ?, throttles = ?,"
                " last_response = COALESCE(?, last_response) WHERE id = ?",
                (due_at, attempts, throttles, response, event_id),
            )
        )

    async def remove(self, event_id: int) -> None:
        """The event is finished (delivered, or handed to its destinations)."""
        await self._store.run(
            lambda c: c.execute("DELETE FROM async_events WHERE id = ?", (event_id,))
        )

    async def depth(self, function: str | None = None) -> int:
        """Events waiting or in flight (for one function or all)."""

        def op(conn: sqlite3.Connection) -> int:
            if function is None:
                row = conn.execute("SELECT COUNT(*) FROM async_events").fetchone()
            else:
                row = conn.execute(
                    "SELECT COUNT(*) FROM async_events WHERE function = ?", (function,)
                ).fetchone()
            return int(row[0])

        return await self._store.run(op)

    async def waiting_by_function(self) -> dict[str, int]:
        """Events waiting or in flight, per function name."""

        def op(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute("SELECT function, COUNT(*) FROM async_events GROUP BY function")
            return {str(name): int(count) for name, count in rows}

        return await self._store.run(op)
