"""An in-process hub for the push-source tests (http, files, schedule).

``hub_factory(config, functions)`` writes the handler modules and the config into the
test's directory, runs :class:`eventhub.hub.Hub` on free ports in the test's event
loop and stops it (SIGTERM path: staged shutdown) at the end. Handler modules are
removed from ``sys.modules`` afterwards so the next test may reuse their names.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventhub.config.loader import load_config
from eventhub.hub import Hub


@dataclass
class RunningHub:
    hub: Hub
    workdir: Path
    stop: asyncio.Event
    task: asyncio.Task[None]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.hub.main_port}"

    @property
    def port(self) -> int:
        assert self.hub.main_port is not None
        return self.hub.main_port

    async def reload(self, config: dict[str, Any]) -> dict[str, Any]:
        self.config = config
        (self.workdir / "eventhub.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return await self.hub.reload()

    async def shutdown(self) -> None:
        self.stop.set()
        await self.task


HubFactory = Callable[..., Awaitable[RunningHub]]


@pytest.fixture
async def hub_factory(tmp_path: Path) -> AsyncIterator[HubFactory]:
    started: list[RunningHub] = []
    modules: set[str] = set()
    code = tmp_path / "functions"

    async def start(config: dict[str, Any], functions: dict[str, str] | None = None) -> RunningHub:
        code.mkdir(exist_ok=True)
        for name, source in (functions or {}).items():
            (code / f"{name}.py").write_text(textwrap.dedent(source))
            modules.add(name)
        hub_section = config.setdefault("hub", {})
        hub_section.setdefault("listen", "127.0.0.1:0")
        hub_section.setdefault("admin_listen", "127.0.0.1:0")
        hub_section.setdefault("state_dir", "state")
        hub_section.setdefault("shutdown_grace", 2)
        config.setdefault("version", 1)
        for fn in config.get("functions", {}).values():
            fn.setdefault("code_dir", "functions")
        path = tmp_path / "eventhub.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        hub = Hub(load_config(path))
        stop = asyncio.Event()
        task = asyncio.create_task(hub.run(stop))
        ready = asyncio.create_task(hub.ready.wait())
        await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            ready.cancel()
            task.result()  # raises what failed the start
        running = RunningHub(hub, tmp_path, stop, task, config)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running.task, 30)
    for name in modules:
        sys.modules.pop(name, None)
    with contextlib.suppress(ValueError):
        sys.path.remove(str(code.resolve()))


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``predicate`` on the loop until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.02)
