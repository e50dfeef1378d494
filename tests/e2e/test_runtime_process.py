"""The process runtime under the real daemon: workers never outlive it."""

from __future__ import annotations

import threading

import pytest

from tests.support.daemon import wait_until

pytestmark = pytest.mark.e2e

HANDLERS = {
    "pids": """
        import os
        def handler(event, context):
            return {"pid": os.getpid(), "parent": os.getppid(), "env": os.environ.get("COLOR")}
        """,
    "hang": """
        import os, pathlib, time
        def handler(event, context):
            pathlib.Path(event["file"]).write_text(str(os.getpid()))
            time.sleep(60)
        """,
}


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def config() -> dict[str, object]:
    process = {"code_dir": "functions", "runtime": "process", "memory_mb": 128}
    return {
        "functions": {
            "pids": {**process, "handler": "pids:handler", "environment": {"COLOR": "blue"}},
            "hang": {**process, "handler": "hang:handler", "timeout": 60},
        }
    }


def test_kill_9_of_the_daemon_leaves_no_worker_behind(daemon_factory, write_functions, tmp_path):
    write_functions(HANDLERS)
    daemon = daemon_factory(config())
    status, _, body = daemon.invoke("pids")
    assert status == 200, body
    assert body["parent"] == daemon.proc.pid
    assert body["env"] == "blue"
    idle_worker = body["pid"]

    marker = tmp_path / "hang.pid"

    def call_and_lose_the_daemon() -> None:
        try:
            daemon.invoke("hang", {"file": str(marker)})
        except OSError:  # the daemon is killed while we wait
            pass

    caller = threading.Thread(target=call_and_lose_the_daemon, daemon=True)
    caller.start()
    busy_worker = int(wait_until(lambda: marker.exists() and marker.read_text(), timeout=30))
    assert alive(idle_worker)
    assert alive(busy_worker)

    daemon.kill()  # kills the daemon's process group; workers have sessions of their own

    wait_until(lambda: not alive(idle_worker) and not alive(busy_worker), timeout=10)
    caller.join(10)


def test_sigterm_stops_the_workers(daemon_factory, write_functions):
    write_functions(HANDLERS)
    daemon = daemon_factory(config())
    status, _, body = daemon.invoke("pids")
    assert status == 200, body
    assert alive(body["pid"])
    assert daemon.stop() == 0
    wait_until(lambda: not alive(body["pid"]), timeout=10)


def test_worker_crash_through_the_api(daemon_factory, write_functions):
    write_functions(
        {
            "crash": """
                import os
                def handler(event, context):
                    if event.get("crash"):
                        os._exit(7)
                    return os.getpid()
                """
        }
    )
    daemon = daemon_factory(
        {
            "functions": {
                "crash": {"code_dir": "functions", "handler": "crash:handler", "runtime": "process"}
            }
        }
    )
    _, _, first = daemon.invoke("crash")
    status, headers, body = daemon.invoke("crash", {"crash": True})
    assert status == 200
    assert headers["X-Amz-Function-Error"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Runtime exited with error: exit status 7")
    _, _, after = daemon.invoke("crash")
    assert isinstance(after, int)
    assert after != first
