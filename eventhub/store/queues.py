"""The embedded SQS-like queues in SQLite: send, receive, delete, visibility, redrive.

One table holds the messages of every queue. A message is *visible* when ``visible_at``
(ms) has passed; receiving it sets ``visible_at`` to now + the visibility timeout, counts
the receive and draws a fresh ``token``, and its receipt handle is ``(seq, token)``: a
handle from an earlier receive no longer matches, so it deletes nothing. A message that
was received ``max_receive_count`` times and comes up again is moved to the dead-letter
queue instead of being delivered (SQS's redrive policy). FIFO queues deliver a group's
messages in ``seq`` order and nothing of a group while any of its messages is in flight;
sends are deduplicated for five minutes by MessageDeduplicationId.

Every method is one store operation (one transaction); times are milliseconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventhub.store.db import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    md5 TEXT NOT NULL,
    attributes TEXT,
    md5_attributes TEXT,
    system TEXT,
    group_id TEXT,
    dedup_id TEXT,
    sent_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive_at INTEGER,
    token INTEGER NOT NULL DEFAULT 0,
    source_queue TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at, seq);
CREATE TABLE IF NOT EXISTS queue_dedup (
    queue TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (queue, dedup_id)
) WITHOUT ROWID
"""

DEDUP_WINDOW_MS = 5 * 60 * 1000
_RANDOM_RECEIPT_SQL = "abs(random() % 2147483646) + 1"
_RETURNING = (
    "seq, message_id, body, md5, attributes, md5_attributes, system, group_id, dedup_id,"
    " sent_at, receive_count, first_receive_at, token"
)


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store; ``attributes`` and ``system`` are JSON text or None."""

    message_id: str
    body: str
    md5: str
    attributes: str | None = None
    md5_attributes: str | None = None
    system: str | None = None
    delay_ms: int = 0
    group_id: str | None = None
    dedup_id: str | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """Where a message went: its id and sequence number (the original one when the send
    was a duplicate within the deduplication window)."""

    message_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A received message as stored (JSON columns still text)."""

    seq: int
    message_id: str
    body: str
    md5: str
    attributes: str | None
    md5_attributes: str | None
    system: str | None
    group_id: str | None
    dedup_id: str | None
    sent_at: int
    receive_count: int
    first_receive_at: int | None
    token: int


@dataclass(frozen=True, slots=True)
class Redrive:
    """A queue's dead-letter policy as the store applies it."""

    max_receive_count: int
    dead_letter_queue: str
    source_arn: str


@dataclass(frozen=True, slots=True)
class Received:
    """The outcome of a receive: messages, how many were moved to the dead letter, and when
    the next hidden message becomes visible (None when there is none)."""

    messages: list[StoredMessage]
    dead_lettered: int
    next_visible: int | None


@dataclass(frozen=True, slots=True)
class Depth:
    """SQS's ApproximateNumberOfMessages / ...NotVisible / ...Delayed."""

    visible: int
    in_flight: int
    delayed: int


def _placeholders(count: int) -> str:
    return ",".join("?" * count)


class QueueStore:
    """Table access for the embedded queues; every method is one store operation."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def open(self) -> None:
        await self._store.ensure_schema(SCHEMA)

    async def send(
        self, queue: str, messages: Sequence[NewMessage], now: int, *, fifo: bool
    ) -> list[Sent]:
        """Store ``messages`` (committed on return). FIFO sends with a dedup id seen in the
        last five minutes are not stored again: the original id and seq are returned."""
        if not fifo:
            return await self._store.run(lambda c: _send_standard(c, queue, messages, now))
        return await self._store.run(lambda c: _send_fifo(c, queue, messages, now))

    async def receive(
        self,
        queue: str,
        limit: int,
        now: int,
        visibility_ms: int,
        *,
        fifo: bool,
        redrive: Redrive | None,
    ) -> Received:
        """Take up to ``limit`` visible messages, hiding them for ``visibility_ms``."""
        return await self._store.run(
            lambda c: _receive(c, queue, limit, now, visibility_ms, fifo, redrive)
        )

    async def delete(self, queue: str, receipts: Sequence[tuple[int, int]]) -> int:
        """Delete by ``(seq, token)``; stale receipts match nothing. Returns rows deleted."""

        def op(conn: sqlite3.Connection) -> int:
            cur = conn.executemany(
                "DELETE FROM queue_messages WHERE seq = ? AND token = ? AND queue = ?",
                [(seq, token, queue) for seq, token in receipts],
            )
            return cur.rowcount

        return await self._store.run(op)

    async def change_visibility(
        self, queue: str, receipts: Sequence[tuple[int, int]], visible_at: int, now: int
    ) -> list[bool]:
        """Set ``visible_at`` of in-flight messages; False for a receipt whose message is not
        in flight any more (deleted, visible again, or received since)."""

        def op(conn: sqlite3.Connection) -> list[bool]:
            done = []
            for seq, token in receipts:
                cur = conn.execute(
                    "UPDATE queue_messages SET visible_at = ? WHERE seq = ? AND token = ?"
                    " AND queue = ? AND receive_count > 0 AND visible_at > ?",
                    (visible_at, seq, token, queue, now),
                )
                done.append(cur.rowcount == 1)
            return done

        return await self._store.run(op)

    async def dead_letter(
        self, queue: str, receipts: Sequence[tuple[int, int]], redrive: Redrive, now: int
    ) -> int:
        """Move received messages to the dead-letter queue now; returns how many moved."""

        def op(conn: sqlite3.Connection) -> int:
            seqs = [
                row[0]
                for seq, token in receipts
                for row in conn.execute(
                    "SELECT seq FROM queue_messages WHERE seq = ? AND token = ? AND queue = ?",
                    (seq, token, queue),
                )
            ]
            return _move_to_dead_letter(conn, queue, seqs, redrive, now)

        return await self._store.run(op)

    async def purge(self, queue: str) -> int:
        """Delete every message of ``queue``."""
        return await self._store.run(
            lambda c: c.execute("DELETE FROM queue_messages WHERE queue = ?", (queue,)).rowcount
        )

    async def depth(self, queue: str, now: int) -> Depth:
        def op(conn: sqlite3.Connection) -> Depth:
            row = conn.execute(
                "SELECT COALESCE(SUM(visible_at <= ?), 0),"
                " COALESCE(SUM(visible_at > ? AND receive_count > 0), 0),"
                " COALESCE(SUM(visible_at > ? AND receive_count = 0), 0)"
                " FROM queue_messages WHERE queue = ?",
                (now, now, now, queue),
            ).fetchone()
            return Depth(int(row[0]), int(row[1]), int(row[2]))

        return await self._store.run(op)

    async def move(
        self, source: str, destination: str | None, now: int, limit: int | None = None
    ) -> tuple[int, int]:
        """Move messages that are not in flight from ``source`` to ``destination`` (None:
        back to the queue each came from). Returns ``(moved, left)``."""
        return await self._store.run(lambda c: _move(c, source, destination, now, limit))

    async def sweep(self, retention: dict[str, int], now: int) -> int:
        """Drop messages older than their queue's retention (ms) and expired dedup ids."""

        def op(conn: sqlite3.Connection) -> int:
            conn.execute("DELETE FROM queue_dedup WHERE expires_at <= ?", (now,))
            removed = 0
            for queue, keep_ms in retention.items():
                removed += conn.execute(
                    "DELETE FROM queue_messages WHERE queue = ? AND sent_at < ?",
                    (queue, now - keep_ms),
                ).rowcount
            return removed

        return await self._store.run(op)


# -- operations (writer thread) ---------------------------------------------------------------

_INSERT = (
    "INSERT INTO queue_messages (queue, message_id, body, md5, attributes, md5_attributes,"
    " system, group_id, dedup_id, sent_at, visible_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)


def _row(queue: str, m: NewMessage, now: int) -> tuple[Any, ...]:
    return (
        queue,
        m.message_id,
        m.body,
        m.md5,
        m.attributes,
        m.md5_attributes,
        m.system,
        m.group_id,
        m.dedup_id,
        now,
        now + m.delay_ms,
    )


def _send_standard(
    conn: sqlite3.Connection, queue: str, messages: Sequence[NewMessage], now: int
) -> list[Sent]:
    conn.executemany(_INSERT, [_row(queue, m, now) for m in messages])
    return [Sent(m.message_id, 0) for m in messages]


def _send_fifo(
    conn: sqlite3.Connection, queue: str, messages: Sequence[NewMessage], now: int
) -> list[Sent]:
    sent = []
    for message in messages:
        if message.dedup_id is not None:
            row = conn.execute(
                "SELECT message_id, seq FROM queue_dedup"
                " WHERE queue = ? AND dedup_id = ? AND expires_at > ?",
                (queue, message.dedup_id, now),
            ).fetchone()
            if row is not None:
                sent.append(Sent(row[0], row[1]))
                continue
        seq = conn.execute(_INSERT, _row(queue, message, now)).lastrowid or 0
        if message.dedup_id is not None:
            conn.execute(
                "INSERT OR REPLACE INTO queue_dedup VALUES (?,?,?,?,?)",
                (queue, message.dedup_id, message.message_id, seq, now + DEDUP_WINDOW_MS),
            )
        sent.append(Sent(message.message_id, seq))
    return sent


_PICK_STANDARD = (
    "SELECT seq FROM queue_messages WHERE queue = ? AND visible_at <= ?"
    " ORDER BY visible_at, seq LIMIT ?"
)
# A group with a message in flight yields nothing (SQS FIFO).
_PICK_FIFO = (
    "SELECT seq FROM queue_messages WHERE queue = ? AND visible_at <= ?"
    " AND COALESCE(group_id, '') NOT IN (SELECT COALESCE(group_id, '') FROM queue_messages"
    "  WHERE queue = ? AND visible_at > ? AND receive_count > 0)"
    " ORDER BY seq LIMIT ?"
)


def _take(
    conn: sqlite3.Connection, queue: str, limit: int, now: int, visibility_ms: int, fifo: bool
) -> list[StoredMessage]:
    """Hide up to ``limit`` visible messages and return them in ``seq`` order."""
    pick = _PICK_FIFO if fifo else _PICK_STANDARD
    params = (queue, now, queue, now, limit) if fifo else (queue, now, limit)
    cur = conn.execute(
        "UPDATE queue_messages SET visible_at = ?, receive_count = receive_count + 1,"  # noqa: S608 - constant SQL
        f" first_receive_at = COALESCE(first_receive_at, ?), token = {_RANDOM_RECEIPT_SQL}"
        f" WHERE seq IN ({pick}) RETURNING {_RETURNING}",
        (now + visibility_ms, now, *params),
    )
    messages = [StoredMessage(*row) for row in cur]
    messages.sort(key=lambda m: m.seq)
    return messages


def _receive(
    conn: sqlite3.Connection,
    queue: str,
    limit: int,
    now: int,
    visibility_ms: int,
    fifo: bool,
    redrive: Redrive | None,
) -> Received:
    messages: list[StoredMessage] = []
    dead = 0
    while len(messages) < limit:
        got = _take(conn, queue, limit - len(messages), now, visibility_ms, fifo)
        poison: list[int] = []
        if redrive is not None:  # received max_receive_count times already: redrive instead
            poison = [m.seq for m in got if m.receive_count > redrive.max_receive_count]
        if poison:
            assert redrive is not None  # noqa: S101 - poison is only found with a policy
            dead += _move_to_dead_letter(conn, queue, poison, redrive, now)
            moved = set(poison)
            got = [m for m in got if m.seq not in moved]
        messages.extend(got)
        if not poison:
            break
    if messages:
        return Received(messages, dead, None)
    row = conn.execute(
        "SELECT MIN(visible_at) FROM queue_messages WHERE queue = ? AND visible_at > ?",
        (queue, now),
    ).fetchone()
    return Received([], dead, row[0] if row else None)


def _move_to_dead_letter(
    conn: sqlite3.Connection, queue: str, seqs: list[int], redrive: Redrive, now: int
) -> int:
    if not seqs:
        return 0
    return conn.execute(
        f"UPDATE queue_messages SET queue = ?, source_queue = ?, visible_at = ?,"  # noqa: S608
        " receive_count = 0, first_receive_at = NULL, token = 0,"
        " system = json_set(COALESCE(system, '{}'), '$.DeadLetterQueueSourceArn', ?)"
        f" WHERE seq IN ({_placeholders(len(seqs))})",
        (redrive.dead_letter_queue, queue, now, redrive.source_arn, *seqs),
    ).rowcount


def _move(
    conn: sqlite3.Connection, source: str, destination: str | None, now: int, limit: int | None
) -> tuple[int, int]:
    movable = "queue = ? AND NOT (receive_count > 0 AND visible_at > ?)"
    target = "?" if destination is not None else "source_queue"
    if destination is None:
        movable += " AND source_queue IS NOT NULL"
    params: tuple[Any, ...] = (source, now)
    moved = conn.execute(
        f"UPDATE queue_messages SET queue = {target}, source_queue = NULL, visible_at = ?,"  # noqa: S608
        " receive_count = 0, first_receive_at = NULL, token = 0,"
        " system = json_remove(system, '$.DeadLetterQueueSourceArn')"
        f" WHERE seq IN (SELECT seq FROM queue_messages WHERE {movable} ORDER BY seq LIMIT ?)",
        (*((destination,) if destination is not None else ()), now, *params, limit or -1),
    ).rowcount
    left = conn.execute("SELECT COUNT(*) FROM queue_messages WHERE queue = ?", (source,))
    return moved, int(left.fetchone()[0])
