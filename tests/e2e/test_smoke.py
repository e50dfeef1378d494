"""The daemon starts as a process, answers an invoke, and exits 0 on SIGTERM."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_invoke_roundtrip_and_clean_exit(daemon_factory, write_functions):
    write_functions({"echo": "def handler(event, context):\n    return {'got': event}\n"})
    daemon = daemon_factory(
        {"functions": {"echo": {"handler": "echo:handler", "code_dir": "functions"}}}
    )
    status, headers, body = daemon.invoke("echo", {"a": 1})
    assert status == 200
    assert body == {"got": {"a": 1}}
    assert headers["X-Amz-Executed-Version"] == "$LATEST"
    assert daemon.stop() == 0
