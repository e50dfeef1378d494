"""Checkpoints of stream mappings on embedded streams: the next position to read per shard.

A row is written only after the records before it were processed (the engine's
committer), so after a kill -9 a mapping resumes at its last checkpoint: records after it
may be seen again (at-least-once), none before it is skipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from eventhub.store.db import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_checkpoints (
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    shard TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (source, stream, shard)
) WITHOUT ROWID
"""


class CheckpointStore:
    """Checkpoints keyed by (source name, stream, shard id)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def open(self) -> None:
        await self._store.ensure_schema(SCHEMA)

    async def load(self, source: str, stream: str) -> dict[str, int]:
        """Every checkpoint of ``source`` on ``stream``."""
        rows = await self._store.run(
            lambda c: c.execute(
                "SELECT shard, position FROM stream_checkpoints WHERE source = ? AND stream = ?",
                (source, stream),
            ).fetchall()
        )
        return {shard: int(position) for shard, position in rows}

    async def save(self, source: str, stream: str, positions: Mapping[str, int]) -> None:
        """Store checkpoints; committed when this returns. Raises sqlite3.Error."""
        rows = [(source, stream, shard, position) for shard, position in positions.items()]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO stream_checkpoints (source, stream, shard, position)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (source, stream, shard)"
                " DO UPDATE SET position = excluded.position",
                rows,
            )

        await self._store.run(op)
