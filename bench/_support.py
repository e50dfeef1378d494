"""Shared pieces of the stream benchmarks: daemons, brokers, handlers, tables."""

from __future__ import annotations

import json
import os
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.daemon import Daemon

# A no-op handler that notes when it first and last saw records, so throughput excludes
# start-up (and Kafka's group join).
COUNTING_HANDLER = """\
import json
import os
import time

OUT = os.environ["OUT"]
TOTAL = int(os.environ["TOTAL"])
seen = 0
first = None


def handler(event, context):
    global seen, first
    now = time.time()
    if first is None:
        first = now
    if "Records" in event:
        seen += len(event["Records"])
    else:
        seen += sum(len(records) for records in event["records"].values())
    if seen >= TOTAL:
        with open(OUT, "w") as out:
            json.dump({"first": first, "last": time.time(), "seen": seen}, out)
    return None
"""

# Notes put -> handler start latency of records carrying {"t": <send time>}.
LATENCY_HANDLER = """\
import base64
import json
import os
import time

OUT = os.environ["OUT"]


def handler(event, context):
    now = time.time()
    if "Records" in event:
        datas = [r["kinesis"]["data"] for r in event["Records"]]
    else:
        datas = [r["value"] for records in event["records"].values() for r in records]
    with open(OUT, "a") as out:
        for data in datas:
            sent = json.loads(base64.b64decode(data))["t"]
            out.write(f"{(now - sent) * 1000:.3f}\\n")
    return None
"""


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))


def daemon(path: Path, handler: str, config: dict[str, Any]) -> Daemon:
    code = path / "functions"
    code.mkdir(parents=True, exist_ok=True)
    (code / "bench_fn.py").write_text(textwrap.dedent(handler))
    config.setdefault("hub", {})["log_level"] = "warning"
    return Daemon(path, config)


def function(env: dict[str, str]) -> dict[str, Any]:
    return {
        "handler": "bench_fn:handler",
        "code_dir": "functions",
        "timeout": 60,
        "environment": env,
    }


def wait_file(path: Path, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            try:
                return json.loads(path.read_text())  # type: ignore[no-any-return]
            except ValueError:
                pass
        time.sleep(0.05)
    raise TimeoutError(f"{path} not written within {timeout}s")


def sources(d: Daemon) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{d.admin_url}/sources", timeout=10) as reply:  # noqa: S310
        return json.loads(reply.read())["sources"]  # type: ignore[no-any-return]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def cpu_count() -> int:
    return os.cpu_count() or 1
