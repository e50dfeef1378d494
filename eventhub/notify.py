"""systemd's service notification protocol (``sd_notify``), without libsystemd.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET`` (a unix datagram socket: a
path, or ``@name`` for an abstract socket) and, with ``WatchdogSec=``, ``$WATCHDOG_USEC``
(and ``$WATCHDOG_PID``). The daemon reports ``READY=1`` once its listeners accept
connections, ``RELOADING=1`` and ``READY=1`` around a reload, ``STOPPING=1`` when it
begins shutting down, and ``WATCHDOG=1`` at half the watchdog interval. The pings are
sent by a task on the event loop, so a loop that stops turning stops pinging and
systemd restarts the daemon (``Restart=on-failure``).

Without ``$NOTIFY_SOCKET`` every method is a no-op.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import MutableMapping

import structlog

log = structlog.get_logger("eventhub.notify")

SEND_TIMEOUT = 1.0
ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Sends state changes to the service manager at ``address`` (``None``: disabled).

    ``watchdog_usec`` is systemd's watchdog interval; ``watchdog()`` pings at half of
    it. Sending never raises: a service manager that went away must not take the
    daemon down; the first failure is logged, later ones only after a success.
    """

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec if address else None
        self._target = _target(address) if address else None
        self._sock: socket.socket | None = None
        self._failing = False

    @classmethod
    def from_environ(
        cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True
    ) -> Notifier:
        """Read ``$NOTIFY_SOCKET``, ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID``. With ``unset``
        they are removed from the environment so handlers and their children never see
        them (as ``sd_notify(unset_environment=1)`` does)."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        watchdog = _watchdog_usec(env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID"))
        if unset:
            for key in ENV_KEYS:
                env.pop(key, None)
        if address is not None and address.startswith("vsock:"):
            log.warning("NOTIFY_SOCKET on AF_VSOCK is not supported; not notifying", socket=address)
            return cls(None)
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return self._target is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings (half of systemd's interval), or None without a watchdog."""
        if not self.watchdog_usec:
            return None
        return self.watchdog_usec / 2 / 1_000_000

    def ready(self, status: str | None = None) -> bool:
        """Startup or a reload is complete."""
        return self.send("READY=1", *_status(status))

    def reloading(self, status: str | None = None) -> bool:
        """A reload begins; systemd >= 253 wants the monotonic time with it."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", *_status(status))

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown begins."""
        return self.send("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.send(*_status(text))

    async def watchdog(self) -> None:
        """Ping ``WATCHDOG=1`` at half the interval until cancelled; returns at once
        without a watchdog. Run it on the loop it guards."""
        interval = self.watchdog_interval
        if interval is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(interval)

    def send(self, *fields: str) -> bool:
        """Send one datagram of ``KEY=VALUE`` lines; True when the socket took it."""
        if self._target is None or not fields:
            return False
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.settimeout(SEND_TIMEOUT)
                self._sock = sock
            self._sock.sendto("\n".join(fields).encode(), self._target)
        except OSError as exc:
            if not self._failing:
                log.warning(
                    "cannot notify the service manager", socket=self.address, error=str(exc)
                )
            self._failing = True
            return False
        self._failing = False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _target(address: str) -> str | bytes:
    if address.startswith("@"):
        return b"\0" + address[1:].encode()  # Linux abstract namespace
    return address


def _status(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return ("STATUS=" + " ".join(text.split()),)  # one line: a newline would end the field


def _watchdog_usec(usec: str | None, pid: str | None) -> int | None:
    """The watchdog interval meant for this process, or None."""
    if pid and pid.strip() != str(os.getpid()):
        return None  # the watchdog is meant for another process (e.g. our parent)
    try:
        value = int(usec or "")
    except ValueError:
        return None
    return value if value > 0 else None
