"""Event (async) invocation: durable acceptance, retries with backoff, event age,
reserved concurrency, throttles, destinations and their invocation records."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from eventhub.invoke.invoker import FunctionNotFound
from tests.support.daemon import read_jsonl
from tests.support.functions import MiniHub
from tests.support.ports import free_port

# The keys of AWS's async invocation records (reference events
# async-invocation-record-success.json / -failure.json).
REFERENCE_RECORDS = {
    "success": {
        "version": "1.0",
        "timestamp": "2019-11-14T18:16:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200f",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST",
            "condition": "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"ok": True},
    },
    "failure": {
        "version": "1.0",
        "timestamp": "2019-11-14T18:16:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]},
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorMessage": "boom",
            "errorType": "ValueError",
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "stackTrace": ['  File "/var/task/app.py", line 3, in handler\n'],
        },
    },
}

RECORDER = """
import asyncio
SEEN = []

async def handler(event, context):
    SEEN.append((event, context.aws_request_id))
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError("boom " + str(event.get("n", "")))
    return {"ok": event}
"""

GATED = """
import asyncio
GATE = asyncio.Event()
SEEN = []

async def handler(event, context):
    SEEN.append(event)
    await GATE.wait()
    return event
"""

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await asyncio.sleep(0.005)


async def until_async(predicate: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await asyncio.sleep(0.005)


@pytest.fixture
async def make_hub(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[MiniHub]]]:
    hubs: list[MiniHub] = []

    async def make(
        functions: dict[str, dict[str, Any]],
        sources: dict[str, str],
        *,
        clock: Callable[[], float] = time.time,
        dispatch: bool = True,
    ) -> MiniHub:
        hub = MiniHub(tmp_path, functions, sources, clock)
        await hub.start()
        hubs.append(hub)
        if dispatch:
            hub.start_dispatchers()
        return hub

    with capture_logs():
        yield make
        for hub in hubs:
            await hub.aclose()


def shape(value: Any) -> Any:
    """The key structure of a record (values other than objects are not compared)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__ if isinstance(value, list) else None


def assert_record_shape(record: dict[str, Any], reference: str) -> None:
    expected = REFERENCE_RECORDS[reference]
    assert set(record) == set(expected)
    assert shape(record["requestContext"]) == shape(expected["requestContext"])
    assert set(record["responseContext"]) == set(expected["responseContext"])
    assert record["version"] == "1.0"
    assert TIMESTAMP.match(record["timestamp"]), record["timestamp"]
    assert record["requestContext"]["functionArn"].endswith(":$LATEST")
    assert record["responseContext"]["statusCode"] == 200
    assert record["responseContext"]["executedVersion"] == "$LATEST"


async def _empty(hub: MiniHub, function: str) -> bool:
    return await hub.events.depth(function) == 0


def _loaded(hub: MiniHub, function: str) -> bool:
    # Imports run in a thread: a module is in sys.modules before it finished executing.
    return hasattr(sys.modules.get(hub.module_names[function]), "handler")


def seen(hub: MiniHub, function: str) -> list[Any]:
    """What the function's handler was called with (empty if it was never imported)."""
    return hub.module(function).SEEN if _loaded(hub, function) else []


# -- success and failure ---------------------------------------------------------------


async def test_success_goes_to_on_success_with_the_invocation_record(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    hub = await make_hub({"f": {"async": {"on_success": "file:out/ok.jsonl"}}}, {"f": RECORDER})
    request_id = await hub.invoker.enqueue("f", b'{"order": 1}')
    records = await until(lambda: read_jsonl(tmp_path / "out" / "ok.jsonl"))
    (record,) = records
    assert_record_shape(record, "success")
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"order": 1}
    assert record["responsePayload"] == {"ok": {"order": 1}}
    assert "functionError" not in record["responseContext"]
    assert seen(hub, "f") == [({"order": 1}, request_id)]
    await until_async(lambda: _empty(hub, "f"))


async def test_failure_is_retried_then_sent_to_on_failure(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    hub = await make_hub(
        {
            "f": {
                "async": {
                    "max_retry_attempts": 2,
                    "retry_base_delay": 0,
                    "on_failure": "file:out/failed.jsonl",
                    "on_success": "file:out/ok.jsonl",
                }
            }
        },
        {"f": RECORDER},
    )
    request_id = await hub.invoker.enqueue("f", b'{"fail": true, "n": 1}')
    (record,) = await until(lambda: read_jsonl(tmp_path / "out" / "failed.jsonl"))
    assert_record_shape(record, "failure")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["requestId"] == request_id
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["requestPayload"] == {"fail": True, "n": 1}
    error = record["responsePayload"]
    assert set(error) == {"errorMessage", "errorType", "stackTrace", "requestId"}
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom 1")
    # Three attempts, all with the event's request id (as Lambda retries keep it).
    assert [rid for _, rid in seen(hub, "f")] == [request_id] * 3
    assert not (tmp_path / "out" / "ok.jsonl").exists()
    await until_async(lambda: _empty(hub, "f"))
    dropped = hub.metrics.registry.get_sample_value(
        "eventhub_async_events_dropped_total", {"function": "f", "reason": "RetriesExhausted"}
    )
    assert dropped == 1


@pytest.mark.parametrize("retries", [0, 1])
async def test_max_retry_attempts_is_honoured(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path, retries: int
) -> None:
    hub = await make_hub(
        {
            "f": {
                "async": {
                    "max_retry_attempts": retries,
                    "retry_base_delay": 0,
                    "on_failure": "file:out/failed.jsonl",
                }
            }
        },
        {"f": RECORDER},
    )
    await hub.invoker.enqueue("f", b'{"fail": true}')
    (record,) = await until(lambda: read_jsonl(tmp_path / "out" / "failed.jsonl"))
    assert record["requestContext"]["approximateInvokeCount"] == retries + 1
    assert len(seen(hub, "f")) == retries + 1


async def test_retries_back_off_from_the_base_delay(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    clock = FakeClock()
    start = clock.now
    hub = await make_hub(
        {
            "f": {
                "async": {
                    "max_retry_attempts": 2,
                    "retry_base_delay": 60,
                    "on_failure": "file:out/failed.jsonl",
                }
            }
        },
        {"f": RECORDER},
        clock=clock,
    )
    await hub.invoker.enqueue("f", b'{"fail": true}')
    await until(lambda: len(seen(hub, "f")) == 1)
    assert await until_async(lambda: hub.events.next_due("f")) == start + 60
    clock.now = start + 59
    await hub.restart(clock)  # a fresh dispatcher looks at the store: not due yet
    assert await hub.events.next_due("f") == start + 60
    assert len(seen(hub, "f")) == 1
    clock.now = start + 60
    await hub.restart(clock)
    await until(lambda: len(seen(hub, "f")) == 2)
    assert await until_async(lambda: hub.events.next_due("f")) == start + 60 + 120
    clock.now = start + 180
    await hub.restart(clock)
    (record,) = await until(lambda: read_jsonl(tmp_path / "out" / "failed.jsonl"))
    assert record["requestContext"]["approximateInvokeCount"] == 3


async def test_event_older_than_max_event_age_is_never_invoked(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    clock = FakeClock()
    hub = await make_hub(
        {"f": {"async": {"max_event_age": 60, "on_failure": "file:out/failed.jsonl"}}},
        {"f": RECORDER},
        clock=clock,
        dispatch=False,
    )
    await hub.events.add("f", "old-one", b'{"n": 1}', clock.now - 61, leased=False)
    hub.start_dispatchers()
    (record,) = await until(lambda: read_jsonl(tmp_path / "out" / "failed.jsonl"))
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestContext"]["requestId"] == "old-one"
    assert record["requestPayload"] == {"n": 1}
    assert record["responsePayload"] is None
    assert seen(hub, "f") == []


async def test_event_that_ages_out_between_retries(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    clock = FakeClock()
    hub = await make_hub(
        {
            "f": {
                "async": {
                    "max_event_age": 60,
                    "retry_base_delay": 50,
                    "on_failure": "file:out/failed.jsonl",
                }
            }
        },
        {"f": RECORDER},
        clock=clock,
    )
    await hub.invoker.enqueue("f", b'{"fail": true, "n": 2}')
    await until(lambda: len(seen(hub, "f")) == 1)
    await until_async(lambda: hub.events.next_due("f"))
    clock.now += 61
    await hub.restart(clock)
    (record,) = await until(lambda: read_jsonl(tmp_path / "out" / "failed.jsonl"))
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "boom 2"
    assert len(seen(hub, "f")) == 1  # not invoked again after the restart


async def test_reserved_concurrency_zero_goes_straight_to_on_failure(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    hub = await make_hub(
        {
            "f": {
                "reserved_concurrency": 0,
                "async": {"retry_base_delay": 0, "on_failure": "file:out/failed.jsonl"},
            }
        },
        {"f": RECORDER},
    )
    await hub.invoker.enqueue("f", b'{"n": 3}')
    (record,) = await until(lambda: read_jsonl(tmp_path / "out" / "failed.jsonl"))
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestPayload"] == {"n": 3}
    assert seen(hub, "f") == []


async def test_throttled_events_wait_instead_of_using_retries(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    hub = await make_hub(
        {
            "f": {
                "reserved_concurrency": 1,
                "async": {
                    "max_retry_attempts": 0,
                    "retry_base_delay": 0,
                    "on_success": "file:out/ok.jsonl",
                    "on_failure": "file:out/failed.jsonl",
                },
            }
        },
        {"f": GATED},
    )
    for n in range(4):
        await hub.invoker.enqueue("f", json.dumps(n).encode())
    await until(lambda: _loaded(hub, "f"))
    module = hub.module("f")
    await until(lambda: len(module.SEEN) == 1)
    runtime = hub.invoker.get("f")
    assert runtime.running == 1
    module.GATE.set()
    records = await until(
        lambda: (
            len(read_jsonl(tmp_path / "out" / "ok.jsonl")) == 4
            and read_jsonl(tmp_path / "out" / "ok.jsonl")
        )
    )
    assert sorted(r["requestPayload"] for r in records) == [0, 1, 2, 3]
    assert {r["requestContext"]["approximateInvokeCount"] for r in records} == {1}
    assert not (tmp_path / "out" / "failed.jsonl").exists()


async def test_an_event_throttled_until_it_is_too_old_goes_to_on_failure(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    clock = FakeClock()
    hub = await make_hub(
        {
            "f": {
                "reserved_concurrency": 1,
                "async": {"max_event_age": 60, "on_failure": "file:out/failed.jsonl"},
            }
        },
        {"f": GATED},
        clock=clock,
        dispatch=False,
    )
    holder = asyncio.create_task(hub.invoker.invoke("f", "holds the only slot"))
    await until(lambda: _loaded(hub, "f") and len(hub.module("f").SEEN) == 1)
    # 59.8 s old: it may wait for the slot 0.2 s more, then it is past max_event_age
    await hub.events.add(
        "f", "aging", b'"too old when a slot frees"', clock.now - 59.8, leased=False
    )
    hub.start_dispatchers()
    (record,) = await until(lambda: read_jsonl(tmp_path / "out" / "failed.jsonl"))
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestPayload"] == "too old when a slot frees"
    assert hub.module("f").SEEN == ["holds the only slot"]  # the old event never ran
    hub.module("f").GATE.set()
    await holder


async def test_events_accepted_before_the_dispatcher_runs_are_delivered(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    hub = await make_hub(
        {"f": {"async": {"on_success": "file:out/ok.jsonl"}}}, {"f": RECORDER}, dispatch=False
    )
    ids = [await hub.invoker.enqueue("f", json.dumps({"n": n}).encode()) for n in range(3)]
    assert await hub.events.depth("f") == 3
    hub.start_dispatchers()
    records = await until(
        lambda: (
            len(read_jsonl(tmp_path / "out" / "ok.jsonl")) == 3
            and read_jsonl(tmp_path / "out" / "ok.jsonl")
        )
    )
    assert sorted(r["requestContext"]["requestId"] for r in records) == sorted(ids)


async def test_in_flight_events_are_delivered_again_after_a_restart(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    hub = await make_hub({"f": {"async": {"on_success": "file:out/ok.jsonl"}}}, {"f": GATED})
    request_id = await hub.invoker.enqueue("f", b'"held"')
    await until(lambda: seen(hub, "f") == ["held"])
    await hub.restart()  # the invocation is abandoned mid-way: its lease is released
    await until(lambda: _loaded(hub, "f"))
    hub.module("f").GATE.set()
    (record,) = await until(lambda: read_jsonl(tmp_path / "out" / "ok.jsonl"))
    assert record["requestContext"]["requestId"] == request_id


async def test_enqueue_unknown_function_raises(
    make_hub: Callable[..., Awaitable[MiniHub]],
) -> None:
    hub = await make_hub({"f": {}}, {"f": RECORDER})
    with pytest.raises(FunctionNotFound):
        await hub.invoker.enqueue("nope", b"{}")


async def test_stop_waits_for_in_flight_events_within_grace(
    make_hub: Callable[..., Awaitable[MiniHub]], tmp_path: Path
) -> None:
    hub = await make_hub({"f": {"async": {"on_success": "file:out/ok.jsonl"}}}, {"f": GATED})
    await hub.invoker.enqueue("f", b'"x"')
    await until(lambda: seen(hub, "f") == ["x"])
    dispatcher, _ = hub.dispatchers["f"]
    stopping = asyncio.create_task(dispatcher.stop(grace=30))
    await asyncio.sleep(0.01)
    assert not stopping.done()
    hub.module("f").GATE.set()
    await stopping
    assert len(read_jsonl(tmp_path / "out" / "ok.jsonl")) == 1
    assert await hub.events.depth("f") == 0


# -- destinations ----------------------------------------------------------------------


async def test_function_destination_receives_the_record_as_an_event(
    make_hub: Callable[..., Awaitable[MiniHub]],
) -> None:
    hub = await make_hub(
        {
            "f": {
                "async": {
                    "max_retry_attempts": 0,
                    "on_failure": "function:audit",
                    "on_success": "function:audit",
                }
            },
            "audit": {},
        },
        {"f": RECORDER, "audit": RECORDER},
    )
    ok_id = await hub.invoker.enqueue("f", b'{"n": 1}')
    failed_id = await hub.invoker.enqueue("f", b'{"fail": true}')
    await until(lambda: len(seen(hub, "audit")) == 2)
    records = {e["requestContext"]["requestId"]: e for e, _ in seen(hub, "audit")}
    assert records[ok_id]["requestContext"]["condition"] == "Success"
    assert records[failed_id]["requestContext"]["condition"] == "RetriesExhausted"
    assert records[failed_id]["responsePayload"]["errorType"] == "ValueError"
    assert_record_shape(records[ok_id], "success")
    assert_record_shape(records[failed_id], "failure")


async def test_http_destination_receives_the_record_as_a_post(
    make_hub: Callable[..., Awaitable[MiniHub]],
) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        hub = await make_hub(
            {"f": {"async": {"on_success": f"http://127.0.0.1:{port}/hook"}}}, {"f": RECORDER}
        )
        request_id = await hub.invoker.enqueue("f", b'{"n": 9}')
        (record,) = await until(lambda: received)
        assert record["requestContext"]["requestId"] == request_id
        assert record["requestPayload"] == {"n": 9}
        assert_record_shape(record, "success")
    finally:
        await runner.cleanup()
