"""Reload of a running daemon (POST /reload, SIGHUP): unchanged sources keep running
untouched under load, changed ones drain and restart, removed ones stop, new ones start;
an invalid file changes nothing; a changed function applies to new invocations."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import Daemon, wait_until
from tests.support.ops import (
    RECORDER,
    Producer,
    check_once,
    handled,
    log_count,
    queue_sender,
    reload,
    source,
    stream_sender,
)

pytestmark = pytest.mark.e2e


def config(tmp_path: Path) -> dict[str, Any]:
    def rec(out: str, **env: str) -> dict[str, Any]:
        return {
            "handler": "rec:handler",
            "code_dir": "functions",
            "timeout": 10,
            "environment": {"OUT": str(tmp_path / out), **env},
        }

    return {
        "streams": {"clicks": {"shards": 2}},
        "queues": {"jobs": {}},
        "functions": {
            "rec": rec("seen.jsonl"),
            "audit": rec("audit.jsonl", PAUSE="0.05"),  # a batch is in flight at any moment
            "web": rec("web"),
        },
        "sources": {
            "clicks-in": {"type": "stream", "stream": "clicks", "function": "rec"},
            "jobs-in": {"type": "queue", "queue": "jobs", "function": "rec"},
            "clicks-audit": {
                "type": "stream",
                "stream": "clicks",
                "function": "audit",
                "batch_size": 20,
            },
            "api": {"type": "http", "route": "GET /v1/ping", "function": "web"},
        },
    }


def status_of(daemon: Daemon, path: str) -> int:
    return daemon.request("GET", path)[0]


def test_reloads_under_load_leave_unchanged_mappings_untouched(
    daemon_factory, write_functions, tmp_path
) -> None:
    write_functions({"rec": RECORDER})
    daemon = daemon_factory(config(tmp_path))
    stream, queue = stream_sender(daemon, "clicks"), queue_sender(daemon, "jobs")
    with Producer(stream) as clicks, Producer(queue) as jobs:
        wait_until(lambda: len(handled(tmp_path / "seen.jsonl")) > 20, message="flowing")

        def change(config: dict[str, Any]) -> None:  # a changed route and a changed mapping
            config["sources"]["api"]["route"] = "GET /v2/ping"
            config["sources"]["clicks-audit"]["batch_size"] = 7

        report = reload(daemon, change)["sources"]
        assert sorted(report["changed"]) == ["api", "clicks-audit"]
        assert sorted(report["unchanged"]) == ["clicks-in", "jobs-in"]
        assert (status_of(daemon, "/v1/ping"), status_of(daemon, "/v2/ping")) == (404, 200)

        def add(config: dict[str, Any]) -> None:
            config["sources"]["extra"] = {"type": "http", "route": "GET /extra", "function": "web"}
            config["sources"]["tick"] = {
                "type": "schedule",
                "expression": "rate(1 hour)",
                "function": "web",
            }
            config["functions"]["web"]["environment"]["VERSION"] = "2"  # a changed function

        report = reload(daemon, add)["sources"]
        assert sorted(report["added"]) == ["extra", "tick"]
        assert status_of(daemon, "/extra") == 200

        def remove(config: dict[str, Any]) -> None:
            del config["sources"]["extra"], config["sources"]["tick"]

        report = reload(daemon, remove)["sources"]
        assert sorted(report["removed"]) == ["extra", "tick"]
        assert status_of(daemon, "/extra") == 404
        time.sleep(0.3)  # records keep coming after the last reload
    sent_clicks, sent_jobs = clicks.sent, jobs.sent
    wait_until(
        lambda: (
            len(handled(tmp_path / "seen.jsonl")) >= len(sent_clicks) + len(sent_jobs)
            and len(handled(tmp_path / "audit.jsonl")) >= len(sent_clicks)
        ),
        message="everything handled",
    )
    seen = handled(tmp_path / "seen.jsonl")
    check_once([line for line in seen if "shard" in line], sent_clicks)
    queued = [line for line in seen if "receives" in line]
    check_once(queued, sent_jobs, ordered=False)
    assert {line["receives"] for line in queued} == {1}  # nothing was redelivered
    check_once(handled(tmp_path / "audit.jsonl"), sent_clicks)  # changed: drained, restarted
    # the unchanged mapping's shards were assigned once: it was never reopened
    assert log_count(daemon, "shards assigned", source="clicks-in") == 1
    assert log_count(daemon, "shards assigned", source="clicks-audit") == 2
    assert source(daemon, "jobs-in")["detail"]["redelivered"] == 0


def test_a_removed_mapping_stops_and_comes_back_at_its_checkpoint(
    daemon_factory, write_functions, tmp_path
) -> None:
    write_functions({"rec": RECORDER})
    daemon = daemon_factory(config(tmp_path))
    send = stream_sender(daemon, "clicks")
    send(["k0:0", "k1:0"])
    audit = tmp_path / "audit.jsonl"
    wait_until(lambda: len(handled(audit)) == 2, message="audit consumed")

    original = daemon.config["sources"]["clicks-audit"]
    report = reload(daemon, lambda c: c["sources"].pop("clicks-audit"))["sources"]
    assert report["removed"] == ["clicks-audit"]
    assert "clicks-audit" not in {s["name"] for s in daemon.admin("GET", "/sources")[1]["sources"]}
    send(["k0:1", "k1:1"])
    wait_until(lambda: len(handled(tmp_path / "seen.jsonl")) == 4, message="other mapping")
    assert len(handled(audit)) == 2  # stopped: it took nothing more

    report = reload(daemon, lambda c: c["sources"].update({"clicks-audit": original}))
    assert report["sources"]["added"] == ["clicks-audit"]
    wait_until(lambda: len(handled(audit)) == 4, message="back at its checkpoint")
    check_once(handled(audit), ["k0:0", "k1:0", "k0:1", "k1:1"])


def test_an_invalid_file_is_rejected_and_the_running_config_serves_on(
    daemon_factory, write_functions, tmp_path
) -> None:
    write_functions({"rec": RECORDER})
    daemon = daemon_factory(config(tmp_path))
    good = daemon.config_path.read_text()
    broken = good.replace("shards: 2", "shards: 2\n    colour: blue").replace(
        "route: GET /v1/ping", "route: PING /v1/ping"
    )
    daemon.config_path.write_text(broken)

    status, body = daemon.admin("POST", "/reload")
    assert status == 400
    assert body["__type"] == "InvalidConfiguration"
    assert any("streams.clicks.colour" in error for error in body["errors"]), body
    assert any("sources.api.route" in error for error in body["errors"]), body

    daemon.signal(signal.SIGHUP)  # the same file by signal: logged, rejected
    wait_until(
        lambda: log_count(
            daemon, "reload rejected: the new configuration is invalid; the running one is kept"
        ),
        message="rejection logged",
    )
    rejected = next(e for e in daemon.log_events() if e["event"].startswith("reload rejected"))
    assert any("streams.clicks.colour" in error for error in rejected["errors"])

    # the running configuration serves on: routes, mappings, invocations
    assert status_of(daemon, "/v1/ping") == 200
    stream_sender(daemon, "clicks")(["k0:0"])
    wait_until(lambda: len(handled(tmp_path / "seen.jsonl")) == 1, message="still consuming")
    assert daemon.invoke("rec", {})[0] == 200
    assert log_count(daemon, "configuration reloaded") == 0


def test_a_changed_function_serves_new_invocations_while_old_ones_finish(
    daemon_factory, write_functions, tmp_path
) -> None:
    write_functions({"rec": RECORDER})
    cfg = config(tmp_path)
    cfg["functions"]["web"]["environment"]["VERSION"] = "1"
    daemon = daemon_factory(cfg)
    slow: dict[str, Any] = {}

    def call() -> None:
        slow["reply"] = daemon.invoke("web", {"sleep": 1.5})

    in_flight = threading.Thread(target=call)
    in_flight.start()
    wait_until(
        lambda: any(f["running"] for f in daemon.admin("GET", "/functions")[1]["functions"]),
        message="slow invocation running",
    )

    def bump(config: dict[str, Any]) -> None:
        config["functions"]["web"]["environment"]["VERSION"] = "2"

    report = reload(daemon, bump)
    assert report["functions"]["changed"] == ["web"]
    assert report["sources"]["changed"] == []  # sources invoke by name: none restarts
    assert daemon.invoke("web", {})[2] == {"version": "2"}
    in_flight.join(10)
    status, _, body = slow["reply"]
    assert (status, body) == (200, {"version": "1"})  # finished on the old settings
