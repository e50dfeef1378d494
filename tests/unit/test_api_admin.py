"""The admin listener: health, readiness, Prometheus metrics, the function list."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from eventhub.daemon import _listen_error
from eventhub.hub import ListenError
from tests.support.functions import InProcessHub

HANDLER = """
def handler(event, context):
    if event.get("fail"):
        raise KeyError("missing")
    return "ok"
"""


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[InProcessHub]:
    running = InProcessHub(
        tmp_path,
        {
            "orders": {"timeout": 5, "memory_mb": 256, "description": "takes orders"},
            "off": {"reserved_concurrency": 0},
        },
        {"orders": HANDLER, "off": HANDLER},
    )
    with capture_logs():
        await running.start()
        yield running
        await running.aclose()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, bytes]:
    async with session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.read()


async def invoke(session: aiohttp.ClientSession, hub: InProcessHub, name: str, body: str) -> int:
    url = f"{hub.url}/2015-03-31/functions/{name}/invocations"
    async with session.post(url, data=body) as response:
        await response.read()
        return response.status


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_health_and_ready(hub: InProcessHub, session: aiohttp.ClientSession) -> None:
    status, content_type, body = await get(session, f"{hub.admin_url}/health")
    assert status == 200
    assert content_type.startswith("application/json")
    assert body == b'{"status": "ok"}'
    status, _, body = await get(session, f"{hub.admin_url}/ready")
    assert status == 200
    assert b'"ready"' in body


async def test_functions_lists_every_function(
    hub: InProcessHub, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{hub.admin_url}/functions") as response:
        assert response.status == 200
        functions = {f["name"]: f for f in (await response.json())["functions"]}
    assert set(functions) == {"orders", "off"}
    orders = functions["orders"]
    assert orders["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:orders"
    assert orders["handler"].endswith(":handler")
    assert orders["runtime"] == "inline"
    assert orders["timeout"] == 5
    assert orders["memory_mb"] == 256
    assert orders["reserved_concurrency"] is None
    assert orders["running"] == 0
    assert orders["description"] == "takes orders"
    assert functions["off"]["reserved_concurrency"] == 0


async def test_metrics_move_as_invocations_happen(
    hub: InProcessHub, session: aiohttp.ClientSession
) -> None:
    status, content_type, body = await get(session, f"{hub.admin_url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    before = samples(body.decode())
    assert value(before, "eventhub_invocations_total", function="orders") == 0
    assert await invoke(session, hub, "orders", "{}") == 200
    assert await invoke(session, hub, "orders", "{}") == 200
    assert await invoke(session, hub, "orders", '{"fail": true}') == 200
    assert await invoke(session, hub, "off", "{}") == 429
    assert await invoke(session, hub, "orders", "{}") == 200
    _, _, body = await get(session, f"{hub.admin_url}/metrics")
    after = samples(body.decode())
    assert value(after, "eventhub_invocations_total", function="orders") == 4
    assert value(after, "eventhub_errors_total", function="orders", error_type="KeyError") == 1
    assert value(after, "eventhub_throttles_total", function="off") == 1
    assert value(after, "eventhub_duration_seconds_count", function="orders") == 4
    assert value(after, "eventhub_concurrent_executions", function="orders") == 0
    text = body.decode()
    assert re.search(r"^# TYPE eventhub_invocations_total counter$", text, re.M)


async def test_async_metrics(hub: InProcessHub, session: aiohttp.ClientSession) -> None:
    url = f"{hub.url}/2015-03-31/functions/orders/invocations"
    async with session.post(url, data="{}", headers={"X-Amz-Invocation-Type": "Event"}) as r:
        assert r.status == 202
    _, _, body = await get(session, f"{hub.admin_url}/metrics")
    found = samples(body.decode())
    assert value(found, "eventhub_async_events_received_total", function="orders") == 1


async def test_unknown_admin_path_is_json_404(
    hub: InProcessHub, session: aiohttp.ClientSession
) -> None:
    status, content_type, body = await get(session, f"{hub.admin_url}/nope")
    assert status == 404
    assert content_type.startswith("application/json")
    assert b"Traceback" not in body


async def test_sources_is_empty_without_sources(
    hub: InProcessHub, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{hub.admin_url}/sources") as response:
        assert response.status == 200
        assert await response.json() == {"sources": []}
    async with session.post(f"{hub.admin_url}/sources/nope/enable") as response:
        assert response.status == 404
        assert (await response.json())["__type"] == "ResourceNotFoundException"


async def test_hub_that_cannot_bind_fails_with_listen_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        running = InProcessHub(tmp_path, {"f": {}}, {"f": HANDLER}, hub={"admin_listen": address})
        with capture_logs(), pytest.raises(BaseExceptionGroup) as raised:
            await running.start()
    error = _listen_error(raised.value)
    assert isinstance(error, ListenError)
    assert str(error) == f"cannot listen on {address} (hub.admin_listen): address already in use"
    assert running.hub._runners == []  # the main listener it had opened is closed again
