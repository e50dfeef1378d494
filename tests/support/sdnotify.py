"""A stand-in for systemd's notification socket: a real unix datagram socket."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path


class NotifyListener:
    """Binds a unix datagram socket (abstract ``@name`` by default, or a path) and
    collects what the daemon sends; ``address`` is the value for ``$NOTIFY_SOCKET``."""

    def __init__(self, path: Path | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path is None:
            name = f"eventhub-test-{uuid.uuid4().hex}"
            self.sock.bind(b"\0" + name.encode())
            self.address = f"@{name}"
        else:
            self.sock.bind(str(path))
            self.address = str(path)
        self.messages: list[dict[str, str]] = []

    def receive(self, timeout: float) -> dict[str, str] | None:
        """The next datagram as a dict of its ``KEY=VALUE`` lines, or None on timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        self.messages.append(fields)
        return fields

    def wait_for(self, key: str, timeout: float = 20.0) -> dict[str, str]:
        """Receive until a message with ``key`` arrives; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is not None and key in message:
                return message
        raise AssertionError(f"no {key} within {timeout}s; got {self.messages}")

    def drain(self, quiet: float = 0.2) -> None:
        """Collect what is still queued."""
        while self.receive(quiet) is not None:
            pass

    def states(self) -> list[str]:
        """The state keys received, in order, without the watchdog pings."""
        keys = ("READY", "RELOADING", "STOPPING")
        return [key for message in self.messages for key in keys if message.get(key) == "1"]

    def close(self) -> None:
        self.sock.close()
