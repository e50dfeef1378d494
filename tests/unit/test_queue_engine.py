"""The queue engine against an in-memory queue: batching, concurrency, failures, FIFO, stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from eventhub.mapping import queue as queue_module
from eventhub.mapping.filters import FilterSet
from eventhub.mapping.queue import QueueMapping, QueueMappingSettings
from eventhub.mapping.queue_format import SqsFormat
from tests.support.fake_queue import FakeQueue, ScriptedFunction

ARN = "arn:aws:sqs:us-east-1:000000000000:fake"


_RUNS: list[asyncio.Task[None]] = []


async def until(predicate: Callable[[], Any], what: str = "condition") -> None:
    """Yield to the loop until ``predicate()`` holds (a guard, not a timing assertion); a
    mapping that died meanwhile fails the test with its error."""
    for _ in range(5000):
        if predicate():
            return
        for task in _RUNS:
            if task.done():
                task.result()
                raise AssertionError("the mapping stopped on its own")
        await asyncio.sleep(0.002)
    raise AssertionError(f"never happened: {what}")


@contextlib.asynccontextmanager
async def running(
    queue: FakeQueue,
    function: ScriptedFunction,
    *,
    filters: list[dict[str, Any]] | None = None,
    grace: float = 5.0,
    **settings: Any,
) -> AsyncIterator[QueueMapping]:
    settings.setdefault("long_poll", 0.05)
    sink = settings.pop("sink", None)
    mapping = QueueMapping(
        queue,
        SqsFormat(ARN, "us-east-1", FilterSet(filters or [])),
        function,
        QueueMappingSettings(**settings),
        dead_letter_sink=sink,
    )
    task = asyncio.create_task(mapping.run())
    _RUNS[:] = [task]
    try:
        yield mapping
    finally:
        await mapping.stop(grace)
        await task


def fail_bodies(*bad: str) -> Callable[[dict[str, Any]], Any]:
    def behaviour(event: dict[str, Any]) -> Any:
        if any(r["body"] in bad for r in event["Records"]):
            raise ValueError("bad message")
        return None

    return behaviour


async def test_every_message_is_handled_and_deleted() -> None:
    queue = FakeQueue()
    queue.put_many([f"m{i}" for i in range(25)])
    function = ScriptedFunction()
    async with running(queue, function, batch_size=10) as mapping:
        await until(lambda: len(queue.deleted) == 25)
    assert sorted(function.bodies()) == sorted(f"m{i}" for i in range(25))
    assert all(len(e["Records"]) <= 10 for e in function.events)
    assert queue.messages == []
    stats = mapping.statistics()
    assert stats.received == 25
    assert stats.deleted == 25
    assert stats.batches_in_flight == 0


async def test_records_have_the_sqs_shape() -> None:
    queue = FakeQueue()
    queue.put("hello")
    function = ScriptedFunction()
    async with running(queue, function):
        await until(lambda: queue.deleted)
    record = function.events[0]["Records"][0]
    assert record["body"] == "hello"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == ARN
    assert record["md5OfBody"] == "5d41402abc4b2a76b9719d911017c592"


async def test_a_failed_batch_is_released_and_retried_until_it_succeeds() -> None:
    queue = FakeQueue()
    queue.put("flaky")
    attempts: list[int] = []

    def behaviour(event: dict[str, Any]) -> None:
        attempts.append(int(event["Records"][0]["attributes"]["ApproximateReceiveCount"]))
        if len(attempts) < 3:
            raise ValueError("not yet")

    async with running(queue, ScriptedFunction(behaviour)) as mapping:
        await until(lambda: queue.deleted)
    assert attempts == [1, 2, 3]
    assert len(queue.released) == 2
    assert mapping.statistics().retried == 2


async def test_poison_message_is_dead_lettered_after_exactly_max_receive_count() -> None:
    queue = FakeQueue()
    poison = queue.put("poison")
    good = queue.put_many([f"ok{i}" for i in range(20)])
    function = ScriptedFunction(fail_bodies("poison"))
    async with running(queue, function, batch_size=1, max_receive_count=4) as mapping:
        await until(lambda: queue.settled == 21)
    assert queue.dead == [poison]
    assert queue.receives[poison] == 4
    assert sorted(queue.deleted) == sorted(good)
    assert mapping.statistics().dead_lettered == 1


async def test_partial_batch_response_releases_only_listed_messages() -> None:
    queue = FakeQueue()
    ids = queue.put_many(["a", "b", "c", "d"])
    calls = 0

    def behaviour(event: dict[str, Any]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            failed = [r["messageId"] for r in event["Records"] if r["body"] in ("b", "d")]
            return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
        return {"batchItemFailures": []}

    function = ScriptedFunction(behaviour)
    async with running(queue, function, report_batch_item_failures=True):
        await until(lambda: len(queue.deleted) == 4)
    assert queue.deleted[:2] == [ids[0], ids[2]]
    assert sorted(queue.released) == sorted([ids[1], ids[3]])
    assert [r["body"] for r in function.events[1]["Records"]] == ["b", "d"]


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"wrong": "key"}]},
        {"batchItemFailures": "nope"},
    ],
)
async def test_malformed_partial_response_fails_the_whole_batch(response: Any) -> None:
    queue = FakeQueue()
    queue.put_many(["a", "b"])
    responses = [response]
    function = ScriptedFunction(lambda e: responses.pop() if responses else None)
    async with running(queue, function, report_batch_item_failures=True):
        await until(lambda: len(queue.deleted) == 2)
    assert len(queue.released) == 2
    assert len(function.events) == 2


async def test_batch_item_failures_are_ignored_unless_enabled() -> None:
    queue = FakeQueue()
    queue.put_many(["a", "b"])

    def behaviour(event: dict[str, Any]) -> Any:
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}

    async with running(queue, ScriptedFunction(behaviour)):
        await until(lambda: len(queue.deleted) == 2)
    assert queue.released == []


async def test_filtered_out_messages_are_deleted_without_invoking() -> None:
    queue = FakeQueue()
    queue.put('{"kind": "order", "n": 1}')
    queue.put('{"kind": "noise"}')
    queue.put("plain text")
    function = ScriptedFunction()
    filters = [{"body": {"kind": ["order"]}}]
    async with running(queue, function, filters=filters) as mapping:
        await until(lambda: len(queue.deleted) == 3)
    assert function.bodies() == ['{"kind": "order", "n": 1}']
    assert mapping.statistics().filtered == 2


async def test_a_batch_of_only_filtered_messages_invokes_nothing() -> None:
    queue = FakeQueue()
    queue.put("x")
    function = ScriptedFunction()
    async with running(queue, function, filters=[{"body": ["y"]}]):
        await until(lambda: queue.deleted)
    assert function.events == []


async def test_max_concurrency_batches_really_run_at_once() -> None:
    queue = FakeQueue()
    queue.put_many([f"m{i}" for i in range(12)])
    barrier = asyncio.Barrier(4)

    async def behaviour(event: dict[str, Any]) -> None:
        if len(function.events) <= 4:  # the first four must meet, or this never returns
            await asyncio.wait_for(barrier.wait(), 10)

    function = ScriptedFunction(behaviour)
    async with running(queue, function, batch_size=1, max_concurrency=4):
        await until(lambda: len(queue.deleted) == 12)
    assert function.most_running == 4


async def test_a_slow_batch_does_not_block_the_others() -> None:
    queue = FakeQueue()
    queue.put("slow")
    queue.put_many([f"m{i}" for i in range(10)])
    release = asyncio.Event()

    async def behaviour(event: dict[str, Any]) -> None:
        if event["Records"][0]["body"] == "slow":
            await release.wait()

    async with running(queue, ScriptedFunction(behaviour), batch_size=1, max_concurrency=2):
        await until(lambda: len(queue.deleted) == 10, "others done while slow runs")
        release.set()
        await until(lambda: len(queue.deleted) == 11)


async def test_batch_window_gathers_up_to_batch_size() -> None:
    queue = FakeQueue()
    function = ScriptedFunction()
    async with running(queue, function, batch_size=3, batch_window=30, max_concurrency=2):
        for body in ("a", "b", "c"):
            queue.put(body)
            await asyncio.sleep(0)
        await until(lambda: len(queue.deleted) == 3)
    assert [len(e["Records"]) for e in function.events] == [3]


async def test_without_a_window_a_batch_is_what_is_there() -> None:
    queue = FakeQueue()
    queue.put("a")
    gate = asyncio.Event()

    async def behaviour(event: dict[str, Any]) -> None:
        if len(function.events) == 1:
            queue.put("b")
            await gate.wait()

    function = ScriptedFunction(behaviour)
    async with running(queue, function, batch_size=10, max_concurrency=2):
        await until(lambda: len(function.events) == 2)
        gate.set()
        await until(lambda: len(queue.deleted) == 2)
    assert [len(e["Records"]) for e in function.events] == [1, 1]


async def test_fifo_keeps_group_order_and_a_failing_group_blocks_only_itself() -> None:
    queue = FakeQueue(fifo=True)
    body_of = {}
    for i in range(5):
        body_of[queue.put(f"a{i}", group_id="A")] = f"a{i}"
        body_of[queue.put(f"b{i}", group_id="B")] = f"b{i}"
    failures = {"a1": 2}  # a1 fails twice, then succeeds

    def behaviour(event: dict[str, Any]) -> Any:
        failed = []
        for record in event["Records"]:
            if failures.get(record["body"], 0) > 0:
                failures[record["body"]] -= 1
                failed.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failed}

    function = ScriptedFunction(behaviour)
    async with running(
        queue, function, batch_size=2, max_concurrency=3, report_batch_item_failures=True
    ):
        await until(lambda: len(queue.deleted) == 10)
    seen_b = [b for b in function.bodies() if b.startswith("b")]
    assert seen_b == [f"b{i}" for i in range(5)]  # B never waited for A's retries
    assert function.bodies().count("a1") == 3
    deleted = [body_of[i] for i in queue.deleted]
    assert [b for b in deleted if b.startswith("a")] == [f"a{i}" for i in range(5)]


async def test_fifo_partial_failure_also_fails_later_messages_of_the_group() -> None:
    queue = FakeQueue(fifo=True)
    queue.put("a0", group_id="A")
    queue.put("a1", group_id="A")
    queue.put("b0", group_id="B")
    answers = []

    def behaviour(event: dict[str, Any]) -> Any:
        answers.append([r["body"] for r in event["Records"]])
        if len(answers) == 1:
            first = event["Records"][0]["messageId"]
            return {"batchItemFailures": [{"itemIdentifier": first}]}
        return None

    async with running(queue, ScriptedFunction(behaviour), report_batch_item_failures=True):
        await until(lambda: len(queue.deleted) == 3)
    assert answers[0] == ["a0", "a1", "b0"]
    assert answers[1] == ["a0", "a1"]


async def test_stop_waits_for_batches_in_flight_within_grace() -> None:
    queue = FakeQueue()
    queue.put("m")
    started = asyncio.Event()

    async def behaviour(event: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(0.05)

    async with running(queue, ScriptedFunction(behaviour), grace=10):
        await started.wait()
    assert queue.deleted
    assert queue.abandoned == []


async def test_stop_abandons_batches_that_outlive_the_grace() -> None:
    queue = FakeQueue()
    queue.put("hang")
    started = asyncio.Event()

    async def behaviour(event: dict[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    async with running(queue, ScriptedFunction(behaviour), grace=0.01):
        await started.wait()
    assert queue.deleted == []
    assert len(queue.abandoned) == 1
    assert not queue.messages[0].in_flight


async def test_brokers_that_redeliver_at_once_get_failures_back_after_a_backoff() -> None:
    queue = FakeQueue(redelivers_at_once=True)
    queue.put("poison")
    function = ScriptedFunction(fail_bodies("poison"))
    async with running(queue, function, max_receive_count=3) as mapping:
        await until(lambda: queue.dead)
    assert queue.receives[queue.dead[0]] == 3
    assert mapping.statistics().retried == 2


async def test_held_messages_are_released_at_stop() -> None:
    queue = FakeQueue(redelivers_at_once=True)
    queue.put("poison")
    function = ScriptedFunction(fail_bodies("poison"))
    queue_module_backoff = 3600.0
    original = queue_module.retry_backoff
    queue_module.retry_backoff = lambda count: queue_module_backoff  # type: ignore[assignment]
    try:
        async with running(queue, function):
            await until(lambda: function.events)
            await until(lambda: queue.messages[0].in_flight and not queue.released)
    finally:
        queue_module.retry_backoff = original
    assert len(queue.released) == 1


async def test_classic_queues_are_counted_by_the_engine() -> None:
    queue = FakeQueue(counts=False, redelivers_at_once=True)
    queue.put("poison", message_id="p-1")
    function = ScriptedFunction(fail_bodies("poison"))
    async with running(queue, function, max_receive_count=3):
        await until(lambda: queue.dead)
    counts = [
        int(e["Records"][0]["attributes"]["ApproximateReceiveCount"]) for e in function.events
    ]
    assert counts == [1, 2, 3]
    assert queue.receives["p-1"] == 3


async def test_dead_letter_sink_gets_the_record_and_the_message_is_deleted() -> None:
    queue = FakeQueue()
    queue.put("poison")
    sent: list[dict[str, Any]] = []

    async def sink(record: dict[str, Any]) -> bool:
        sent.append(record)
        return True

    function = ScriptedFunction(fail_bodies("poison"))
    async with running(queue, function, max_receive_count=2, sink=sink):
        await until(lambda: queue.deleted)
    assert [r["body"] for r in sent] == ["poison"]
    assert queue.dead == []


async def test_a_dead_letter_sink_that_fails_keeps_the_message() -> None:
    queue = FakeQueue()
    queue.put("poison")
    tries = 0

    async def sink(record: dict[str, Any]) -> bool:
        nonlocal tries
        tries += 1
        return tries > 1

    function = ScriptedFunction(fail_bodies("poison"))
    async with running(queue, function, max_receive_count=1, sink=sink):
        await until(lambda: queue.deleted)
    assert tries == 2
    assert len(queue.released) == 1


async def test_a_message_over_the_payload_limit_is_dead_lettered_unseen() -> None:
    queue = FakeQueue()
    queue.put("x" * 5000)
    queue.put("small")
    function = ScriptedFunction()
    async with running(queue, function, max_payload=4000):
        await until(lambda: queue.settled == 2)
    assert function.bodies() == ["small"]
    assert len(queue.dead) == 1


async def test_batches_are_split_to_stay_under_the_payload_limit() -> None:
    queue = FakeQueue()
    queue.put_many(["a" * 1000, "b" * 1000, "c" * 1000])
    function = ScriptedFunction()
    async with running(queue, function, max_payload=4500):
        await until(lambda: len(queue.deleted) == 3)
    assert [len(e["Records"]) for e in function.events] == [2, 1]


async def test_an_unavailable_broker_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_module, "UNAVAILABLE_PAUSE", 0.001)
    queue = FakeQueue(unavailable=3)
    queue.put("m")
    async with running(queue, ScriptedFunction()):
        await until(lambda: queue.deleted)


async def test_a_delete_on_a_lost_channel_is_skipped() -> None:
    queue = FakeQueue(fail_deletes=True)
    queue.put("m")
    function = ScriptedFunction()
    async with running(queue, function) as mapping:
        await until(lambda: function.events)
        await until(lambda: mapping.statistics().batches_in_flight == 0)
    assert queue.deleted == []


async def test_stop_before_run_returns_at_once() -> None:
    mapping = QueueMapping(
        FakeQueue(),
        SqsFormat(ARN, "us-east-1", FilterSet()),
        ScriptedFunction(),
        QueueMappingSettings(),
    )
    await mapping.stop(1)
