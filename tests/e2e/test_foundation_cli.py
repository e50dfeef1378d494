"""The ``eventhub`` command as a user types it, against the daemon and with --local."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_lambda_powertools.utilities.parser import models

from tests.support.daemon import Daemon, read_jsonl, wait_until
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e

HANDLER = """
import logging
def handler(event, context):
    print("working on", event)
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError("cannot do it")
    return {"got": event}
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("cli")
    (workdir / "functions").mkdir()
    (workdir / "functions" / "cli_work.py").write_text(textwrap.dedent(HANDLER))
    (workdir / "functions" / "cli_stuck.py").write_text(
        "import time\ndef handler(event, context):\n    time.sleep(60)\n"
    )
    config: dict[str, Any] = {
        "functions": {
            "work": {
                "handler": "cli_work:handler",
                "code_dir": "functions",
                "async": {"on_success": "file:out/ok.jsonl"},
            },
            "stuck": {"handler": "cli_stuck:handler", "code_dir": "functions", "timeout": 1},
        }
    }
    running = Daemon(workdir, config)
    running.start()
    yield running
    running.kill()


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("eventhub: ")
    return lines[0]


def test_invoke_sync_with_json_payload(daemon: Daemon) -> None:
    result = daemon.cli("invoke", "work", "--payload", '{"n": 1}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"got": {"n": 1}}
    assert result.stderr == ""


def test_invoke_payload_from_file_and_stdin(daemon: Daemon) -> None:
    payload = daemon.workdir / "payload.json"
    payload.write_text('{"from": "file"}')
    result = daemon.cli("invoke", "work", "--payload", f"@{payload}")
    assert json.loads(result.stdout) == {"got": {"from": "file"}}
    result = daemon.cli("invoke", "work", "--payload", "-", input=b'{"from": "stdin"}')
    assert json.loads(result.stdout) == {"got": {"from": "stdin"}}


def test_invoke_async_and_dry_run(daemon: Daemon) -> None:
    result = daemon.cli("invoke", "work", "--type", "async", "--payload", '{"n": "async"}')
    assert result.returncode == 0, result.stderr
    accepted = json.loads(result.stdout)
    assert accepted["StatusCode"] == 202
    wait_until(
        lambda: any(
            r["requestContext"]["requestId"] == accepted["RequestId"]
            for r in read_jsonl(daemon.workdir / "out" / "ok.jsonl")
        ),
        message="the async invocation's on_success record",
    )
    result = daemon.cli("invoke", "work", "--type", "dry-run")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"StatusCode": 204}


def test_invoke_with_log_prints_the_tail_to_stderr(daemon: Daemon) -> None:
    result = daemon.cli("invoke", "work", "--payload", '"x"', "--log")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"got": "x"}
    assert "START RequestId:" in result.stderr
    assert "working on x" in result.stderr


def test_function_error_prints_the_error_and_exits_1(daemon: Daemon) -> None:
    result = daemon.cli("invoke", "work", "--payload", '{"fail": true}')
    assert result.returncode == 1
    assert json.loads(result.stdout)["errorType"] == "RuntimeError"
    assert result.stderr == "eventhub: function error (Unhandled): RuntimeError\n"


def test_unknown_function_is_one_line(daemon: Daemon) -> None:
    line = one_error_line(daemon.cli("invoke", "nope"))
    assert line == (
        "eventhub: ResourceNotFoundException: Function not found: "
        "arn:aws:lambda:us-east-1:000000000000:function:nope"
    )


def test_bad_payload_is_one_line(daemon: Daemon) -> None:
    line = one_error_line(daemon.cli("invoke", "work", "--payload", "{oops"))
    assert line.startswith("eventhub: payload is not JSON: ")


def test_daemon_not_running_is_one_line(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "eventhub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "hub": {
                    "listen": f"127.0.0.1:{port}",
                    "admin_listen": f"127.0.0.1:{free_port()}",
                },
                "functions": {"f": {"handler": "f:handler"}},
            }
        )
    )
    result = cli(tmp_path, "invoke", "f", "-c", str(config))
    line = one_error_line(result)
    assert line.startswith(f"eventhub: cannot reach the daemon at http://127.0.0.1:{port}")
    assert "eventhub run" in line
    line = one_error_line(cli(tmp_path, "status", "-c", str(config)))
    assert "cannot reach the daemon" in line


def test_bad_config_exits_1_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "eventhub.yaml"
    config.write_text("version: 1\nfunctions:\n  f: {handler: 'f:handler', timeout: 0}\n")
    # (clients of a running daemon, such as `invoke`, read only hub's addresses)
    for command in (["validate"], ["invoke", "f", "--local"], ["run"]):
        result = cli(tmp_path, *command, "-c", str(config))
        assert result.returncode == 1, (command, result)
        assert "functions.f.timeout" in result.stderr
        assert "Traceback" not in result.stderr


def test_missing_config_file_exits_1(tmp_path: Path) -> None:
    result = cli(tmp_path, "validate", "-c", str(tmp_path / "absent.yaml"))
    assert result.returncode == 1
    assert "no such file" in result.stderr
    assert "Traceback" not in result.stderr


# -- --local ---------------------------------------------------------------------------


def test_local_invoke_runs_in_process(daemon: Daemon) -> None:
    result = daemon.cli("invoke", "work", "--local", "--payload", '{"n": "local"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"got": {"n": "local"}}  # only the result on stdout
    assert "working on {'n': 'local'}" in result.stderr  # the handler's output: stderr
    assert "REPORT RequestId:" in result.stderr


def test_local_invoke_error_dry_run_and_unknown(daemon: Daemon) -> None:
    result = daemon.cli("invoke", "work", "--local", "--payload", '{"fail": true}')
    assert result.returncode == 1
    assert json.loads(result.stdout)["errorMessage"] == "cannot do it"
    result = daemon.cli("invoke", "work", "--local", "--type", "dry-run")
    assert (result.returncode, json.loads(result.stdout)) == (0, {"StatusCode": 204})
    line = one_error_line(daemon.cli("invoke", "nope", "--local"))
    assert "nope" in line
    line = one_error_line(daemon.cli("invoke", "work", "--local", "--type", "async"))
    assert "--local" in line


def test_local_invoke_of_a_stuck_handler_ends_after_its_timeout(daemon: Daemon) -> None:
    started = time.monotonic()
    result = daemon.cli("invoke", "stuck", "--local")
    assert time.monotonic() - started < 10  # the handler would sleep 60 s
    assert result.returncode == 1
    error = json.loads(result.stdout)
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"] == "Task timed out after 1.00 seconds"


# -- events generate and run -----------------------------------------------------------


def test_events_generate_as_a_command(tmp_path: Path) -> None:
    result = cli(tmp_path, "events", "generate", "sqs", "--body", "hello")
    assert result.returncode == 0, result.stderr
    event = models.SqsModel.model_validate_json(result.stdout)
    assert event.Records[0].body == "hello"
    result = cli(tmp_path, "events", "generate", "nonsense")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_run_with_the_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "eventhub.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "hub": {
                        "listen": f"127.0.0.1:{port}",
                        "admin_listen": f"127.0.0.1:{free_port()}",
                        "state_dir": "state",
                        "log_format": "json",
                    },
                }
            )
        )
        result = cli(tmp_path, "run", "-c", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("eventhub: ")]
    assert len(errors) == 1, result.stderr
    assert f"127.0.0.1:{port}" in errors[0]
    assert "hub.listen" in errors[0]
    assert "in use" in errors[0]


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventhub", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_tail_is_base64_of_the_log(daemon: Daemon) -> None:
    status, headers, _ = daemon.invoke("work", {"n": 5}, headers={"X-Amz-Log-Type": "Tail"})
    assert status == 200
    assert "working on {'n': 5}" in base64.b64decode(headers["X-Amz-Log-Result"]).decode()
