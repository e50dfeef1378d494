"""A private RabbitMQ node for the tests: own directory, own ports, stopped by its pid.

``RabbitNode.shared()`` is the session's node (reference counted, so the conftests of
tests/contract and tests/integration/rabbitmq share one); ``RabbitNode().start()`` a
private one for tests that stop and restart the broker. If the node cannot start, the
error carries its log: the run fails loudly, nothing is skipped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from tests.support.ports import free_port, wait_port

SERVER = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
CTL = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
# rabbitmqctl's own Erlang distribution uses 35672..35682 (default dist port + 10000):
# a node must not listen there, or the CLI and the node fight over it.
_CLI_PORTS = range(35672, 35683)


def _port() -> int:
    while True:
        port = free_port()
        if port not in _CLI_PORTS:
            return port


class RabbitNode:
    """One ``rabbitmq-server`` process. ``url`` is ``amqp://guest:guest@127.0.0.1:PORT/``."""

    _shared: ClassVar[RabbitNode | None] = None
    _users: ClassVar[int] = 0

    def __init__(self) -> None:
        self.port = _port()
        self.dist_port = _port()
        self.name = f"evh-{self.port}@localhost"
        self.dir = Path(tempfile.mkdtemp(prefix="evh-rabbit-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @classmethod
    def shared(cls) -> RabbitNode:
        if cls._shared is None:
            cls._shared = cls().start()
        cls._users += 1
        return cls._shared

    @classmethod
    def release(cls) -> None:
        cls._users -= 1
        if cls._users <= 0 and cls._shared is not None:
            node, cls._shared = cls._shared, None
            node.stop(remove=True)

    # -- lifecycle -------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        d = self.dir
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(d / "feature_flags"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),
            "ERL_CRASH_DUMP": str(d / "erl_crash.dump"),
        }

    def _prepare(self) -> None:
        for sub in ("mnesia", "log"):
            (self.dir / sub).mkdir(exist_ok=True)
        (self.dir / "enabled_plugins").write_text("[].\n")
        if os.geteuid() == 0:  # the Debian wrapper runs the node as user rabbitmq
            user = pwd.getpwnam("rabbitmq")
            for path in [self.dir, *self.dir.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)

    def _ctl(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        return subprocess.run(
            [CTL, "-n", self.name, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> RabbitNode:
        """Start (or restart, keeping its data) and wait until it accepts AMQP clients."""
        if not Path(SERVER).exists():
            raise RuntimeError("rabbitmq-server is not installed (`make test` installs it)")
        self._prepare()
        log = (self.dir / "out.log").open("ab")
        self.proc = subprocess.Popen(
            [SERVER],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        pidfile = str(self.dir / "pid")
        for step in (("wait", pidfile, "--timeout", "60"), ("await_startup", "--timeout", "60")):
            done = self._ctl(*step)
            if done.returncode != 0:
                output = done.stdout + done.stderr
                self.kill()
                raise RuntimeError(
                    f"RabbitMQ node {self.name} did not start:\n{output}\n{self.log()}"
                )
        wait_port(self.port, 30)
        return self

    def pid(self) -> int | None:
        try:
            return int((self.dir / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, *, remove: bool = False) -> None:
        """Stop the node (cleanly, else by killing its pid); data is kept unless ``remove``."""
        pid = self.pid()
        if pid is not None and _alive(pid):
            self._ctl("stop", str(self.dir / "pid"), timeout=60)
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        self.kill()
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self) -> None:
        pid = self.pid()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        (self.dir / "pid").unlink(missing_ok=True)

    def log(self) -> str:
        parts = []
        for path in [self.dir / "out.log", *sorted((self.dir / "log").glob("*.log"))]:
            if path.exists():
                parts.append(f"--- {path} ---\n{path.read_text(errors='replace')[-8000:]}")
        return "\n".join(parts)

    def rabbitmqctl(self, *args: str) -> str:
        done = self._ctl(*args)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def rabbit() -> Iterator[RabbitNode]:
    """The session's shared RabbitMQ node (conftests import this fixture)."""
    node = RabbitNode.shared()
    try:
        yield node
    finally:
        RabbitNode.release()
