"""AsyncEventStore.add(also=...): the companion write commits with the event or not at all."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from eventhub.store.async_events import AsyncEventStore
from eventhub.store.db import Store


async def test_companion_write_commits_with_the_event(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        await store.ensure_schema("CREATE TABLE IF NOT EXISTS marks (name TEXT)")
        events = AsyncEventStore(store)
        await events.open()

        def mark(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO marks VALUES ('fired')")

        await events.add("f", "r1", b"{}", 1.0, leased=False, also=mark)
        assert await events.depth("f") == 1
        rows = await store.run(lambda c: c.execute("SELECT name FROM marks").fetchall())
        assert rows == [("fired",)]


async def test_failing_companion_write_stores_nothing(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        events = AsyncEventStore(store)
        await events.open()

        def broken(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO no_such_table VALUES (1)")

        with pytest.raises(sqlite3.OperationalError):
            await events.add("f", "r1", b"{}", 1.0, leased=False, also=broken)
        assert await events.depth("f") == 0
