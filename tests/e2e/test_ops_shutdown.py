"""Staged shutdown under load: in-flight sync invokes answer, the process exits 0 within
the grace period, accepted async events are delivered after the restart; a second
interrupt exits at once without losing accepted events either."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from tests.support.daemon import read_jsonl, wait_until

pytestmark = pytest.mark.e2e

GRACE = 3

WORK = """
import json
import os
import time

def _note(name, event):
    with open(os.path.join(os.environ["OUT_DIR"], name), "a") as handle:
        handle.write(json.dumps(event) + "\\n")

def handler(event, context):
    _note("started.jsonl", event)
    time.sleep(float(os.environ["SLOW"]))
    _note("done.jsonl", event)
    return event
"""


def _config(out: Path, slow_async: float, grace: float = GRACE) -> dict:
    def fn(slow: float, **extra) -> dict:
        env = {"OUT_DIR": str(out), "SLOW": str(slow)}
        return {"handler": "work:handler", "code_dir": "functions", "timeout": 60,
                "environment": env, **extra}  # fmt: skip

    return {
        "hub": {"shutdown_grace": grace},
        "functions": {
            "background": fn(slow_async, reserved_concurrency=2),
            "request": fn(1.0),
        },
    }


def _accept_async(daemon, count: int) -> list[str]:
    ids = [f"a{i}" for i in range(count)]
    for event_id in ids:
        status, _, _ = daemon.invoke("background", {"id": event_id}, kind="Event")
        assert status == 202
    return ids


def _start_fast(daemon, out: Path) -> None:
    daemon.config["functions"] = _config(out, slow_async=0)["functions"]
    daemon.write_config(daemon.config)
    daemon.start()


def _ids(path: Path) -> list[str]:
    return [event["id"] for event in read_jsonl(path)]


def test_sigterm_under_load_drains_sync_and_keeps_async(daemon_factory, write_functions, tmp_path):
    write_functions({"work": WORK})
    out = tmp_path / "out"
    out.mkdir()
    daemon = daemon_factory(_config(out, slow_async=30))
    accepted = _accept_async(daemon, 6)
    answers: dict[str, tuple] = {}

    def call(event_id: str) -> None:
        answers[event_id] = daemon.invoke("request", {"id": event_id})[::2]

    callers = [threading.Thread(target=call, args=(f"s{i}",)) for i in range(3)]
    for caller in callers:
        caller.start()
    wait_until(lambda: len(_ids(out / "started.jsonl")) == 5, message="2 async + 3 sync running")

    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(GRACE + 10) == 0
    elapsed = time.monotonic() - started
    for caller in callers:
        caller.join(10)
    assert answers == {f"s{i}": (200, {"id": f"s{i}"}) for i in range(3)}
    assert elapsed < GRACE + 3  # the 30 s handlers were abandoned after the grace period
    assert not set(_ids(out / "done.jsonl")) & set(accepted)  # none finished before exit

    _start_fast(daemon, out)
    wait_until(
        lambda: set(accepted) <= set(_ids(out / "done.jsonl")),
        timeout=30,
        message="every accepted event delivered after the restart",
    )
    assert daemon.stop() == 0


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_second_interrupt_exits_at_once(daemon_factory, write_functions, tmp_path, first):
    write_functions({"work": WORK})
    out = tmp_path / "out"
    out.mkdir()
    daemon = daemon_factory(_config(out, slow_async=30, grace=60))
    accepted = _accept_async(daemon, 4)
    wait_until(lambda: len(_ids(out / "started.jsonl")) == 2, message="2 async running")

    daemon.signal(first)
    wait_until(lambda: any(e["event"] == "shutting down" for e in daemon.log_events()))
    daemon.signal(signal.SIGINT)
    assert daemon.proc.wait(10) == 130  # not the 60 s grace period
    assert any(e["event"] == "second interrupt: exiting now" for e in daemon.log_events())

    _start_fast(daemon, out)
    wait_until(
        lambda: set(accepted) <= set(_ids(out / "done.jsonl")),
        timeout=30,
        message="every accepted event delivered after the restart",
    )
    assert daemon.stop() == 0
