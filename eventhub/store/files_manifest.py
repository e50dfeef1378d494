"""The manifest of ``files`` sources: what each bucket held when it was last announced.

One row per (source, key) with the version that was announced (size, mtime, inode,
device, ETag) and its sequencer. The connector writes a row with the store operation
it passes to ``Invoker.enqueue(also=...)``, so the row and the announcement commit
together: after a kill -9 a change is either announced and recorded, or neither (and
is then announced at the next start). ``files_buckets`` remembers which directory a
source watched; when it changes, the old rows no longer describe it and are dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from eventhub.store.db import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS files_manifest (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    etag TEXT NOT NULL,
    sequencer INTEGER NOT NULL,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files_buckets (
    source TEXT PRIMARY KEY,
    directory TEXT NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """The announced version of one object."""

    key: str
    size: int
    mtime_ns: int
    ino: int
    dev: int
    etag: str
    sequencer: int


Operation = Callable[[sqlite3.Connection], None]


class FilesManifest:
    """Table access for one source's manifest. ``load`` reads it; ``put_op`` and
    ``delete_op`` return store operations (for ``enqueue(also=...)`` or ``write``)."""

    def __init__(self, store: Store, source: str) -> None:
        self._store = store
        self.source = source

    async def load(self, directory: str) -> tuple[dict[str, ManifestEntry], bool]:
        """All rows of this source, and whether the source watched ``directory`` before
        (False on the first start, or when the directory changed: rows are then dropped)."""
        await self._store.ensure_schema(SCHEMA)
        source = self.source

        def op(conn: sqlite3.Connection) -> tuple[dict[str, ManifestEntry], bool]:
            row = conn.execute(
                "SELECT directory FROM files_buckets WHERE source = ?", (source,)
            ).fetchone()
            known = row is not None and row[0] == directory
            if not known:
                conn.execute("DELETE FROM files_manifest WHERE source = ?", (source,))
                conn.execute(
                    "INSERT OR REPLACE INTO files_buckets (source, directory) VALUES (?, ?)",
                    (source, directory),
                )
                return {}, False
            rows = conn.execute(
                "SELECT key, size, mtime_ns, ino, dev, etag, sequencer"
                " FROM files_manifest WHERE source = ?",
                (source,),
            ).fetchall()
            return {r[0]: ManifestEntry(*r) for r in rows}, True

        return await self._store.run(op)

    def put_op(self, entry: ManifestEntry) -> Operation:
        """Record ``entry`` as the announced version of its key."""
        values = (
            self.source,
            entry.key,
            entry.size,
            entry.mtime_ns,
            entry.ino,
            entry.dev,
            entry.etag,
            entry.sequencer,
        )

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO files_manifest"
                " (source, key, size, mtime_ns, ino, dev, etag, sequencer)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )

        return op

    def delete_op(self, key: str) -> Operation:
        """Forget ``key`` (its removal was announced)."""
        source = self.source

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM files_manifest WHERE source = ? AND key = ?", (source, key))

        return op

    async def write(self, ops: list[Operation]) -> None:
        """Apply several operations in one store operation (changes nobody is told about)."""

        def op(conn: sqlite3.Connection) -> None:
            for each in ops:
                each(conn)

        if ops:
            await self._store.run(op)
