"""An eventhub Hub running inside the test's event loop, on free ports.

Faster than a daemon process for integration tests of sources: handlers are ``async def``
modules that report to ``tests.support.recorder``; the test talks to the hub's listeners
over HTTP or looks at its sources directly.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import structlog
import yaml

from eventhub.config.loader import load_config
from eventhub.hub import Hub
from tests.support import recorder
from tests.support.ports import free_port

HANDLER = """\
import inspect

from tests.support import recorder


async def handler(event, context):
    result = recorder.handle({name!r}, event)
    return await result if inspect.isawaitable(result) else result
"""


class HubHarness:
    """Build a config, start a Hub on it in this loop, stop it at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.code = workdir / "functions"
        self.code.mkdir(parents=True, exist_ok=True)
        self.config: dict[str, Any] = {
            "version": 1,
            "hub": {
                "listen": f"127.0.0.1:{free_port()}",
                "admin_listen": f"127.0.0.1:{free_port()}",
                "state_dir": "state",
                "log_level": "warning",
                "shutdown_grace": 5,
            },
            "functions": {},
            "sources": {},
        }
        self.hub: Hub | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.names: list[str] = []

    def function(self, name: str, **settings: Any) -> str:
        """Define function ``name`` whose handler records into ``recorder.events[name]``."""
        module = f"h_{uuid.uuid4().hex[:12]}"
        (self.code / f"{module}.py").write_text(HANDLER.format(name=name))
        recorder.reset(name)
        self.names.append(name)
        self.config["functions"][name] = {
            "handler": f"{module}:handler",
            "code_dir": "functions",
            **settings,
        }
        return name

    async def start(self) -> Hub:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        path = self.workdir / "eventhub.yaml"
        path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.hub = Hub(load_config(path))
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.hub.run(self._stop))
        ready = asyncio.create_task(self.hub.ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            ready.cancel()
            self._task.result()
        return self.hub

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def restart(self) -> Hub:
        await self.stop()
        return await self.start()

    async def __aenter__(self) -> HubHarness:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        for name in self.names:
            recorder.reset(name)

    # -- talking to it ---------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.hub is not None
        assert self.hub.main_port is not None
        return f"http://127.0.0.1:{self.hub.main_port}"

    def source(self, name: str) -> Any:
        assert self.hub is not None
        return next(s for s in self.hub.sources_overview() if s.name == name)

    async def kinesis(self, target: str, payload: dict[str, Any] | bytes) -> tuple[int, Any]:
        """A Kinesis API call; ``payload`` bytes are sent as they are."""
        headers = {
            "X-Amz-Target": f"Kinesis_20131202.{target}",
            "Content-Type": "application/x-amz-json-1.1",
        }
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        body = io.BytesIO(raw)
        async with aiohttp.ClientSession() as session:
            async with session.post(self.url, data=body, headers=headers) as reply:
                return reply.status, await reply.json(content_type=None)

    async def put(self, stream: str, records: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        """PutRecords of ``(partition key, JSON value)`` in chunks of 500."""
        import base64

        out: list[dict[str, Any]] = []
        for start in range(0, len(records), 500):
            chunk = records[start : start + 500]
            entries = [
                {"PartitionKey": key, "Data": base64.b64encode(json.dumps(value).encode()).decode()}
                for key, value in chunk
            ]
            status, body = await self.kinesis(
                "PutRecords", {"StreamName": stream, "Records": entries}
            )
            assert status == 200, body
            out.extend(body["Records"])
        return out


async def eventually(predicate: Any, within: float = 20.0, message: str = "") -> Any:
    """Wait until ``predicate()`` is truthy (a liveness wait, not a timing assertion).
    A LookupError (a shard or key not there yet) counts as "not yet"."""
    async with asyncio.timeout(within):
        while True:
            try:
                value = predicate()
            except LookupError:
                value = None
            if value:
                return value
            await asyncio.sleep(0.01)
