"""Embedded Kinesis-like streams in the store: shards, records, sequence numbers, retention.

Each shard has a row in ``stream_shards`` (its id ``sid`` and the next sequence counter)
and its records in ``stream_records`` keyed ``(sid, seq)`` (a clustered B-tree: appends and
range reads are sequential). Sequence counters grow by one per record within a shard and are
stored in the same transaction as the records, so a kill -9 never reuses one. Arrival times
(ms) never go down within a shard, which retention and ``at_timestamp`` rely on.

``StreamLog`` is the one object per store (``StreamLog.of(store)``) that the embedded-streams
service, the stream sources and the ``stream:`` destination share: it knows each shard's
committed tail on the event loop and wakes readers after every committed put.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import hashlib
import itertools
import sqlite3
import time
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from eventhub.store.db import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_shards (
    sid INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    shard INTEGER NOT NULL,
    next_seq INTEGER NOT NULL DEFAULT 0,
    last_arrival INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    UNIQUE (stream, shard)
);
CREATE TABLE IF NOT EXISTS stream_records (
    sid INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    pkey BLOB NOT NULL,
    data BLOB NOT NULL,
    arrival INTEGER NOT NULL,
    PRIMARY KEY (sid, seq)
) WITHOUT ROWID
"""

HASH_SPACE: Final = 1 << 128
RECENT_ROWS: Final = 4096
RECENT_BYTES: Final = 1 << 20
TRIM_CHUNK: Final = 5000

# A record read back: (seq, partition key, data, arrival ms).
Row = tuple[int, bytes, bytes, int]


def hash_key(partition_key: str) -> int:
    """Kinesis's hash of a partition key: MD5 as a 128-bit unsigned integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")  # noqa: S324 - Kinesis's hash, not security


@functools.cache
def starting_hash_keys(shards: int) -> tuple[int, ...]:
    """The first hash key of each of ``shards`` evenly split shards."""
    return tuple(index * HASH_SPACE // shards for index in range(shards))


def shard_for(hash_value: int, starts: Sequence[int]) -> int:
    """The index of the shard whose hash key range holds ``hash_value``."""
    return bisect.bisect_right(starts, hash_value) - 1


# Rows per INSERT statement: one sqlite3_step for many rows, so the writer thread gives up
# and retakes the GIL once per chunk instead of once per row (SQLite's limit is 32766
# parameters per statement).
INSERT_ROWS: Final = 1000
_INSERT_SQL: dict[int, str] = {}


def _insert(conn: sqlite3.Connection, rows: list[tuple[int, int, bytes, bytes, int]]) -> None:
    for start in range(0, len(rows), INSERT_ROWS):
        chunk = rows[start : start + INSERT_ROWS]
        sql = _INSERT_SQL.get(len(chunk))
        if sql is None:
            values = ",".join(["(?,?,?,?,?)"] * len(chunk))
            sql = _INSERT_SQL[len(chunk)] = (
                f"INSERT INTO stream_records (sid, seq, pkey, data, arrival) VALUES {values}"  # noqa: S608 - placeholders only
            )
        conn.execute(sql, [value for row in chunk for value in row])


class RecentRows:
    """The last committed records of a shard, in sequence order, bounded by count and bytes."""

    __slots__ = ("_bytes", "_rows")

    def __init__(self) -> None:
        self._rows: deque[Row] = deque()
        self._bytes = 0

    def add(self, row: Row) -> None:
        rows = self._rows
        if rows and row[0] != rows[-1][0] + 1:
            rows.clear()  # never serve a gap: start over from this record
            self._bytes = 0
        rows.append(row)
        self._bytes += len(row[2])
        while len(rows) > RECENT_ROWS or (self._bytes > RECENT_BYTES and len(rows) > 1):
            self._bytes -= len(rows.popleft()[2])

    def read(self, start: int, limit: int) -> list[Row] | None:
        """Up to ``limit`` rows from ``start`` on, or None if ``start`` is not held."""
        rows = self._rows
        if not rows or start < rows[0][0]:
            return None
        index = start - rows[0][0]
        if index >= len(rows):
            return []
        return list(itertools.islice(rows, index, index + limit))


@dataclass(slots=True)
class ShardState:
    """A shard as the event loop knows it. ``tail`` is the next sequence counter after the
    last committed record; readers never read at or past it."""

    sid: int
    stream: str
    index: int
    tail: int
    created: float


@dataclass(frozen=True, slots=True)
class Appended:
    """Where a put record went."""

    shard: int
    seq: int


class StreamLog:
    """Table access for embedded streams plus in-process wake-ups of readers."""

    _instances: weakref.WeakKeyDictionary[Store, StreamLog] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, store: Store) -> StreamLog:
        """The one StreamLog of ``store``."""
        log = cls._instances.get(store)
        if log is None:
            log = cls._instances[store] = cls(store)
        return log

    def __init__(self, store: Store) -> None:
        self._store = store
        self._shards: dict[tuple[str, int], ShardState] = {}
        self._writer_next: dict[int, int] = {}  # touched only inside store operations
        self._writer_arrival: dict[int, int] = {}
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._recent: dict[int, RecentRows] = {}
        self._open = False
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Create the tables and load every shard (idempotent)."""
        async with self._lock:
            if self._open:
                return
            await self._store.ensure_schema(SCHEMA)
            rows = await self._store.run(
                lambda c: c.execute(
                    "SELECT sid, stream, shard, next_seq, last_arrival, created FROM stream_shards"
                ).fetchall()
            )
            for sid, stream, index, next_seq, last_arrival, created in rows:
                self._shards[(stream, index)] = ShardState(sid, stream, index, next_seq, created)
                self._writer_next[sid] = next_seq
                self._writer_arrival[sid] = last_arrival
            self._open = True

    async def ensure_stream(self, stream: str, shards: int) -> None:
        """Create the shards ``0..shards-1`` of ``stream`` that do not exist yet."""
        missing = [i for i in range(shards) if (stream, i) not in self._shards]
        if not missing:
            return
        now = time.time()

        def create(conn: sqlite3.Connection) -> list[tuple[int, int]]:
            out = []
            for index in missing:
                cur = conn.execute(
                    "INSERT INTO stream_shards (stream, shard, created) VALUES (?, ?, ?)"
                    " ON CONFLICT (stream, shard) DO NOTHING RETURNING sid",
                    (stream, index, now),
                )
                row = cur.fetchone()
                if row is not None:
                    out.append((index, int(row[0])))
            return out

        for index, sid in await self._store.run(create):
            self._shards[(stream, index)] = ShardState(sid, stream, index, 0, now)
            self._writer_next.setdefault(sid, 0)
            self._writer_arrival.setdefault(sid, 0)

    def shards(self, stream: str) -> list[ShardState]:
        """The known shards of ``stream`` by index (also shards beyond today's count)."""
        return sorted(
            (state for (name, _), state in self._shards.items() if name == stream),
            key=lambda state: state.index,
        )

    def shard(self, stream: str, index: int) -> ShardState | None:
        return self._shards.get((stream, index))

    # -- writing ---------------------------------------------------------------------

    async def append(
        self, stream: str, records: Sequence[tuple[int, bytes, bytes]]
    ) -> list[Appended]:
        """Append ``(shard index, partition key, data)`` records in one transaction and
        wake the stream's readers; returns each record's shard and sequence counter."""
        states = [self._shards[(stream, index)] for index, _, _ in records]
        next_seq, last_arrival = self._writer_next, self._writer_arrival

        def op(conn: sqlite3.Connection) -> list[tuple[int, int]]:
            sids = {state.sid for state in states}
            saved = {sid: (next_seq[sid], last_arrival[sid]) for sid in sids}
            now = int(time.time() * 1000)
            rows = []
            for state, (_, key, data) in zip(states, records, strict=True):
                sid = state.sid
                seq = next_seq[sid]
                next_seq[sid] = seq + 1
                arrival = last_arrival[sid] = max(now, last_arrival[sid])
                rows.append((sid, seq, key, data, arrival))
            try:
                _insert(conn, rows)
                conn.executemany(
                    "UPDATE stream_shards SET next_seq = ?, last_arrival = ? WHERE sid = ?",
                    [(next_seq[sid], last_arrival[sid], sid) for sid in sids],
                )
            except BaseException:
                for sid, (seq, arrival) in saved.items():  # the savepoint is rolled back
                    next_seq[sid], last_arrival[sid] = seq, arrival
                raise
            return [(row[1], row[4]) for row in rows]

        # A caller cancelled mid-put must not leave committed records invisible to readers.
        future = asyncio.ensure_future(self._store.run(op))
        future.add_done_callback(lambda done: self._committed(stream, states, records, done))
        placed = await asyncio.shield(future)
        return [Appended(state.index, seq) for state, (seq, _) in zip(states, placed, strict=True)]

    def _committed(
        self,
        stream: str,
        states: list[ShardState],
        records: Sequence[tuple[int, bytes, bytes]],
        done: asyncio.Future[list[tuple[int, int]]],
    ) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        for state, (_, key, data), (seq, arrival) in zip(
            states, records, done.result(), strict=True
        ):
            if seq >= state.tail:
                state.tail = seq + 1
            self._recent.setdefault(state.sid, RecentRows()).add((seq, key, data, arrival))
        self.notify(stream)

    # -- reading ---------------------------------------------------------------------

    async def read(self, pages: Sequence[tuple[int, int, int]]) -> dict[int, list[Row]]:
        """For each ``(sid, from_seq, limit)``: up to ``limit`` records from ``from_seq`` on.

        Pages that start within the recently committed records are served from memory
        (readers that keep up never touch SQLite); the others are read in one operation."""
        out: dict[int, list[Row]] = {}
        older = []
        for sid, start, limit in pages:
            recent = self._recent.get(sid)
            found = recent.read(start, limit) if recent is not None else None
            if found is None:
                older.append((sid, start, limit))
            else:
                out[sid] = found
        if older:
            out.update(await self._read_stored(older))
        return out

    async def _read_stored(self, pages: list[tuple[int, int, int]]) -> dict[int, list[Row]]:
        def op(conn: sqlite3.Connection) -> dict[int, list[Row]]:
            out: dict[int, list[Row]] = {}
            for sid, start, limit in pages:
                out[sid] = conn.execute(
                    "SELECT seq, pkey, data, arrival FROM stream_records"
                    " WHERE sid = ? AND seq >= ? ORDER BY seq LIMIT ?",
                    (sid, start, limit),
                ).fetchall()
            return out

        return await self._store.run(op)

    async def first_seq(self, sid: int) -> int | None:
        """The oldest sequence counter still kept in shard ``sid`` (None: empty)."""
        row = await self._store.run(
            lambda c: c.execute(
                "SELECT seq FROM stream_records WHERE sid = ? ORDER BY seq LIMIT 1", (sid,)
            ).fetchone()
        )
        return None if row is None else int(row[0])

    async def seq_at(self, sid: int, arrival_ms: int) -> int | None:
        """The first sequence counter of shard ``sid`` that arrived at or after
        ``arrival_ms`` (None: none yet). Arrivals never go down, so this bisects."""

        def op(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "SELECT MIN(seq), MAX(seq) FROM stream_records WHERE sid = ?", (sid,)
            ).fetchone()
            if row is None or row[0] is None:
                return None
            low, high = int(row[0]), int(row[1]) + 1
            while low < high:
                middle = (low + high) // 2
                found = conn.execute(
                    "SELECT arrival FROM stream_records WHERE sid = ? AND seq >= ?"
                    " ORDER BY seq LIMIT 1",
                    (sid, middle),
                ).fetchone()
                if found is not None and found[0] >= arrival_ms:
                    high = middle
                else:
                    low = middle + 1
            return low if low <= int(row[1]) else None

        return await self._store.run(op)

    async def trim(self, sid: int, before_ms: int) -> int:
        """Delete records of shard ``sid`` that arrived before ``before_ms``, in chunks so
        that writers are never held up for long; returns how many were deleted."""

        def chunk(conn: sqlite3.Connection) -> tuple[int, bool]:
            rows = conn.execute(
                "SELECT seq, arrival FROM stream_records WHERE sid = ? ORDER BY seq LIMIT ?",
                (sid, TRIM_CHUNK),
            ).fetchall()
            expired = [seq for seq, arrival in rows if arrival < before_ms]
            if not expired:
                return 0, False
            conn.execute(
                "DELETE FROM stream_records WHERE sid = ? AND seq <= ?", (sid, expired[-1])
            )
            return len(expired), len(expired) == len(rows) == TRIM_CHUNK

        total = 0
        more = True
        while more:
            deleted, more = await self._store.run(chunk)
            total += deleted
        return total

    # -- wake-ups --------------------------------------------------------------------

    def watch(self, stream: str, event: asyncio.Event) -> None:
        """Set ``event`` after every committed put to ``stream``."""
        self._watchers.setdefault(stream, set()).add(event)

    def unwatch(self, stream: str, event: asyncio.Event) -> None:
        self._watchers.get(stream, set()).discard(event)

    def notify(self, stream: str) -> None:
        for event in self._watchers.get(stream, ()):
            event.set()

    def streams(self) -> Iterable[str]:
        return {name for name, _ in self._shards}
