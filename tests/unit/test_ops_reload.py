"""Reload logic: which sources a new configuration restarts, functions replaced while calls
wait for concurrency, destinations of a changed connection, enable/disable races."""

from __future__ import annotations

import asyncio
import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from eventhub import registry
from eventhub.config.loader import LoadedConfig, load_config
from eventhub.hub import Hub
from eventhub.invoke.destinations import DestinationContext, DestinationPool
from eventhub.signatures import source_signature
from eventhub.sources import SourceStatus
from eventhub.supervisor import Supervisor
from tests.support.functions import InProcessHub, MiniHub, process_hooks

BASE: dict[str, Any] = {
    "version": 1,
    "connections": {
        "kafka-main": {"type": "kafka", "bootstrap_servers": "127.0.0.1:9092"},
        "rabbit": {"type": "rabbitmq", "url": "amqp://guest:guest@127.0.0.1:5672/"},
    },
    "streams": {"clicks": {"shards": 2}},
    "queues": {"jobs": {"visibility_timeout": 30}},
    "functions": {"f": {"handler": "m:handler"}, "g": {"handler": "m:handler"}},
    "sources": {
        "clicks-in": {"type": "stream", "stream": "clicks", "function": "f"},
        "orders-in": {
            "type": "kafka",
            "connection": "kafka-main",
            "topics": ["o"],
            "function": "f",
        },
        "jobs-in": {"type": "queue", "queue": "jobs", "function": "f"},
        "tasks-in": {"type": "rabbitmq", "connection": "rabbit", "queue": "tasks", "function": "f"},
        "api": {"type": "http", "route": "POST /orders", "function": "f"},
        "uploads": {"type": "files", "root": "buckets", "bucket": "uploads", "function": "f"},
        "nightly": {"type": "schedule", "expression": "rate(1 hour)", "function": "f"},
    },
}


def loaded(tmp_path: Path, edit: Any = None) -> LoadedConfig:
    config = copy.deepcopy(BASE)
    if edit is not None:
        edit(config)
    path = tmp_path / "eventhub.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_config(path)


def restarted(tmp_path: Path, edit: Any) -> set[str]:
    """The sources whose signature differs after ``edit``."""
    old, new = loaded(tmp_path), loaded(tmp_path, edit)
    return {
        name
        for name in BASE["sources"]
        if source_signature(old, name) != source_signature(new, name)
    }


def test_an_identical_file_restarts_nothing(tmp_path: Path) -> None:
    assert restarted(tmp_path, lambda c: None) == set()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # settings read live or not read by sources at all: nothing restarts
        (lambda c: c["functions"]["f"].update(environment={"A": "1"}, timeout=9), set()),
        (lambda c: c["queues"]["jobs"].update(visibility_timeout=60), set()),
        (lambda c: c["streams"]["clicks"].update(retention_hours=48), set()),
        (lambda c: c["sources"]["api"].update(description="the order API"), set()),
        (lambda c: c.setdefault("hub", {}).update(shutdown_grace=7, log_level="debug"), set()),
        (lambda c: c.setdefault("hub", {}).update(state_dir="elsewhere"), set()),
        (lambda c: c["queues"].update(other={}), set()),
        # what an instance reads when it starts: only its own sources restart
        (lambda c: c["streams"]["clicks"].update(shards=4), {"clicks-in"}),
        (lambda c: c["connections"]["kafka-main"].update(client_id="x"), {"orders-in"}),
        (lambda c: c["connections"]["rabbit"].update(heartbeat=5), {"tasks-in"}),
        (lambda c: c["sources"]["jobs-in"].update(batch_size=5), {"jobs-in"}),
        (lambda c: c["sources"]["api"].update(route="POST /v2/orders"), {"api"}),
        (lambda c: c["sources"]["nightly"].update(function="g"), {"nightly"}),
        (lambda c: c["sources"]["uploads"].update(enabled=False), {"uploads"}),
        (
            lambda c: c.setdefault("hub", {}).update(max_sync_payload=1_000_000),
            {"jobs-in", "tasks-in"},
        ),
        # ARNs in every event and record
        (lambda c: c.setdefault("hub", {}).update(region="eu-west-1"), set(BASE["sources"])),
    ],
)
def test_a_source_restarts_when_what_it_read_at_start_changed(
    tmp_path: Path, edit: Any, expected: set[str]
) -> None:
    assert restarted(tmp_path, edit) == expected


def test_a_secret_change_of_a_connection_restarts_its_sources(tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["connections"]["rabbit"]["url"] = "amqp://guest:other@127.0.0.1:5672/"

    assert restarted(tmp_path, edit) == {"tasks-in"}


# -- functions replaced while calls wait for a concurrency slot ------------------------------

HELD = """
import asyncio
import os

gate = None

async def handler(event, context):
    global gate
    if event.get("hold"):
        gate = asyncio.Event()
        await gate.wait()
    return os.environ.get("VERSION")
"""


async def test_a_call_waiting_for_a_slot_runs_on_the_reloaded_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"reserved_concurrency": 1, "timeout": 10, "environment": {"VERSION": "1"}}
    with process_hooks(monkeypatch):
        hub = await MiniHub(tmp_path, {"f": settings}, {"f": HELD}).start()
        try:
            held = asyncio.create_task(hub.invoker.invoke("f", {"hold": True}, wait=True))
            while getattr(sys.modules.get(hub.module_names["f"]), "gate", None) is None:
                await asyncio.sleep(0.01)  # imported (in a thread) and holding the slot
            waiting = asyncio.create_task(hub.invoker.invoke("f", {}, wait=True))
            await asyncio.sleep(0.05)
            assert not waiting.done()  # reserved concurrency 1: it waits for the slot

            config = yaml.safe_load(hub.config_path.read_text())
            config["functions"]["f"]["environment"]["VERSION"] = "2"
            hub.config_path.write_text(yaml.safe_dump(config))
            new = load_config(hub.config_path)
            diff = hub.functions.apply(new)
            hub.invoker.replace(hub.functions.runtimes, {"f": new.config.functions["f"].async_})
            assert diff.changed == ["f"]

            hub.module("f").gate.set()
            # the in-flight call finishes on the old runtime; the waiting one ran on the new
            assert (await held).value == "1"
            assert (await waiting).value == "2"
            assert hub.metrics.function_stats("f").invocations == 2
        finally:
            await hub.aclose()


async def test_a_new_description_alone_keeps_the_function_warm(tmp_path: Path) -> None:
    hub = await MiniHub(tmp_path, {"f": {}}, {"f": HELD}).start()
    try:
        before = hub.functions.runtimes["f"]
        config = yaml.safe_load(hub.config_path.read_text())
        config["functions"]["f"]["description"] = "now documented"
        hub.config_path.write_text(yaml.safe_dump(config))
        diff = hub.functions.apply(load_config(hub.config_path))
        assert (diff.changed, diff.unchanged) == ([], ["f"])
        assert hub.functions.runtimes["f"] is before
        assert hub.functions.configs["f"].description == "now documented"
    finally:
        await hub.aclose()


VERSIONED = """
def handler(event, context):
    return "v1"
"""


def reloaded(hub: MiniHub, edit: Any = None) -> Any:
    """Apply the config file again (after ``edit`` of its dict), as POST /reload does."""
    config = yaml.safe_load(hub.config_path.read_text())
    if edit is not None:
        edit(config)
    hub.config_path.write_text(yaml.safe_dump(config))
    new = load_config(hub.config_path)
    diff = hub.functions.apply(new)
    hub.invoker.replace(
        hub.functions.runtimes, {n: f.async_ for n, f in new.config.functions.items()}
    )
    return diff


async def test_an_edited_handler_runs_its_new_code_after_a_reload(tmp_path: Path) -> None:
    hub = await MiniHub(tmp_path, {"f": {}}, {"f": VERSIONED}).start()
    try:
        assert (await hub.invoker.invoke("f", {}, wait=True)).value == "v1"
        module = hub.code_dir / f"{hub.module_names['f']}.py"
        module.write_text(VERSIONED.replace("v1", "version two"))  # a new size: a new stamp
        diff = reloaded(hub)
        assert diff.changed == ["f"]
        assert (await hub.invoker.invoke("f", {}, wait=True)).value == "version two"
        assert reloaded(hub).changed == []  # nothing changed since: the function stays warm
    finally:
        await hub.aclose()


async def test_a_function_added_by_reload_sees_new_handlers_of_an_imported_module(
    tmp_path: Path,
) -> None:
    hub = await MiniHub(tmp_path, {"f": {}}, {"f": VERSIONED}).start()
    try:
        assert (await hub.invoker.invoke("f", {}, wait=True)).value == "v1"  # module imported
        module_name = hub.module_names["f"]
        module = hub.code_dir / f"{module_name}.py"
        module.write_text(VERSIONED + "\n\ndef other(event, context):\n    return 'other'\n")

        def add(config: dict[str, Any]) -> None:
            config["functions"]["g"] = {
                "handler": f"{module_name}:other",
                "code_dir": str(hub.code_dir),
            }

        diff = reloaded(hub, add)
        assert diff.added == ["g"]
        assert (await hub.invoker.invoke("g", {}, wait=True)).value == "other"
    finally:
        await hub.aclose()


async def test_async_events_of_a_function_no_longer_configured_are_reported(
    tmp_path: Path,
) -> None:
    from eventhub.store.async_events import AsyncEventStore
    from eventhub.store.db import Store

    (tmp_path / "state").mkdir()
    async with Store(tmp_path / "state" / "eventhub.db") as store:
        events = AsyncEventStore(store)
        await events.open()
        for request_id in ("r1", "r2"):
            await events.add("gone", request_id, b"{}", 0.0, leased=False)
    with capture_logs() as logs:
        hub = await InProcessHub(tmp_path, {"f": {}}, {"f": VERSIONED}).start()
        try:
            async with asyncio.timeout(10):
                while not any("not configured" in e["event"] for e in logs):
                    await asyncio.sleep(0.01)
        finally:
            await hub.aclose()
    [warning] = [e for e in logs if "not configured" in e["event"]]
    assert (warning["function"], warning["events"]) == ("gone", 2)


# -- destinations of a connection that changed ---------------------------------------------


async def test_destinations_of_a_changed_connection_are_built_anew(tmp_path: Path) -> None:
    first = loaded(tmp_path)
    pool = DestinationPool(DestinationContext(first, None, None))  # type: ignore[arg-type]
    kafka = await pool.get("kafka:kafka-main/out")
    rabbit = await pool.get("rabbitmq:rabbit/ex/key")
    file = await pool.get("file:out.jsonl")
    stream = await pool.get("stream:clicks")

    pool.reconfigure(DestinationContext(loaded(tmp_path), None, None))  # type: ignore[arg-type]
    assert await pool.get("kafka:kafka-main/out") is kafka  # same settings: kept

    def edit(config: dict[str, Any]) -> None:
        config["connections"]["kafka-main"]["bootstrap_servers"] = "127.0.0.1:9093"
        config["streams"]["clicks"]["shards"] = 4  # records must spread over 4 shards now

    pool.reconfigure(DestinationContext(loaded(tmp_path, edit), None, None))  # type: ignore[arg-type]
    assert await pool.get("kafka:kafka-main/out") is not kafka
    assert await pool.get("rabbitmq:rabbit/ex/key") is rabbit
    assert await pool.get("file:out.jsonl") is file
    assert await pool.get("stream:clicks") is not stream
    await pool.aclose()  # closes the retired one too, without waiting for its delay


# -- supervisor: enable / disable --------------------------------------------------------------


class FakeSource:
    """A source that runs until stopped and counts its instances."""

    made = 0

    def __init__(self) -> None:
        FakeSource.made += 1
        self.name = "fake"
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        await self._stopped.wait()

    async def stop(self, grace: float) -> None:
        await asyncio.sleep(0.01)  # a drain takes a moment
        self._stopped.set()

    def status(self) -> SourceStatus:
        return SourceStatus("fake", "test", "f", state="running", connected=True)


async def test_disable_then_enable_at_once_starts_exactly_one_new_instance() -> None:
    FakeSource.made = 0
    supervisor = Supervisor("fake", "test", "f", FakeSource)
    task = asyncio.create_task(supervisor.run())
    while supervisor.status().state != "running":
        await asyncio.sleep(0.001)
    # both requests at once: the enable waits for the disable; no crash, no backoff
    await asyncio.gather(supervisor.set_enabled(False, 1), supervisor.set_enabled(True, 1))
    while FakeSource.made < 2:
        await asyncio.sleep(0.001)
    status = supervisor.status()
    assert (status.state, status.connected, status.last_error) == ("running", True, None)
    assert status.detail["restarts"] == 0
    await supervisor.stop(1)
    await task
    assert FakeSource.made == 2


async def test_a_disabled_source_reports_disabled_and_disconnected() -> None:
    supervisor = Supervisor("fake", "test", "f", FakeSource, enabled=False)
    task = asyncio.create_task(supervisor.run())
    await asyncio.sleep(0.01)
    status = supervisor.status()
    assert (status.state, status.connected) == ("disabled", False)
    await supervisor.stop(1)
    await task


# -- a changed source: the new instance never runs beside the one it replaces --------------


class Draining:
    """A source whose stop takes a moment (draining); counts instances running at once."""

    running = 0
    peak = 0
    made = 0

    def __init__(self, name: str, config: Any, env: Any) -> None:
        Draining.made += 1
        self.name = name
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        Draining.running += 1
        Draining.peak = max(Draining.peak, Draining.running)
        try:
            await self._stopped.wait()
        finally:
            Draining.running -= 1

    async def stop(self, grace: float) -> None:
        await asyncio.sleep(0.1)  # in-flight work settles
        self._stopped.set()

    def status(self) -> SourceStatus:
        return SourceStatus(self.name, "schedule", "f", state="running", connected=True)


async def test_quick_successive_changes_never_run_two_instances_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.SOURCES, "schedule", f"{__name__}:Draining")
    Draining.running = Draining.peak = Draining.made = 0
    hub = InProcessHub(tmp_path, {"f": {}}, {"f": HELD})
    config = yaml.safe_load(hub.config_path.read_text())
    config["sources"] = {
        "tick": {"type": "schedule", "expression": "rate(1 hour)", "function": "f"}
    }

    def write(hours: int) -> None:
        config["sources"]["tick"]["expression"] = f"rate({hours} hours)"
        hub.config_path.write_text(yaml.safe_dump(config))

    write(5)
    hub.hub = Hub(load_config(hub.config_path))
    with capture_logs():
        await hub.start()
        try:
            for hours in (2, 3, 4):  # each reload replaces the instance the previous one started
                write(hours)
                assert (await hub.hub.reload())["sources"]["changed"] == ["tick"]
            async with asyncio.timeout(5):
                while Draining.running < 1 or Draining.made < 2:
                    await asyncio.sleep(0.01)
            # the first and the last: those replaced before they started never ran
            assert (Draining.made, Draining.peak) == (2, 1)
        finally:
            await hub.aclose()
