"""The daemon speaks systemd's notify protocol over a real unix datagram socket."""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time

import pytest

from tests.support.daemon import wait_until
from tests.support.sdnotify import NotifyListener

pytestmark = pytest.mark.e2e


def test_ready_watchdog_reloading_stopping_in_order(daemon_factory, write_functions):
    write_functions({"echo": "def handler(event, context):\n    return event\n"})
    listener = NotifyListener()
    try:
        daemon = daemon_factory(
            {"functions": {"echo": {"handler": "echo:handler", "code_dir": "functions"}}},
            env={"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "400000"},
        )
        ready = listener.wait_for("READY")
        assert ready["STATUS"] == "serving 1 functions, 0 sources"
        for _ in range(3):  # every 0.2 s (half of WATCHDOG_USEC)
            listener.wait_for("WATCHDOG")

        daemon.signal(signal.SIGHUP)
        reloading = listener.wait_for("RELOADING")
        assert int(reloading["MONOTONIC_USEC"]) > 0
        listener.wait_for("READY")

        assert daemon.stop() == 0
        listener.wait_for("STOPPING")
        listener.drain()
    finally:
        listener.close()
    assert listener.states() == ["READY", "RELOADING", "READY", "STOPPING"]
    first_ready = next(i for i, m in enumerate(listener.messages) if "READY" in m)
    reloading_at = next(i for i, m in enumerate(listener.messages) if "RELOADING" in m)
    between = listener.messages[first_ready:reloading_at]
    assert sum("WATCHDOG" in m for m in between) >= 3


def test_rejected_reload_still_reports_ready(daemon_factory, write_functions):
    write_functions({"echo": "def handler(event, context):\n    return event\n"})
    listener = NotifyListener()
    try:
        daemon = daemon_factory(
            {"functions": {"echo": {"handler": "echo:handler", "code_dir": "functions"}}},
            env={"NOTIFY_SOCKET": listener.address},
        )
        listener.wait_for("READY")
        daemon.config_path.write_text("version: 1\nfunctions: {echo: {handler: 42}}\n")
        daemon.signal(signal.SIGHUP)
        listener.wait_for("RELOADING")
        after = listener.wait_for("READY")
        assert "rejected" in after["STATUS"]
        assert daemon.invoke("echo", {"still": "serving"})[2] == {"still": "serving"}
        assert daemon.stop() == 0
        listener.wait_for("STOPPING")
    finally:
        listener.close()
    assert not any("WATCHDOG" in m for m in listener.messages)  # no WATCHDOG_USEC given


def test_a_blocked_event_loop_stops_the_watchdog_pings(daemon_factory, write_functions):
    # An async handler that blocks the loop for 1.5 s: pings come from the loop, so none
    # arrives meanwhile (under systemd a loop stuck for WatchdogSec gets the daemon killed).
    blocking = "import time\nasync def handler(event, context):\n    time.sleep(1.5)\n"
    write_functions({"block": blocking})
    listener = NotifyListener()
    try:
        daemon = daemon_factory(
            {"functions": {"block": {"handler": "block:handler", "code_dir": "functions"}}},
            env={"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "200000"},
        )
        listener.wait_for("WATCHDOG")
        arrivals = [time.monotonic()]
        invoking = threading.Thread(target=daemon.invoke, args=("block",))
        invoking.start()
        deadline = time.monotonic() + 30
        while invoking.is_alive() and time.monotonic() < deadline:
            if listener.receive(0.5) is not None:
                arrivals.append(time.monotonic())
        for _ in range(3):  # pinging again afterwards
            listener.wait_for("WATCHDOG")
            arrivals.append(time.monotonic())
        invoking.join(10)
        assert daemon.stop() == 0
    finally:
        listener.close()
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert max(gaps) >= 1.0  # normally 0.1 s apart


def test_watchdog_abort_shows_where_the_loop_was_stuck(daemon_factory, write_functions):
    # When pings stop, systemd sends SIGABRT (WatchdogSignal): the journal gets the stacks.
    # The handler shrugs off the loop guard's interruption, so the loop stays stuck in it.
    stuck = (
        "import time\n"
        "async def handler(event, context):\n"
        "    while True:\n"
        "        try:\n"
        "            time.sleep(30)\n"
        "        except BaseException:\n"
        "            pass\n"
    )
    write_functions({"stuck": stuck})
    daemon = daemon_factory(
        {"functions": {"stuck": {"handler": "stuck:handler", "code_dir": "functions"}}}
    )

    def invoke() -> None:
        with contextlib.suppress(OSError):  # the daemon dies under the request
            daemon.invoke("stuck")

    invoking = threading.Thread(target=invoke, daemon=True)
    invoking.start()
    wait_until(lambda: "START RequestId" in daemon.log_text(), message="handler running")
    # Abort once the loop guard has given up on the handler: the daemon's other threads are
    # idle then. faulthandler reads every thread's frames without locks, and a thread in
    # the middle of a start-up import can crash that dump (seen once as SIGSEGV).
    wait_until(lambda: "blocked the event loop" in daemon.log_text(), message="loop guard")
    daemon.signal(signal.SIGABRT)
    assert daemon.proc.wait(10) == -signal.SIGABRT
    log = daemon.log_text()
    assert "Fatal Python error: Aborted" in log
    assert re.search(r'stuck\.py", line \d+ in handler', log)
