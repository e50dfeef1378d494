"""In-process function runtimes for unit tests of the runtime, the invoker and the API.

``Functions`` writes handler modules under unique names (modules live in one
interpreter-wide ``sys.modules``), builds ``FunctionRuntime``s on the inline
environment and undoes everything it touched afterwards. ``process_hooks`` puts the
per-function ``os.environ`` overlay, thread context inheritance and the logging capture
in place for one test only (the daemon installs them once for its process);
``capture_output`` the stdout/stderr proxies, which must be installed in the test's
call phase (pytest's own capture replaces ``sys.stdout`` between phases).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventhub.config.loader import load_config
from eventhub.functions import FunctionSet
from eventhub.hub import Hub
from eventhub.invoke.async_queue import AsyncDispatcher
from eventhub.invoke.destinations import DestinationContext, DestinationPool
from eventhub.invoke.invoker import Invoker
from eventhub.metrics import Metrics
from eventhub.runtime.concurrency import Limiter
from eventhub.runtime.context import FunctionIdentity
from eventhub.runtime.environ import OverlayEnviron, thread_bootstrap_inner, thread_start
from eventhub.runtime.environment import EnvironmentSpec
from eventhub.runtime.function import FunctionLimits, FunctionRuntime
from eventhub.runtime.inline import InlineEnvironment
from eventhub.runtime.logcapture import _CaptureHandler, _StreamProxy
from eventhub.store.async_events import AsyncEventStore
from eventhub.store.db import Store

REGION, ACCOUNT = "us-east-1", "123456789012"


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@contextlib.contextmanager
def process_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The daemon's process-wide hooks (environ overlay, output capture), for one test."""
    monkeypatch.setattr(os, "environ", OverlayEnviron(os.environ))
    monkeypatch.setattr(threading.Thread, "start", thread_start)
    monkeypatch.setattr(threading.Thread, "_bootstrap_inner", thread_bootstrap_inner)
    handler = _CaptureHandler()
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)


def capture_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route print() of invocations to their logs (idempotent)."""
    for name in ("stdout", "stderr"):
        if not isinstance(getattr(sys, name), _StreamProxy):
            monkeypatch.setattr(sys, name, _StreamProxy(getattr(sys, name), name))


class Functions:
    """Builds runtimes from handler source code; ``aclose`` releases them."""

    def __init__(
        self,
        tmp_path: Path,
        metrics: Metrics | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None,
    ) -> None:
        self.monkeypatch = monkeypatch
        self.code_dir = tmp_path / f"code_{uuid.uuid4().hex[:8]}"
        self.code_dir.mkdir()
        self.metrics = metrics or Metrics()
        self.modules: list[str] = []
        self.runtimes: list[FunctionRuntime] = []

    def module(self, source: str) -> str:
        """Write ``source`` as a new module; returns its (unique) name."""
        name = f"h_{uuid.uuid4().hex[:12]}"
        (self.code_dir / f"{name}.py").write_text(textwrap.dedent(source))
        self.modules.append(name)
        return name

    def runtime(
        self,
        source: str,
        *,
        name: str | None = None,
        attribute: str = "handler",
        timeout: float = 3.0,
        memory_mb: int = 128,
        reserved: int | None = None,
        variables: dict[str, str] | None = None,
        max_response: int = 6_291_456,
        limiter: Limiter | None = None,
    ) -> FunctionRuntime:
        """A runtime of a handler whose module is ``source``."""
        if self.monkeypatch is not None:
            capture_output(self.monkeypatch)
        module = self.module(source)
        name = name or f"fn-{module[2:8]}"
        if limiter is None:
            limiter = Limiter(1000 if reserved is None else reserved)
        spec = EnvironmentSpec(
            function=name,
            handler=f"{module}.{attribute}",
            module=module,
            attribute=attribute,
            code_dir=self.code_dir,
            variables=dict(variables or {}),
            timeout=timeout,
            memory_mb=memory_mb,
            max_concurrency=max(1, limiter.limit),
        )
        runtime = FunctionRuntime(
            FunctionIdentity(name, arn(name), str(memory_mb), f"/aws/lambda/{name}"),
            FunctionLimits(timeout, memory_mb, reserved, max_response),
            InlineEnvironment(spec),
            limiter,
            self.metrics.function_stats(name),
        )
        self.runtimes.append(runtime)
        return runtime

    async def aclose(self) -> None:
        for runtime in self.runtimes:
            await runtime.environment.aclose()
        with contextlib.suppress(ValueError):
            sys.path.remove(str(self.code_dir.resolve()))
        for name in self.modules:
            sys.modules.pop(name, None)


def write_functions(
    tmp_path: Path, functions: dict[str, dict[str, Any]], sources: dict[str, str]
) -> tuple[Path, dict[str, str], dict[str, dict[str, Any]]]:
    """Write each function's module under a unique name; returns the code directory,
    function -> module name, and the ``functions:`` section of a config."""
    tag = uuid.uuid4().hex[:8]
    code = tmp_path / "functions"
    code.mkdir(exist_ok=True)
    modules: dict[str, str] = {}
    config: dict[str, dict[str, Any]] = {}
    for name, settings in functions.items():
        module = f"m_{tag}_{name.replace('-', '_').replace('.', '_')}"
        (code / f"{module}.py").write_text(textwrap.dedent(sources[name]))
        modules[name] = module
        config[name] = {"handler": f"{module}:handler", "code_dir": str(code), **settings}
    return code.resolve(), modules, config


class MiniHub:
    """The hub's invocation core without listeners: store, functions from a config,
    Invoker, destinations and one AsyncDispatcher per function. ``restart`` keeps the
    state directory, as a daemon restart does."""

    def __init__(
        self,
        tmp_path: Path,
        functions: dict[str, dict[str, Any]],
        sources: dict[str, str],
        clock: Callable[[], float] = time.time,
        hub: dict[str, Any] | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.clock = clock
        self.code_dir, self.module_names, config_functions = write_functions(
            tmp_path, functions, sources
        )
        config = {"version": 1, "hub": {"state_dir": "state", **(hub or {})}}
        config["functions"] = config_functions
        self.config_path = tmp_path / "eventhub.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.loaded = load_config(self.config_path)
        self.metrics = Metrics()
        self.dispatchers: dict[str, tuple[AsyncDispatcher, asyncio.Task[None]]] = {}

    async def start(self) -> MiniHub:
        self.store = Store(self.loaded.state_dir / "eventhub.db")
        await self.store.open()
        self.events = AsyncEventStore(self.store)
        await self.events.open()
        self.functions = FunctionSet(self.metrics)
        self.functions.apply(self.loaded)
        self.invoker = Invoker(self.events, self.metrics, self.clock)
        self.invoker.replace(
            self.functions.runtimes,
            {name: fn.async_ for name, fn in self.loaded.config.functions.items()},
        )
        self.destinations = DestinationPool(
            DestinationContext(self.loaded, self.invoker, self.store)
        )
        return self

    def start_dispatchers(self) -> None:
        for name in self.loaded.config.functions:
            dispatcher = AsyncDispatcher(name, self.invoker, self.destinations)
            self.invoker.attach(name, dispatcher)
            task = asyncio.create_task(dispatcher.run(), name=f"dispatcher:{name}")
            self.dispatchers[name] = (dispatcher, task)

    async def stop_dispatchers(self, grace: float = 5.0) -> None:
        for name, (dispatcher, task) in list(self.dispatchers.items()):
            await dispatcher.stop(grace)
            await task
            self.invoker.attach(name, None)
        self.dispatchers.clear()

    async def restart(self, clock: Callable[[], float] | None = None) -> None:
        """Stop everything without waiting for in-flight work; start over on the same state."""
        await self.stop_dispatchers(grace=0)
        await self._close()
        if clock is not None:
            self.clock = clock
        await self.start()
        self.start_dispatchers()

    def module(self, function: str) -> Any:
        return sys.modules[self.module_names[function]]

    async def _close(self) -> None:
        await self.destinations.aclose()
        await self.functions.aclose()
        await self.store.aclose()

    async def aclose(self) -> None:
        await self.stop_dispatchers(grace=0)
        await self._close()
        with contextlib.suppress(ValueError):
            sys.path.remove(str(self.code_dir))
        for module in self.module_names.values():
            sys.modules.pop(module, None)


class InProcessHub:
    """The real ``Hub`` in this process on ephemeral ports, with handler modules of
    unique names; ``url`` / ``admin_url`` reach its listeners."""

    def __init__(
        self,
        tmp_path: Path,
        functions: dict[str, dict[str, Any]],
        sources: dict[str, str],
        hub: dict[str, Any] | None = None,
    ) -> None:
        self.code_dir, self.module_names, config_functions = write_functions(
            tmp_path, functions, sources
        )
        hub_config = {
            "listen": "127.0.0.1:0",
            "admin_listen": "127.0.0.1:0",
            "state_dir": "state",
            "shutdown_grace": 2,
            **(hub or {}),
        }
        config = {"version": 1, "hub": hub_config, "functions": config_functions}
        self.config_path = tmp_path / "eventhub.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.hub = Hub(load_config(self.config_path))
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.hub.main_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.hub.admin_port}"

    def module(self, function: str) -> Any:
        """The function's module once imported completely (imports run in a thread)."""
        module = sys.modules.get(self.module_names[function])
        return module if hasattr(module, "handler") else None

    async def start(self) -> InProcessHub:
        self._task = asyncio.create_task(self.hub.run(self._stop))
        ready = asyncio.create_task(self.hub.ready.wait())
        await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await self._task  # raises what made the hub fail
        return self

    async def aclose(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        with contextlib.suppress(ValueError):
            sys.path.remove(str(self.code_dir))
        for module in self.module_names.values():
            sys.modules.pop(module, None)
