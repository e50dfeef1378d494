"""``eventhub put`` against the daemon, and its errors."""

from __future__ import annotations

import json

import pytest

from tests.support.daemon import read_jsonl, wait_until
from tests.support.stream_checks import RECORDING_HANDLER

pytestmark = pytest.mark.e2e


def test_put_reaches_the_handler_and_errors_are_one_line(daemon_factory, write_functions, tmp_path):
    write_functions({"rec": RECORDING_HANDLER})
    out = tmp_path / "seen.jsonl"
    daemon = daemon_factory(
        {
            "streams": {"clicks": {"shards": 2}},
            "functions": {
                "rec": {
                    "handler": "rec:handler",
                    "code_dir": "functions",
                    "environment": {"OUT": str(out)},
                }
            },
            "sources": {"in": {"type": "stream", "stream": "clicks", "function": "rec"}},
        }
    )
    done = daemon.cli("put", "clicks", "--key", "user-1", '{"hello": "world"}')
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["ShardId"].startswith("shardId-")
    [line] = wait_until(lambda: read_jsonl(out))
    assert line["data"] == '{"hello": "world"}'
    assert line["shard"] == reply["ShardId"]

    unknown = daemon.cli("put", "nope", "x")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().count("\n") == 0
    assert "ResourceNotFoundException: Stream nope under account" in unknown.stderr

    daemon.stop()
    down = daemon.cli("put", "clicks", "x")
    assert down.returncode == 1
    assert "cannot reach the daemon" in down.stderr
    assert "Traceback" not in down.stderr
