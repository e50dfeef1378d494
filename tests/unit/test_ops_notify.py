"""sd_notify over a real unix datagram socket: addresses, fields, watchdog settings."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from eventhub.notify import Notifier
from tests.support.sdnotify import NotifyListener


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    received = NotifyListener()
    yield received
    received.close()


def test_abstract_socket_gets_ready_with_status(listener: NotifyListener) -> None:
    notifier = Notifier(listener.address)
    assert notifier.ready("serving 2 functions,\n 0 sources")
    notifier.close()
    message = listener.receive(5)
    assert message == {"READY": "1", "STATUS": "serving 2 functions, 0 sources"}


def test_path_socket_gets_stopping() -> None:
    # A short directory: unix socket paths are limited to 107 bytes.
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        path = Path(directory) / "notify"
        listener = NotifyListener(path)
        try:
            notifier = Notifier(str(path))
            assert notifier.stopping()
            notifier.close()
            assert listener.receive(5) == {"STOPPING": "1"}
        finally:
            listener.close()


def test_reloading_carries_the_monotonic_clock(listener: NotifyListener) -> None:
    before = int(1_000_000 * _monotonic())
    notifier = Notifier(listener.address)
    notifier.reloading()
    notifier.close()
    message = listener.receive(5)
    assert message is not None
    assert message["RELOADING"] == "1"
    assert int(message["MONOTONIC_USEC"]) >= before


def _monotonic() -> float:
    import time

    return time.clock_gettime(time.CLOCK_MONOTONIC)


def test_without_socket_nothing_is_sent_and_nothing_raises() -> None:
    notifier = Notifier(None, watchdog_usec=1_000_000)
    assert not notifier.enabled
    assert not notifier.ready()
    assert notifier.watchdog_interval is None


def test_a_gone_manager_does_not_raise_and_is_reported_once() -> None:
    notifier = Notifier("@eventhub-nobody-listens-here")
    with capture_logs() as logs:
        assert notifier.send("READY=1") is False
        assert notifier.send("WATCHDOG=1") is False
    notifier.close()
    assert [entry["event"] for entry in logs] == ["cannot notify the service manager"]


def test_environment_is_read_and_unset() -> None:
    env = {
        "NOTIFY_SOCKET": "@x",
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": str(os.getpid()),
        "OTHER": "kept",
    }
    notifier = Notifier.from_environ(env)
    assert notifier.address == "@x"
    assert notifier.watchdog_interval == 15.0
    assert env == {"OTHER": "kept"}


@pytest.mark.parametrize(
    ("usec", "pid"),
    [("30000000", "1"), ("0", None), ("soon", None), (None, None)],
    ids=["other-pid", "zero", "garbage", "absent"],
)
def test_watchdog_only_when_meant_for_this_process(usec: str | None, pid: str | None) -> None:
    env = {"NOTIFY_SOCKET": "@x"}
    if usec is not None:
        env["WATCHDOG_USEC"] = usec
    if pid is not None:
        env["WATCHDOG_PID"] = pid
    assert Notifier.from_environ(env).watchdog_interval is None


def test_vsock_is_not_supported() -> None:
    assert not Notifier.from_environ({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled


async def test_watchdog_pings_repeatedly_from_the_loop(listener: NotifyListener) -> None:
    notifier = Notifier(listener.address, watchdog_usec=20_000)
    task = asyncio.create_task(notifier.watchdog())
    try:
        for _ in range(3):
            message = await asyncio.to_thread(listener.receive, 5)
            assert message == {"WATCHDOG": "1"}
    finally:
        task.cancel()
    notifier.close()


async def test_watchdog_returns_at_once_without_interval(listener: NotifyListener) -> None:
    await Notifier(listener.address).watchdog()
    assert listener.receive(0.05) is None
