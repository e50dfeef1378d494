"""SQLite in WAL mode, owned by one writer thread that commits in batches.

Every operation is a function of the connection. Callers on the event loop submit it
with ``await store.run(op)``; the writer thread takes all operations waiting at that
moment, runs each in its own savepoint inside one transaction, commits once, and then
resolves the callers' futures. So a burst of N writes costs one commit (one fsync at
most), a failing operation rolls back only itself, and the loop never touches SQLite.

Durability: ``synchronous=NORMAL`` in WAL mode. A committed transaction survives the
daemon being killed (kill -9); only an operating-system crash or power loss can lose
the last transactions. ``durable=True`` selects ``FULL`` for that case.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

Operation = Callable[[sqlite3.Connection], Any]
_Job = tuple[Operation, asyncio.Future[Any], asyncio.AbstractEventLoop]

MAX_BATCH = 512


class StoreClosed(Exception):  # noqa: N818 - a state, reported to callers that arrive late
    """The store was closed; the operation did not run."""


class Store:
    """The embedded database. Use as ``async with Store(path) as store``."""

    def __init__(self, path: Path, *, durable: bool = False) -> None:
        self.path = path
        self._durable = durable
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._schemas: set[str] = set()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Create the directory and database file and start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._main, args=(loop, ready), name="eventhub-store", daemon=True
        )
        self._thread.start()
        await ready

    async def ensure_schema(self, ddl: str) -> None:
        """Run ``CREATE ... IF NOT EXISTS`` statements once per store."""
        if ddl in self._schemas:
            return
        statements = [part.strip() for part in ddl.split(";") if part.strip()]

        def apply(conn: sqlite3.Connection) -> None:
            for statement in statements:  # not executescript: it would COMMIT the batch
                conn.execute(statement)

        await self.run(apply)
        self._schemas.add(ddl)

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in the writer thread; returns its result once the batch is committed.

        Raises whatever ``op`` raised (its savepoint is rolled back) or StoreClosed.
        """
        if self._closed:
            raise StoreClosed("store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((op, future, loop))
        return await future

    async def aclose(self) -> None:
        """Finish queued operations, commit and close the database."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    # -- writer thread ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-16000")
        return conn

    def _main(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            loop.call_soon_threadsafe(_settle, ready, None, exc)
            return
        loop.call_soon_threadsafe(_settle, ready, None, None)
        try:
            while self._serve_batch(conn):
                pass
        finally:
            conn.close()

    def _serve_batch(self, conn: sqlite3.Connection) -> bool:
        first = self._jobs.get()
        if first is None:
            return False
        batch = [first]
        stop = False
        while len(batch) < MAX_BATCH:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                stop = True
                break
            batch.append(job)
        self._execute(conn, batch)
        return not stop

    def _execute(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, future, _ in batch:
                results.append((future, *_in_savepoint(conn, op)))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # the commit itself failed: nothing in the batch stuck
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            results = [(future, None, exc) for _, future, _ in batch]
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for (_, _, loop), outcome in zip(batch, results, strict=False):
            by_loop.setdefault(loop, []).append(outcome)
        for loop, outcomes in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle_all, outcomes)


def _in_savepoint(conn: sqlite3.Connection, op: Operation) -> tuple[Any, BaseException | None]:
    conn.execute("SAVEPOINT op")
    try:
        result = op(conn)
    except Exception as exc:  # noqa: BLE001 - handed to the caller's future
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        return None, exc
    conn.execute("RELEASE op")
    return result, None


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _settle_all(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        _settle(future, result, error)
