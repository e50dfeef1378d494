"""The durable table of accepted Event invocations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eventhub.store.async_events import AsyncEventStore
from eventhub.store.db import Store


@pytest.fixture
async def events(tmp_path: Path) -> AsyncIterator[AsyncEventStore]:
    async with Store(tmp_path / "db.sqlite") as store:
        table = AsyncEventStore(store)
        await table.open()
        yield table


async def test_add_then_lease_in_due_order(events: AsyncEventStore) -> None:
    a = await events.add("f", "r-a", b'{"a":1}', 100.0, leased=False)
    b = await events.add("f", "r-b", b'{"b":1}', 101.0, leased=False)
    await events.add("other", "r-o", b"{}", 99.0, leased=False)
    assert a.id < b.id
    assert (a.request_id, a.payload, a.accepted_at, a.attempts) == ("r-a", b'{"a":1}', 100.0, 0)
    assert await events.depth("f") == 2
    assert await events.depth() == 3
    leased = await events.lease_due("f", now=200.0, limit=10)
    assert [e.request_id for e in leased] == ["r-a", "r-b"]
    assert await events.lease_due("f", now=200.0, limit=10) == []  # held
    assert await events.depth("f") == 2  # in flight still counts


async def test_lease_respects_limit_and_due_time(events: AsyncEventStore) -> None:
    for i in range(5):
        await events.add("f", f"r{i}", b"{}", 100.0 + i, leased=False)
    assert len(await events.lease_due("f", now=102.0, limit=10)) == 3
    assert len(await events.lease_due("f", now=1000.0, limit=1)) == 1
    assert await events.next_due("f") == 104.0


async def test_leased_on_add_is_not_leased_again(events: AsyncEventStore) -> None:
    await events.add("f", "r", b"{}", 100.0, leased=True)
    assert await events.lease_due("f", now=1000.0, limit=10) == []
    assert await events.next_due("f") is None


async def test_retry_later_releases_and_reschedules(events: AsyncEventStore) -> None:
    event = await events.add("f", "r", b"{}", 100.0, leased=True)
    await events.retry_later(event.id, 160.0, 1, 0, b'{"errorType":"E"}')
    assert await events.next_due("f") == 160.0
    assert await events.lease_due("f", now=159.0, limit=1) == []
    (again,) = await events.lease_due("f", now=160.0, limit=1)
    assert again.attempts == 1
    assert again.last_response == b'{"errorType":"E"}'
    assert again.accepted_at == 100.0  # age counts from acceptance
    await events.retry_later(again.id, 170.0, 2, 0, None)  # None keeps the last response
    (third,) = await events.lease_due("f", now=170.0, limit=1)
    assert third.attempts == 2
    assert third.last_response == b'{"errorType":"E"}'


async def test_remove(events: AsyncEventStore) -> None:
    event = await events.add("f", "r", b"{}", 100.0, leased=True)
    await events.remove(event.id)
    assert await events.depth("f") == 0


async def test_leases_are_released_when_reopened(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with Store(path) as store:
        table = AsyncEventStore(store)
        await table.open()
        await table.add("f", "held-when-killed", b"{}", 100.0, leased=True)
        await table.add("f", "leased-later", b"{}", 100.0, leased=False)
        assert len(await table.lease_due("f", now=100.0, limit=10)) == 1
    async with Store(path) as store:
        table = AsyncEventStore(store)
        await table.open()
        leased = await table.lease_due("f", now=100.0, limit=10)
        assert sorted(e.request_id for e in leased) == ["held-when-killed", "leased-later"]
