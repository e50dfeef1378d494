"""The eventhub daemon as a real process, for end-to-end tests.

``Daemon`` writes a config file into a temporary directory, starts
``python -m eventhub run -c FILE`` on free ports, waits for ``/health`` and lets a
test signal, kill -9 and restart it. Its log (JSON lines) is kept in a file and
printed when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.ports import free_port


class Daemon:
    """One daemon process over one state directory; ``restart`` keeps the state."""

    def __init__(self, workdir: Path, config: dict[str, Any], env: dict[str, str] | None = None):
        self.workdir = workdir
        self.port = free_port()
        self.admin_port = free_port()
        hub = config.setdefault("hub", {})
        hub.setdefault("listen", f"127.0.0.1:{self.port}")
        hub.setdefault("admin_listen", f"127.0.0.1:{self.admin_port}")
        hub.setdefault("state_dir", "state")
        hub.setdefault("log_format", "json")
        hub.setdefault("shutdown_grace", 5)
        # Tests edit the file and then reload by SIGHUP or POST /reload, and read what
        # that one reload did; the watch (on by default) is tested on its own.
        hub.setdefault("watch_config", False)
        config.setdefault("version", 1)
        self.config = config
        self.config_path = workdir / "eventhub.yaml"
        self.write_config(config)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = workdir / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def write_config(self, config: dict[str, Any]) -> None:
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self, wait: bool = True, timeout: float = 30.0) -> Daemon:
        self.starts += 1
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "eventhub", "run", "-c", str(self.config_path)],
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(f"{self.admin_url}/health", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"daemon not healthy after {timeout}s:\n{self.log_text()}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """kill -9: no cleanup of any kind."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self, wait: bool = True) -> Daemon:
        self.kill()
        return self.start(wait)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        events = []
        for line in self.log_text().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    # -- HTTP helpers -----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        admin: bool = False,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], bytes]:
        base = self.admin_url if admin else self.url
        req = urllib.request.Request(
            f"{base}{path}", data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as reply:
                return reply.status, dict(reply.headers.items()), reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), exc.read()

    def invoke(
        self,
        name: str,
        payload: Any = None,
        kind: str = "RequestResponse",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        body = json.dumps({} if payload is None else payload).encode()
        status, hdrs, raw = self.request(
            "POST",
            f"/2015-03-31/functions/{name}/invocations",
            body,
            {"X-Amz-Invocation-Type": kind, **(headers or {})},
        )
        return status, hdrs, json.loads(raw) if raw else None

    def admin(self, method: str, path: str) -> tuple[int, Any]:
        status, _, raw = self.request(method, path, admin=True)
        return status, json.loads(raw) if raw else None

    def cli(
        self, *args: str, input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run ``eventhub ARGS -c <this config>`` and capture its output."""
        return subprocess.run(
            [sys.executable, "-m", "eventhub", *args, "-c", str(self.config_path)],
            cwd=self.workdir,
            env=self.env,
            input=input.decode() if input else None,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def wait_until(
    predicate: Any, timeout: float = 20.0, interval: float = 0.05, message: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


def read_jsonl(path: Path) -> list[Any]:
    """The JSON lines of ``path`` (empty when it does not exist yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
