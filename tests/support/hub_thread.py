"""A hub running in a background thread with its own event loop, for integration tests that
drive it with synchronous clients (boto3) without starting a process."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import yaml

from eventhub.config.loader import load_config
from eventhub.hub import Hub
from tests.support.ports import free_port


class HubThread:
    """``with HubThread(tmp_path, config) as hub:`` — ``hub.url``, ``hub.admin_url``."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.port = free_port()
        self.admin_port = free_port()
        hub = config.setdefault("hub", {})
        hub.setdefault("listen", f"127.0.0.1:{self.port}")
        hub.setdefault("admin_listen", f"127.0.0.1:{self.admin_port}")
        hub.setdefault("state_dir", "state")
        hub.setdefault("shutdown_grace", 5)
        config.setdefault("version", 1)
        self.path = workdir / "eventhub.yaml"
        self.path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.hub: Hub | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def __enter__(self) -> HubThread:
        self._thread = threading.Thread(target=self._main, name="hub", daemon=True)
        self._thread.start()
        if not self._started.wait(30) or self._error is not None:
            raise RuntimeError(f"hub did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)
        if self._error is not None and exc[0] is None:
            raise self._error

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.hub = Hub(load_config(self.path))
        runner = asyncio.create_task(self.hub.run(self._stop))
        ready = asyncio.create_task(self.hub.ready.wait())
        await asyncio.wait({runner, ready}, return_when=asyncio.FIRST_COMPLETED)
        self._started.set()
        await runner

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the hub's loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)
