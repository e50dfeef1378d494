"""Reserved concurrency and the Limiter behind it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from eventhub.runtime.concurrency import Limiter
from eventhub.runtime.errors import Throttled
from tests.support.functions import Functions, process_hooks

GATED = """
import asyncio
GATE = asyncio.Event()
STATE = {"running": 0, "peak": 0}

async def handler(event, context):
    STATE["running"] += 1
    STATE["peak"] = max(STATE["peak"], STATE["running"])
    try:
        await GATE.wait()
    finally:
        STATE["running"] -= 1
    return event
"""


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with process_hooks(monkeypatch), capture_logs():
        yield


@pytest.fixture
async def functions(tmp_path: Path, hooks: None) -> AsyncIterator[Functions]:
    made = Functions(tmp_path)
    yield made
    await made.aclose()


async def settle(condition: Any, rounds: int = 5000) -> None:
    """Let the loop (and the import thread) run until ``condition()`` holds."""
    for i in range(rounds):
        if condition():
            return
        await asyncio.sleep(0 if i < 100 else 0.001)
    raise AssertionError("condition never held")


def handler_module(functions: Functions) -> Any:
    """The handler's module once its import finished (None while it runs)."""
    module = sys.modules.get(functions.modules[-1])
    return module if hasattr(module, "GATE") else None


def throttles(functions: Functions, name: str) -> float:
    return (
        functions.metrics.registry.get_sample_value("eventhub_throttles_total", {"function": name})
        or 0.0
    )


async def test_reserved_concurrency_zero_throttles_every_sync_invoke(
    functions: Functions,
) -> None:
    runtime = functions.runtime("def handler(event, context):\n    return 1\n", reserved=0)
    for _ in range(2):
        with pytest.raises(Throttled) as raised:
            await runtime.invoke({})
        assert raised.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert throttles(functions, runtime.name) == 2
    assert runtime.running == 0


async def test_cap_of_n_runs_exactly_n_and_throttles_the_next_sync_call(
    functions: Functions,
) -> None:
    runtime = functions.runtime(GATED, reserved=2)
    first = asyncio.create_task(runtime.invoke("a"))
    second = asyncio.create_task(runtime.invoke("b"))
    await settle(lambda: runtime.running == 2 and handler_module(functions) is not None)
    state = handler_module(functions).STATE
    await settle(lambda: state["running"] == 2)
    with pytest.raises(Throttled) as raised:
        await runtime.invoke("c")
    assert raised.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    # Callers that may wait (async events, polled batches) queue instead.
    queued = asyncio.create_task(runtime.invoke("d", wait=True))
    await settle(lambda: len(runtime.limiter._waiters) == 1)
    assert not queued.done()
    assert runtime.limiter.in_use == 2
    # While someone is queued, a sync call does not jump the queue.
    with pytest.raises(Throttled):
        await runtime.invoke("e")
    handler_module(functions).GATE.set()
    results = await asyncio.gather(first, second, queued)
    assert [r.value for r in results] == ["a", "b", "d"]
    assert state["peak"] == 2
    assert runtime.limiter.in_use == 0
    assert runtime.running == 0
    assert throttles(functions, runtime.name) == 2


async def test_many_waiting_callers_never_exceed_the_cap(functions: Functions) -> None:
    runtime = functions.runtime(GATED, reserved=3)
    tasks = [asyncio.create_task(runtime.invoke(i, wait=True)) for i in range(10)]
    await settle(lambda: handler_module(functions) is not None)
    module = handler_module(functions)
    await settle(lambda: module.STATE["running"] == 3)
    assert runtime.limiter.in_use == 3
    module.GATE.set()
    results = await asyncio.gather(*tasks)
    assert sorted(r.value for r in results) == list(range(10))
    assert module.STATE["peak"] == 3


async def test_shared_pool_throttle_reason(functions: Functions) -> None:
    shared = Limiter(1)
    runtime = functions.runtime(GATED, limiter=shared)
    first = asyncio.create_task(runtime.invoke("a"))
    await settle(lambda: handler_module(functions) is not None)
    module = handler_module(functions)
    await settle(lambda: module.STATE["running"] == 1)
    with pytest.raises(Throttled) as raised:
        await runtime.invoke("b")
    assert raised.value.reason == "ConcurrentInvocationLimitExceeded"
    module.GATE.set()
    await first


async def test_timed_out_invocation_returns_its_slot(functions: Functions) -> None:
    runtime = functions.runtime(
        "import asyncio\nasync def handler(event, context):\n    await asyncio.sleep(30)\n",
        reserved=1,
        timeout=0.01,
    )
    for _ in range(3):
        assert not (await runtime.invoke({})).ok
    assert runtime.limiter.in_use == 0


# -- the Limiter -----------------------------------------------------------------------


async def test_limiter_try_acquire_and_release() -> None:
    limiter = Limiter(2)
    assert limiter.try_acquire()
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    assert limiter.in_use == 2
    limiter.release()
    assert limiter.try_acquire()


async def test_limiter_zero_admits_nobody() -> None:
    limiter = Limiter(0)
    assert not limiter.try_acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await settle(lambda: len(limiter._waiters) == 1)
    assert not waiter.done()
    limiter.resize(1)
    await waiter
    assert limiter.in_use == 1


async def test_limiter_waiters_are_admitted_in_fifo_order() -> None:
    limiter = Limiter(1)
    assert limiter.try_acquire()
    order: list[int] = []

    async def take(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    tasks = [asyncio.create_task(take(i)) for i in range(4)]
    await settle(lambda: len(limiter._waiters) == 4)
    for _ in range(4):
        limiter.release()
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3]


async def test_limiter_resize_up_admits_waiters_and_down_does_not_preempt() -> None:
    limiter = Limiter(1)
    assert limiter.try_acquire()
    tasks = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
    await settle(lambda: len(limiter._waiters) == 3)
    limiter.resize(3)
    await settle(lambda: sum(t.done() for t in tasks) == 2)
    assert limiter.in_use == 3
    limiter.resize(1)  # shrinking takes effect as slots are released
    assert limiter.in_use == 3
    limiter.release()
    limiter.release()
    await asyncio.sleep(0)
    assert sum(t.done() for t in tasks) == 2
    limiter.release()
    await settle(lambda: all(t.done() for t in tasks))
    assert limiter.in_use == 1


async def test_limiter_cancelled_waiter_leaves_the_queue() -> None:
    limiter = Limiter(1)
    assert limiter.try_acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await settle(lambda: len(limiter._waiters) == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not limiter._waiters
    limiter.release()
    assert limiter.in_use == 0
    assert limiter.try_acquire()


async def test_limiter_waiter_cancelled_after_admission_gives_the_slot_back() -> None:
    limiter = Limiter(1)
    assert limiter.try_acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await settle(lambda: len(limiter._waiters) == 1)
    limiter.release()  # admits the waiter...
    waiter.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.in_use == 0
    assert not limiter._waiters


async def test_limiter_cancel_then_release_in_the_same_tick() -> None:
    limiter = Limiter(1)
    assert limiter.try_acquire()
    waiter = asyncio.create_task(limiter.acquire())
    follower = asyncio.create_task(limiter.acquire())
    await settle(lambda: len(limiter._waiters) == 2)
    waiter.cancel()  # its future is cancelled now; the task runs its except later
    limiter.release()  # must skip the cancelled waiter and admit the follower
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await follower
    assert limiter.in_use == 1
    assert not limiter._waiters
