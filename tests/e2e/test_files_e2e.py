"""files source in the daemon process: kill -9 never loses or repeats an announcement."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from tests.support.daemon import wait_until

pytestmark = pytest.mark.e2e

RECORDER = """
import json, pathlib

OUT = pathlib.Path(__file__).parent.parent / "out.jsonl"

def handler(event, context):
    record = event["Records"][0]
    line = {"name": record["eventName"], "key": record["s3"]["object"]["key"],
            "seq": record["s3"]["object"]["sequencer"]}
    with open(OUT, "a") as out:
        out.write(json.dumps(line) + "\\n")
"""


def seen(workdir: Path) -> list[tuple[str, str, str]]:
    path = workdir / "out.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]
    return [
        (r["name"], unquote_plus(r["key"]), r["seq"]) for r in (json.loads(x) for x in lines if x)
    ]


def config() -> dict[str, Any]:
    return {
        "functions": {"rec": {"handler": "recorder:handler", "code_dir": "functions"}},
        "sources": {
            "up": {"type": "files", "root": "buckets", "bucket": "uploads", "function": "rec"}
        },
    }


def test_changes_during_downtime_are_announced_once(daemon_factory, write_functions, tmp_path):
    write_functions({"recorder": RECORDER})
    bucket = tmp_path / "buckets" / "uploads"
    bucket.mkdir(parents=True)
    daemon = daemon_factory(config())
    for name in ("a", "b", "c"):
        (bucket / name).write_text(name)
    wait_until(lambda: len(seen(tmp_path)) == 3, message="three creates")
    daemon.kill()
    (bucket / "a").write_text("changed while down")
    (bucket / "b").unlink()
    (bucket / "d").write_text("new while down")
    daemon.start()
    wait_until(lambda: len(seen(tmp_path)) == 6, message="three changes after restart")
    daemon.kill()
    daemon.start()  # nothing changed: nothing announced again
    time.sleep(1.5)
    events = seen(tmp_path)
    assert len(events) == 6
    assert sorted((name, key) for name, key, _ in events[3:]) == [
        ("ObjectCreated:Put", "a"),
        ("ObjectCreated:Put", "d"),
        ("ObjectRemoved:Delete", "b"),
    ]
    assert len({seq for _, _, seq in events}) == 6


def test_kill_during_a_burst_loses_and_repeats_nothing(daemon_factory, write_functions, tmp_path):
    write_functions({"recorder": RECORDER})
    bucket = tmp_path / "buckets" / "uploads"
    bucket.mkdir(parents=True)
    daemon = daemon_factory(config())
    keys = [f"burst-{i:03d}.txt" for i in range(400)]
    for key in keys:
        (bucket / key).write_text(key)
    wait_until(lambda: len(seen(tmp_path)) >= 20, message="the burst to start")
    daemon.kill()
    daemon.start()
    wait_until(
        lambda: {k for _, k, _ in seen(tmp_path)} >= set(keys), timeout=60, message="all keys"
    )
    time.sleep(1)
    sequencers: dict[str, set[str]] = defaultdict(set)
    for name, key, seq in seen(tmp_path):
        assert name == "ObjectCreated:Put"
        sequencers[key].add(seq)
    # One announcement per key: a handler may run twice for the same event (an async
    # event re-delivered after the kill), but never for a second announcement.
    assert {key: len(seqs) for key, seqs in sequencers.items() if len(seqs) != 1} == {}
    assert set(sequencers) == set(keys)
