"""schedule source in the daemon process: a seconds rate, kill -9, restart, at()."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import wait_until

pytestmark = pytest.mark.e2e

RECORDER = """
import json, pathlib, time

OUT = pathlib.Path(__file__).parent.parent / "fires.jsonl"

def handler(event, context):
    with open(OUT, "a") as out:
        out.write(json.dumps({"id": event.get("id"), "time": event.get("time"),
                              "resources": event.get("resources"), "at": time.time()}) + "\\n")
"""

SECONDS = {"EVENTHUB_ALLOW_SECOND_RATES": "1"}


def fires(workdir: Path) -> list[dict[str, Any]]:
    path = workdir / "fires.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().split("\n")[:-1] if line]


def config(expression: str) -> dict[str, Any]:
    return {
        "functions": {"rec": {"handler": "recorder:handler", "code_dir": "functions"}},
        "sources": {"tick": {"type": "schedule", "expression": expression, "function": "rec"}},
    }


def test_seconds_rate_survives_kill_9_without_double_fire(
    daemon_factory, write_functions, tmp_path
):
    write_functions({"recorder": RECORDER})
    daemon = daemon_factory(config("rate(1 second)"), env=SECONDS)
    wait_until(lambda: len(fires(tmp_path)) >= 3, timeout=15, message="three fires")
    daemon.kill()
    daemon.start()
    before = len({f["id"] for f in fires(tmp_path)})
    wait_until(lambda: len({f["id"] for f in fires(tmp_path)}) >= before + 3, timeout=15)
    daemon.stop()
    distinct: dict[str, str] = {}
    for fire in fires(tmp_path):
        distinct.setdefault(fire["id"], fire["time"])  # one id per due time
    times = list(distinct.values())
    assert len(times) == len(set(times)), "a due time fired twice"
    assert times == sorted(times)
    first = fires(tmp_path)[0]
    assert first["resources"][0].endswith(":rule/tick")
    for fire in fires(tmp_path):
        due = datetime.strptime(fire["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert fire["at"] >= due.timestamp()  # never early


def test_at_fires_once_across_a_restart(daemon_factory, write_functions, tmp_path):
    write_functions({"recorder": RECORDER})
    when = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    expression = f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"
    daemon = daemon_factory(config(expression))
    wait_until(lambda: fires(tmp_path), timeout=15, message="the one-time fire")
    daemon.kill()
    daemon.start()
    time.sleep(1.5)
    status, body = daemon.admin("GET", "/sources")
    assert status == 200
    (fire,) = fires(tmp_path)
    assert fire["time"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert fire["at"] >= when.timestamp()
    assert "completed" in json.dumps(body)
