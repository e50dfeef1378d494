"""Helpers of the push-source benchmarks: a daemon on free ports, percentiles, results."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        **data,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@contextmanager
def daemon(
    config: dict[str, Any],
    functions: dict[str, str],
    env: dict[str, str] | None = None,
    cpu: str | None = None,
) -> Iterator[tuple[Path, int]]:
    """The eventhub daemon as a process in a temporary directory; yields (dir, main port)."""
    with tempfile.TemporaryDirectory(prefix="evh-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "functions").mkdir()
        for name, source in functions.items():
            (workdir / "functions" / f"{name}.py").write_text(textwrap.dedent(source))
        port, admin = free_port(), free_port()
        hub = config.setdefault("hub", {})
        hub.update({"listen": f"127.0.0.1:{port}", "admin_listen": f"127.0.0.1:{admin}"})
        hub.setdefault("state_dir", "state")
        hub.setdefault("log_format", "json")
        config.setdefault("version", 1)
        (workdir / "eventhub.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        command = [sys.executable, "-m", "eventhub", "run", "-c", str(workdir / "eventhub.yaml")]
        if cpu is not None:
            command = ["taskset", "-c", cpu, *command]
        log = (workdir / "daemon.log").open("wb")
        proc = subprocess.Popen(
            command, cwd=workdir, env={**os.environ, **(env or {})}, stdout=log, stderr=log
        )
        try:
            wait_http(f"http://127.0.0.1:{admin}/health")
            yield workdir, port
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 - loopback http
                if reply.status < 500:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")
