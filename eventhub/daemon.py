"""Running the hub as a daemon: logging, signals, exit codes."""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import signal
import sys
from pathlib import Path

import structlog

from eventhub.config.errors import ConfigError
from eventhub.config.loader import LoadedConfig
from eventhub.hub import Hub, ListenError
from eventhub.logs import configure_logging, remember_secrets
from eventhub.notify import Notifier
from eventhub.runtime.environ import install_environ
from eventhub.runtime.exit import leave_stuck_threads
from eventhub.runtime.logcapture import install_capture

log = structlog.get_logger("eventhub.daemon")

SWITCH_INTERVAL = 0.0005
# A mapping holds thousands of live record dicts in its buffers, so the default gen-0
# threshold (700) runs the collector every few hundred records and promotes them into
# ever larger older generations. Fewer young collections, and the start-up objects (modules,
# config, handlers) frozen out of them, made the Kafka mapping about a third faster
# (bench/kafka_mapping.py, docs/performance.md). Garbage without cycles is still freed at
# once by reference counting; only cyclic garbage waits longer.
GC_THRESHOLDS = (50_000, 50, 100)


def prepare_process(loaded: LoadedConfig) -> None:
    """Process-wide setup done once: logs, handler output capture, environment overlay,
    thread switching and garbage-collector thresholds."""
    hub = loaded.config.hub
    configure_logging(hub.log_format, hub.log_level)
    remember_secrets(loaded.config)
    install_capture()
    install_environ()
    # `def` handlers run on threads next to the event loop: with the default 5 ms switch
    # interval a handler thread can wait that long for the GIL at every hand-off.
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.set_threshold(*GC_THRESHOLDS)


def serve(loaded: LoadedConfig) -> int:
    """Run until SIGTERM / SIGINT; returns the exit code (0 after a clean shutdown).

    Raises ListenError when ``hub.listen`` or ``hub.admin_listen`` cannot be bound.
    """
    notifier = Notifier.from_environ()  # read before handlers can see the environment
    prepare_process(loaded)
    # systemd's watchdog kills a stuck daemon with SIGABRT: print where every thread was.
    faulthandler.enable(file=sys.__stderr__ or sys.stderr, all_threads=True)
    Path(loaded.state_dir).mkdir(parents=True, exist_ok=True)
    try:
        code = asyncio.run(_serve(loaded, notifier))
    except BaseExceptionGroup as group:  # the hub's TaskGroup wraps a failed start
        error = _listen_error(group)
        if error is None:
            raise
        log.error("cannot start", error=str(error))  # noqa: TRY400 - a clear reason, no traceback
        raise error from None
    finally:
        notifier.close()
    leave_stuck_threads(code)
    return code


def _listen_error(exc: BaseException) -> ListenError | None:
    """The ListenError inside ``exc`` (an exception group from the hub), if any."""
    if isinstance(exc, ListenError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _listen_error(inner)
            if found is not None:
                return found
    return None


async def _serve(loaded: LoadedConfig, notifier: Notifier) -> int:
    from connectors.config_watch import ConfigWatch  # noqa: PLC0415 - watchfiles only when run

    hub = Hub(loaded, notifier)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1 or stop.is_set():  # Ctrl-C while stopping: do not wait for grace
            log.warning("second interrupt: exiting now")
            _flush()
            os._exit(130)
        stop.set()

    reloads: set[asyncio.Task[None]] = set()

    def on_hangup() -> None:
        task = loop.create_task(_reload(hub, stop))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    watch = ConfigWatch(loaded.path, loaded.text, lambda: _reload(hub, stop))
    hub.reload_hooks.append(lambda new: remember_secrets(new.config))
    hub.reload_hooks.append(lambda new: watch.set_enabled(new.config.hub.watch_config))
    hub.reload_hooks.append(lambda new: watch.saw(new.text))  # no second reload by the watch

    async def once_ready() -> None:
        await hub.ready.wait()
        gc.freeze()  # what start-up built lives as long as the process: never scan it again
        watch.set_enabled(hub.loaded.config.hub.watch_config)

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    starter = loop.create_task(once_ready(), name="once-ready")
    try:
        await hub.run(stop)
    finally:
        starter.cancel()
        await watch.aclose()
    return 0


async def _reload(hub: Hub, stop: asyncio.Event) -> None:
    if stop.is_set():
        log.warning("reload ignored: the hub is shutting down")
        return
    try:
        await hub.reload()
    except ConfigError as exc:
        log.error(  # noqa: TRY400 - a rejected file is not a crash; no traceback
            "reload rejected: the new configuration is invalid; the running one is kept",
            errors=[issue.render(exc.filename) for issue in exc.issues],
        )


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
