"""The SQLite store: one writer thread, batched commits, per-operation rollback."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eventhub.store.db import Store, StoreClosed

SCHEMA = "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(tmp_path / "state" / "db.sqlite") as opened:
        await opened.ensure_schema(SCHEMA)
        yield opened


class Blocker:
    """Holds the writer thread inside an operation so that later ones pile up."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.entered = threading.Event()
        self.release = threading.Event()
        self.task: asyncio.Task[None] | None = None

    def _op(self, conn: sqlite3.Connection) -> None:
        self.entered.set()
        self.release.wait(10)

    async def __aenter__(self) -> Blocker:
        self.task = asyncio.create_task(self.store.run(self._op))
        await asyncio.to_thread(self.entered.wait, 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        assert self.task is not None
        await self.task


def insert(name: str) -> object:
    return lambda conn: conn.execute("INSERT INTO items (name) VALUES (?)", (name,)).lastrowid


async def names(store: Store) -> list[str]:
    rows = await store.run(lambda c: c.execute("SELECT name FROM items ORDER BY id").fetchall())
    return [r[0] for r in rows]


async def test_creates_the_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "db.sqlite"
    async with Store(path) as store:
        mode = await store.run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    assert path.exists()
    assert mode == "wal"


async def test_operations_run_in_the_writer_thread(store: Store) -> None:
    name = await store.run(lambda conn: threading.current_thread().name)
    assert name == "eventhub-store"
    assert name != threading.current_thread().name


async def test_result_and_durability_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with Store(path) as store:
        await store.ensure_schema(SCHEMA)
        assert await store.run(insert("a")) == 1
    async with Store(path) as store:
        assert await names(store) == ["a"]


async def test_many_concurrent_operations_share_few_commits(store: Store) -> None:
    statements: list[str] = []
    await store.run(lambda conn: conn.set_trace_callback(statements.append))
    async with Blocker(store):
        tasks = [asyncio.create_task(store.run(insert(f"n{i}"))) for i in range(100)]
        for _ in range(3):
            await asyncio.sleep(0)  # every task has queued its operation
        statements.clear()
    await asyncio.gather(*tasks)
    # The blocker's batch commits, then all 100 operations share one transaction.
    assert statements.count("BEGIN IMMEDIATE") == 1
    assert statements.count("COMMIT") == 2
    begin = statements.index("BEGIN IMMEDIATE")
    assert sum(s.startswith("INSERT") for s in statements[begin:]) == 100
    assert len(await names(store)) == 100


async def test_a_failing_operation_rolls_back_only_itself(store: Store) -> None:
    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO items (name) VALUES ('half-done')")
        raise ValueError("changed my mind")

    async with Blocker(store):  # all three land in one transaction
        first = asyncio.create_task(store.run(insert("first")))
        failing = asyncio.create_task(store.run(bad))
        duplicate = asyncio.create_task(store.run(insert("first")))  # UNIQUE violation
        last = asyncio.create_task(store.run(insert("last")))
        await asyncio.sleep(0)
    assert await first == 1
    with pytest.raises(ValueError, match="changed my mind"):
        await failing
    with pytest.raises(sqlite3.IntegrityError):
        await duplicate
    assert await last is not None
    assert await names(store) == ["first", "last"]


async def test_ensure_schema_runs_once_per_store(store: Store) -> None:
    statements: list[str] = []
    await store.run(lambda conn: conn.set_trace_callback(statements.append))
    ddl = "CREATE TABLE IF NOT EXISTS other (x INTEGER); CREATE INDEX IF NOT EXISTS o ON other (x)"
    await store.ensure_schema(ddl)
    await store.ensure_schema(ddl)
    assert sum("CREATE TABLE IF NOT EXISTS other" in s for s in statements) == 1
    assert sum("CREATE INDEX" in s for s in statements) == 1


async def test_closed_store_refuses_operations_but_finishes_queued_ones(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    await store.open()
    await store.ensure_schema(SCHEMA)
    queued = [asyncio.create_task(store.run(insert(f"q{i}"))) for i in range(5)]
    await asyncio.sleep(0)
    await store.aclose()
    assert all(isinstance(result, int) for result in await asyncio.gather(*queued))
    with pytest.raises(StoreClosed):
        await store.run(insert("late"))
    await store.aclose()  # idempotent
    async with Store(tmp_path / "db.sqlite") as reopened:
        assert len(await names(reopened)) == 5


async def test_operations_see_earlier_writes_of_the_same_batch(store: Store) -> None:
    async with Blocker(store):
        write = asyncio.create_task(store.run(insert("x")))
        read = asyncio.create_task(
            store.run(lambda c: c.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        )
        await asyncio.sleep(0)
    await write
    assert await read == 1


async def test_open_fails_cleanly_on_an_unusable_path(tmp_path: Path) -> None:
    directory = tmp_path / "db-is-a-directory"
    directory.mkdir()
    with pytest.raises(sqlite3.Error):
        await Store(directory).open()
