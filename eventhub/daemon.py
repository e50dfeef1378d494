"""Running the hub as a daemon: logging, signals, exit codes."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import structlog

from eventhub.config.errors import ConfigError
from eventhub.config.loader import LoadedConfig
from eventhub.hub import Hub, ListenError
from eventhub.logs import configure_logging
from eventhub.runtime.environ import install_environ
from eventhub.runtime.exit import leave_stuck_threads
from eventhub.runtime.logcapture import install_capture

log = structlog.get_logger("eventhub.daemon")


def prepare_process(loaded: LoadedConfig) -> None:
    """Process-wide setup done once: logs, handler output capture, environment overlay."""
    hub = loaded.config.hub
    configure_logging(hub.log_format, hub.log_level)
    install_capture()
    install_environ()


def serve(loaded: LoadedConfig) -> int:
    """Run until SIGTERM / SIGINT; returns the exit code (0 after a clean shutdown).

    Raises ListenError when ``hub.listen`` or ``hub.admin_listen`` cannot be bound.
    """
    prepare_process(loaded)
    Path(loaded.state_dir).mkdir(parents=True, exist_ok=True)
    try:
        code = asyncio.run(_serve(loaded))
    except BaseExceptionGroup as group:  # the hub's TaskGroup wraps a failed start
        error = _listen_error(group)
        if error is None:
            raise
        log.error("cannot start", error=str(error))  # noqa: TRY400 - a clear reason, no traceback
        raise error from None
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


async def _serve(loaded: LoadedConfig) -> int:
    hub = Hub(loaded)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            log.warning("second interrupt: exiting now")
            os._exit(130)
        stop.set()

    reloads: set[asyncio.Task[None]] = set()

    def on_hangup() -> None:
        task = loop.create_task(_reload(hub))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    await hub.run(stop)
    return 0


async def _reload(hub: Hub) -> None:
    try:
        await hub.reload()
    except ConfigError as exc:
        log.error(  # noqa: TRY400 - a rejected file is not a crash; no traceback
            "reload rejected: the new configuration is invalid; the running one is kept",
            errors=[issue.render(exc.filename) for issue in exc.issues],
        )
