"""The hub: builds everything from a configuration, runs it, reloads it, shuts it down."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import structlog
from aiohttp import web

from eventhub import registry
from eventhub.api.admin import build_admin_app
from eventhub.api.main import build_main_app
from eventhub.api.state import MainContext
from eventhub.config.loader import LoadedConfig, load_config
from eventhub.config.models import split_hostport
from eventhub.functions import FunctionSet
from eventhub.hubenv import HubEnv, Service
from eventhub.invoke.async_queue import AsyncDispatcher
from eventhub.invoke.destinations import DestinationContext, DestinationPool
from eventhub.invoke.invoker import Invoker
from eventhub.logs import quiet_client_errors
from eventhub.metrics import Metrics
from eventhub.notify import Notifier
from eventhub.runtime.loopguard import loop_guard
from eventhub.signatures import source_signature
from eventhub.sources import SourceStatus
from eventhub.store.async_events import AsyncEventStore
from eventhub.store.db import Store
from eventhub.supervisor import Supervisor

log = structlog.get_logger("eventhub.hub")

HEARTBEAT = 0.5


class ListenError(Exception):
    """A listener could not bind its address (in use, not permitted, unknown host)."""

    def __init__(self, key: str, address: str, error: OSError) -> None:
        reason = os.strerror(error.errno).lower() if error.errno else str(error)
        super().__init__(f"cannot listen on {address} (hub.{key}): {reason}")


class _Running:
    """A supervised source and the config it was built from (to diff on reload)."""

    def __init__(self, supervisor: Supervisor, signature: Any, task: asyncio.Task[None]) -> None:
        self.supervisor = supervisor
        self.signature = signature
        self.task = task


class Hub:
    """Runs one configuration. ``run(stop)`` serves until ``stop`` is set, then shuts
    down in stages: stop intake, drain within ``hub.shutdown_grace``, cancel, close."""

    def __init__(self, loaded: LoadedConfig, notifier: Notifier | None = None) -> None:
        self.loaded = loaded
        self.notifier = notifier or Notifier(None)
        # called with the new config after every successful reload (SIGHUP, /reload, watch)
        self.reload_hooks: list[Callable[[LoadedConfig], None]] = []
        self.metrics = Metrics()
        self.functions = FunctionSet(self.metrics)
        self.ready = asyncio.Event()
        self.main_port: int | None = None
        self.admin_port: int | None = None
        self._env: HubEnv | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._dispatchers: dict[str, tuple[AsyncDispatcher, asyncio.Task[None]]] = {}
        self._sources: dict[str, _Running] = {}
        self.metrics.track_sources(self.sources_overview)
        self._services: dict[str, Service] = {}
        self._runners: list[web.AppRunner] = []
        self._beat = 0.0
        self._reload_lock = asyncio.Lock()
        self._stopping = False

    @property
    def env(self) -> HubEnv:
        if self._env is None:
            raise RuntimeError("the hub is not running")
        return self._env

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, serve until ``stop`` is set, then shut down in stages."""
        async with AsyncExitStack() as stack:
            store = await stack.enter_async_context(Store(self.loaded.state_dir / "eventhub.db"))
            events = AsyncEventStore(store)
            await events.open()
            invoker = Invoker(events, self.metrics)
            main = MainContext(
                invoker=invoker,
                hub=lambda: self.loaded.config.hub,
                functions=lambda: self.loaded.config.functions,
            )
            destinations = DestinationPool(DestinationContext(self.loaded, invoker, store))
            stack.push_async_callback(destinations.aclose)
            self._env = HubEnv(self.loaded, invoker, store, destinations, self.metrics, main)
            stack.push_async_callback(self.functions.aclose)
            await loop_guard.start()
            stack.push_async_callback(loop_guard.stop)
            self._apply_functions()
            await self._start_services(stack)
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._sync_dispatchers()
                self._sync_sources()
                await self._start_listeners(main)
                heartbeat = tg.create_task(self._heartbeat(), name="heartbeat")
                watchdog = tg.create_task(self.notifier.watchdog(), name="watchdog")
                self.ready.set()
                self.notifier.ready(self._status_line())
                log.info(
                    "eventhub started",
                    listen=self.loaded.config.hub.listen,
                    admin_listen=self.loaded.config.hub.admin_listen,
                    functions=len(self.functions.runtimes),
                    sources=len(self._sources),
                )
                await self._report_orphaned_events()
                await stop.wait()
                self.notifier.stopping("stopping: draining in-flight work")
                await self._shutdown()
                heartbeat.cancel()
                watchdog.cancel()
            log.info("eventhub stopped")

    async def _shutdown(self) -> None:
        async with self._reload_lock:  # a reload under way finishes first; none starts after
            self._stopping = True
        grace = self.loaded.config.hub.shutdown_grace
        log.info("shutting down", grace=grace)
        main_runner, admin = (self._runners[0], self._runners[1:]) if self._runners else (None, [])
        stops = [running.supervisor.stop(grace) for running in self._sources.values()]
        stops += [dispatcher.stop(grace) for dispatcher, _ in self._dispatchers.values()]
        if main_runner is not None:
            stops.append(main_runner.cleanup())  # closes the socket, waits for requests
        await asyncio.gather(*stops, return_exceptions=True)
        for runner in admin:
            await runner.cleanup()

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._beat = loop.time()
            await asyncio.sleep(HEARTBEAT)

    def loop_lag(self) -> float:
        """Seconds the loop is late on its heartbeat (large when something blocked it)."""
        if not self._beat:
            return 0.0
        return max(0.0, asyncio.get_running_loop().time() - self._beat - HEARTBEAT)

    async def _start_listeners(self, main: MainContext) -> None:
        hub = self.loaded.config.hub
        quiet_client_errors()
        grace = hub.shutdown_grace
        for app, key in ((build_main_app(main), "listen"), (build_admin_app(self), "admin_listen")):
            address: str = getattr(hub, key)
            runner = web.AppRunner(
                app, access_log=None, shutdown_timeout=grace, handle_signals=False
            )
            await runner.setup()
            self._runners.append(runner)
            host, port = split_hostport(address)
            site = web.TCPSite(runner, host, port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                for started in self._runners:
                    await started.cleanup()
                self._runners.clear()
                raise ListenError(key, address, exc) from None
        self.main_port, self.admin_port = (_bound_port(runner) for runner in self._runners)

    async def _start_services(self, stack: AsyncExitStack) -> None:
        for name, path in registry.SERVICES.items():
            service: Service = registry.load(path)()
            await service.start(self.env)
            stack.push_async_callback(service.aclose)
            self._services[name] = service
            self.env.services[name] = service

    # -- functions and async dispatchers -----------------------------------------------

    def _apply_functions(self) -> dict[str, list[str]]:
        diff = self.functions.apply(self.loaded)
        self.env.invoker.replace(
            self.functions.runtimes,
            {name: fn.async_ for name, fn in self.loaded.config.functions.items()},
        )
        return {"added": diff.added, "changed": diff.changed, "removed": diff.removed}

    def _sync_dispatchers(self) -> None:
        assert self._tg is not None  # noqa: S101 - only called while running
        wanted = set(self.loaded.config.functions)
        for name in wanted - set(self._dispatchers):
            dispatcher = AsyncDispatcher(name, self.env.invoker, self.env.destinations)
            self.env.invoker.attach(name, dispatcher)
            task = self._tg.create_task(dispatcher.run(), name=f"dispatcher:{name}")
            self._dispatchers[name] = (dispatcher, task)
        for name in set(self._dispatchers) - wanted:
            dispatcher, _ = self._dispatchers.pop(name)
            self.env.invoker.attach(name, None)
            self._tg.create_task(dispatcher.stop(self.loaded.config.hub.shutdown_grace))

    async def _report_orphaned_events(self) -> None:
        """Accepted async events of a function no longer configured wait in the store (it
        may come back, and nothing accepted is dropped silently): say so, once per start
        or reload."""
        waiting = await self.env.invoker.events.waiting_by_function()
        for function, count in sorted(waiting.items()):
            if function not in self.loaded.config.functions:
                log.warning(
                    "accepted async events wait for a function that is not configured; "
                    "they run when it is configured again",
                    function=function,
                    events=count,
                )

    # -- sources -------------------------------------------------------------------------

    def _sync_sources(self) -> dict[str, list[str]]:
        assert self._tg is not None  # noqa: S101 - only called while running
        config = self.loaded.config
        grace = config.hub.shutdown_grace
        report: dict[str, list[str]] = {"added": [], "changed": [], "removed": [], "unchanged": []}
        for name in list(self._sources):
            if name not in config.sources:
                self._tg.create_task(self._sources.pop(name).supervisor.stop(grace))
                report["removed"].append(name)
        for name, source in config.sources.items():
            signature = source_signature(self.loaded, name)
            running = self._sources.get(name)
            if running is not None and running.signature == signature:
                report["unchanged"].append(name)
                continue
            report["changed" if running is not None else "added"].append(name)
            self._start_source(name, source, signature, replaces=running)
        return report

    def _start_source(
        self, name: str, source: Any, signature: Any, replaces: _Running | None = None
    ) -> None:
        """Supervise a new instance of ``name``. One that replaces a running instance starts
        once the old one has drained and committed, so the two never process the same
        records; a source that can overlap (``restart_overlaps``: an HTTP route, whose table
        lets the newer registration win) starts first, so its route never goes missing."""
        assert self._tg is not None  # noqa: S101
        factory = registry.load(registry.SOURCES[source.type])
        env = self.env
        grace = self.loaded.config.hub.shutdown_grace
        supervisor = Supervisor(
            name,
            source.type,
            source.function,
            lambda: factory(name, source, env),
            enabled=source.enabled,
        )
        overlaps = getattr(factory, "restart_overlaps", False)
        before: set[asyncio.Task[None]] = set()
        if replaces is not None and not overlaps:
            # its stop, and its own run (which may still wait for an older instance)
            before = {self._tg.create_task(replaces.supervisor.stop(grace)), replaces.task}
        task = self._tg.create_task(_supervise(supervisor, before), name=f"source:{name}")
        if replaces is not None and overlaps:
            self._tg.create_task(replaces.supervisor.stop(grace))
        self._sources[name] = _Running(supervisor, signature, task)

    async def set_source_enabled(self, name: str, enabled: bool) -> SourceStatus:
        running = self._sources[name]
        await running.supervisor.set_enabled(enabled, self.loaded.config.hub.shutdown_grace)
        log.info("source enabled" if enabled else "source disabled", source=name)
        return running.supervisor.status()

    def sources_overview(self) -> list[SourceStatus]:
        return [running.supervisor.status() for running in self._sources.values()]

    def functions_overview(self) -> list[dict[str, Any]]:
        out = []
        for name, runtime in self.functions.runtimes.items():
            config = self.functions.configs[name]
            stats = self.metrics.function_stats(name)
            out.append(
                {
                    "name": name,
                    "arn": runtime.arn,
                    "handler": config.handler,
                    "runtime": config.runtime,
                    "timeout": config.timeout,
                    "memory_mb": config.memory_mb,
                    "reserved_concurrency": config.reserved_concurrency,
                    "running": stats.running,  # retired runtimes finishing included
                    "invocations": stats.invocations,
                    "errors": sum(stats.errors.values()),
                    "throttles": stats.throttles,
                    "description": config.description,
                }
            )
        return out

    # -- reload ------------------------------------------------------------------------

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file. Invalid: raises ConfigError and nothing changes.
        Valid: unchanged functions and sources keep running untouched."""
        if self._stopping:
            return {"skipped": "the hub is shutting down"}
        self.notifier.reloading("reloading the configuration")
        try:
            report = await self._reload()
        except BaseException:
            self.notifier.ready("reload rejected; running the previous configuration")
            raise
        self.notifier.ready(self._status_line())
        return report

    async def _reload(self) -> dict[str, Any]:
        async with self._reload_lock:
            if self._stopping:
                return {"skipped": "the hub is shutting down"}
            new = await asyncio.to_thread(load_config, self.loaded.path)
            restart = [
                key
                for key in ("listen", "admin_listen", "state_dir")
                if getattr(new.config.hub, key) != getattr(self.loaded.config.hub, key)
            ]
            self.loaded = new
            self.env.loaded = new
            self.env.destinations.reconfigure(
                DestinationContext(new, self.env.invoker, self.env.store)
            )
            functions = self._apply_functions()
            for service in self._services.values():
                await service.reconfigure(self.env)
            self._sync_dispatchers()
            sources = self._sync_sources()
            report = {"functions": functions, "sources": sources, "restart_required": restart}
            log.info("configuration reloaded", **report)
            await self._report_orphaned_events()
            for hook in self.reload_hooks:
                hook(new)
            return report

    def _status_line(self) -> str:
        return f"serving {len(self.functions.runtimes)} functions, {len(self._sources)} sources"


async def _supervise(supervisor: Supervisor, after: set[asyncio.Task[None]]) -> None:
    if after:
        await asyncio.wait(after)  # the replaced instance has stopped (its errors are logged)
    await supervisor.run()


def _bound_port(runner: web.AppRunner) -> int | None:
    for address in runner.addresses:
        with contextlib.suppress(TypeError, IndexError):
            return int(address[1])
    return None
