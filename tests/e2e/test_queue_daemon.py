"""The embedded queue in the daemon process: CLI, boto3, dead letters, redrive, kill -9."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.support.daemon import Daemon, read_jsonl, wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

RECORDER = """
import json, os, time
from aws_lambda_powertools.utilities.parser.models import SqsModel

def handler(event, context):
    SqsModel.model_validate(event)  # the event is exactly AWS's SQS shape
    out = os.environ["OUT"]
    failing = os.path.exists(os.environ.get("FAIL_MARK", "/nonexistent"))
    records = event["Records"]
    with open(out + ".seen", "a") as seen:
        for r in records:
            seen.write(json.dumps(r["body"]) + "\\n")
    if failing and any(r["body"].startswith("poison") for r in records):
        raise ValueError("poison")
    if any(r["body"].startswith("slow") for r in records) and os.path.exists(out + ".slow"):
        time.sleep(30)
    with open(out, "a") as done:
        for r in records:
            count = r["attributes"]["ApproximateReceiveCount"]
            done.write(json.dumps({"body": r["body"], "count": count}) + "\\n")
    return {"batchItemFailures": []}
"""


def config(tmp_path: Path, **source: Any) -> dict[str, Any]:
    return {
        "queues": {
            "jobs": {
                "visibility_timeout": 2,
                "redrive": {"dead_letter_queue": "jobs-dlq", "max_receive_count": 2},
            },
            "jobs-dlq": {},
        },
        "functions": {
            "work": {
                "handler": "recorder:handler",
                "code_dir": "functions",
                "timeout": 2,
                "environment": {
                    "OUT": str(tmp_path / "done.jsonl"),
                    "FAIL_MARK": str(tmp_path / "fail"),
                },
            }
        },
        "sources": {
            "jobs-in": {
                "type": "queue",
                "queue": "jobs",
                "function": "work",
                "batch_size": 10,
                **source,
            }
        },
    }


def bodies(path: Path) -> list[str]:
    return [line["body"] for line in read_jsonl(path)]


def sqs_client(daemon: Daemon) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=daemon.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_send_cli_boto3_and_sources(daemon_factory, write_functions, tmp_path: Path) -> None:
    write_functions({"recorder": RECORDER})
    daemon = daemon_factory(config(tmp_path))
    sent = daemon.cli("send", "jobs", "from-cli", "--attribute", "kind=demo")
    assert sent.returncode == 0, sent.stderr
    assert len(sent.stdout.strip()) == 36  # the message id
    sqs = sqs_client(daemon)
    q = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=q, Entries=[{"Id": str(i), "MessageBody": f"boto-{i}"} for i in range(10)]
    )
    out = tmp_path / "done.jsonl"
    wait_until(lambda: len(bodies(out)) == 11, message="all handled")
    assert set(bodies(out)) == {"from-cli", *(f"boto-{i}" for i in range(10))}
    # the handler wrote its file before the batch's delete committed: wait for that too
    source = wait_until(
        lambda: next(
            (
                s
                for s in daemon.admin("GET", "/sources")[1]["sources"]
                if s["detail"].get("deleted") == 11
            ),
            None,
        ),
        message="deletes committed",
    )
    assert source["connected"] is True
    assert source["last_result"] == "OK"
    assert source["detail"]["deleted"] == 11
    assert source["detail"]["queue"] == "jobs"
    wait_until(
        lambda: "visible" in daemon.admin("GET", "/sources")[1]["sources"][0]["detail"],
        timeout=15,
        message="queue figures",
    )
    _, _, metrics = daemon.request("GET", "/metrics", admin=True)
    assert b'eventhub_queue_messages_total{outcome="deleted",source="jobs-in"} 11.0' in metrics
    assert daemon.admin("GET", "/ready")[0] == 200


def test_cli_errors_are_one_clear_line(daemon_factory, write_functions, tmp_path: Path) -> None:
    write_functions({"recorder": RECORDER})
    daemon = daemon_factory(config(tmp_path))
    missing = daemon.cli("send", "nope", "x")
    assert missing.returncode == 1
    assert "QueueDoesNotExist: The specified queue 'nope' does not exist." in missing.stderr
    (tmp_path / "big.txt").write_text("x" * 1_100_000)
    big = daemon.cli("send", "jobs", f"@{tmp_path / 'big.txt'}")
    assert big.returncode == 1
    assert "InvalidParameterValue" in big.stderr
    assert "shorter than 1048576 bytes" in big.stderr
    assert "Traceback" not in big.stderr


def test_poison_goes_to_the_dlq_and_redrive_brings_it_back(
    daemon_factory, write_functions, tmp_path: Path
) -> None:
    write_functions({"recorder": RECORDER})
    (tmp_path / "fail").touch()
    daemon = daemon_factory(config(tmp_path, batch_size=1, max_concurrency=2))
    for body in ("poison-1", "fine-1", "fine-2"):
        assert daemon.cli("send", "jobs", body).returncode == 0
    out = tmp_path / "done.jsonl"
    wait_until(lambda: sorted(bodies(out)) == ["fine-1", "fine-2"], message="others flow")

    def dead() -> bool:
        _, detail = daemon.admin("GET", "/sources")
        return detail["sources"][0]["detail"].get("dead_letter_depth") == 1

    wait_until(dead, timeout=30, message="poison in the DLQ")
    seen = Counter(
        json.loads(line) for line in (tmp_path / "done.jsonl.seen").read_text().splitlines()
    )
    assert seen["poison-1"] == 2  # exactly max_receive_count receives
    (tmp_path / "fail").unlink()
    moved = daemon.cli("redrive", "jobs-dlq", "--to", "jobs")
    assert moved.returncode == 0, moved.stderr
    assert "moved 1 message(s) from jobs-dlq to jobs" in moved.stdout
    wait_until(lambda: "poison-1" in bodies(out), message="redriven poison handled")


def test_kill_9_mid_batch_loses_nothing(daemon_factory, write_functions, tmp_path: Path) -> None:
    write_functions({"recorder": RECORDER})
    out = tmp_path / "done.jsonl"
    (tmp_path / "done.jsonl.slow").touch()
    daemon = daemon_factory(config(tmp_path, batch_size=5, max_concurrency=3))
    sqs = sqs_client(daemon)
    q = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    expected = [f"slow-{i}" for i in range(5)] + [f"m-{i}" for i in range(60)]
    for start in range(0, len(expected), 10):
        sqs.send_message_batch(
            QueueUrl=q,
            Entries=[
                {"Id": str(i), "MessageBody": b} for i, b in enumerate(expected[start : start + 10])
            ],
        )
    seen = tmp_path / "done.jsonl.seen"
    wait_until(lambda: seen.exists() and "slow" in seen.read_text(), message="slow batch started")
    daemon.kill()
    (tmp_path / "done.jsonl.slow").unlink()
    daemon.start()
    wait_until(lambda: set(bodies(out)) >= set(expected), timeout=60, message="all handled")
    assert not (set(bodies(out)) - set(expected))


def test_invalid_configurations_are_refused(
    daemon_factory, write_functions, tmp_path: Path
) -> None:
    write_functions({"recorder": RECORDER})
    cases = [
        ({"batch_size": 20000}, "sources.jobs-in.batch_size"),
        ({"max_concurrency": 1}, "sources.jobs-in.max_concurrency"),
        ({"batch_window": 301}, "sources.jobs-in.batch_window"),
        ({"queue": "ghost"}, "queue 'ghost' is not defined"),
        ({"batch_size": 50}, "sources.jobs-in.batch_size: over 10 needs batch_window >= 1"),
        ({"batch_size": 50, "batch_window": 0}, "must be >= 1 when batch_size is over 10"),
    ]
    for change, expected in cases:
        daemon = daemon_factory(config(tmp_path, **change), start=False)
        result = daemon.cli("validate")
        assert result.returncode == 1
        assert expected in result.stderr, result.stderr
    slow = config(tmp_path)
    slow["functions"]["work"]["timeout"] = 5
    daemon = daemon_factory(slow, start=False)
    result = daemon.cli("validate")
    assert "exceeds the visibility timeout" in result.stderr


SLOW = """
import json, os, time

def handler(event, context):
    time.sleep(1)
    with open(os.environ["OUT"], "a") as done:
        for r in event["Records"]:
            done.write(json.dumps({"body": r["body"]}) + "\\n")
"""


def test_sigterm_finishes_the_batch_in_flight(daemon_factory, write_functions, tmp_path) -> None:
    write_functions({"recorder": SLOW})
    daemon = daemon_factory(config(tmp_path))
    assert daemon.cli("send", "jobs", "in-flight").returncode == 0
    wait_until(lambda: source_detail(daemon).get("batches_in_flight") == 1, message="in flight")
    assert daemon.stop() == 0
    assert bodies(tmp_path / "done.jsonl") == ["in-flight"]
    daemon.start()  # deleted before exit: not delivered again
    time.sleep(3)  # longer than the visibility timeout: a leftover would be back by now
    assert bodies(tmp_path / "done.jsonl") == ["in-flight"]


def source_detail(daemon: Daemon) -> dict[str, Any]:
    return daemon.admin("GET", "/sources")[1]["sources"][0]["detail"]


def test_reload_adds_queues_to_the_api(daemon_factory, write_functions, tmp_path) -> None:
    write_functions({"recorder": RECORDER})
    daemon = daemon_factory(config(tmp_path))
    sqs = sqs_client(daemon)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="later")
    new = config(tmp_path)
    new["queues"]["later"] = {}
    new["hub"] = daemon.config["hub"]
    daemon.write_config(new)
    status, outcome = daemon.admin("POST", "/reload")
    assert status == 200
    assert outcome["sources"]["unchanged"] == ["jobs-in"]
    assert sqs.get_queue_url(QueueName="later")["QueueUrl"].endswith("/later")


def test_the_demo_configuration_runs_a_queue_mapping(daemon_factory, tmp_path) -> None:
    demo = yaml.safe_load((ROOT / "config" / "eventhub.yaml").read_text())
    demo.pop("hub", None)
    for function in demo["functions"].values():
        function["code_dir"] = str(ROOT / "config" / "functions")
        function.get("async", {}).pop("on_success", None)
    daemon = daemon_factory(demo)
    assert daemon.cli("send", "jobs", '{"task": "resize"}').returncode == 0

    def deleted() -> int:
        sources = daemon.admin("GET", "/sources")[1]["sources"]
        status = next(s for s in sources if s["name"] == "jobs-in")
        assert status["last_error"] is None, status
        return int(status["detail"].get("deleted", 0))

    wait_until(lambda: deleted() == 1, message="demo job handled")
