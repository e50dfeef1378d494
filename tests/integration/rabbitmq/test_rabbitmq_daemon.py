"""RabbitMQ mappings in the daemon process against a real node: events, bad input, outage,
kill -9, dead letters to a destination."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from tests.support.daemon import Daemon, read_jsonl, wait_until
from tests.support.ports import free_port
from tests.support.rabbitmq import RabbitNode

pytestmark = pytest.mark.integration

RECORDER = """
import base64, json, os, time
from aws_lambda_powertools.utilities.parser.models import SqsModel

def handler(event, context):
    out = os.environ["OUT"]
    if "Records" in event:
        SqsModel.model_validate(event)
    if "rmqMessagesByQueue" in event:
        (key, messages), = event["rmqMessagesByQueue"].items()
        bodies = [base64.b64decode(m["data"]).decode() for m in messages]
    else:
        key, bodies = "sqs", [r["body"] for r in event["Records"]]
    with open(out + ".seen", "a") as seen:
        for body in bodies:
            seen.write(json.dumps(body) + "\\n")
    if any(b.startswith("poison") for b in bodies):
        raise ValueError("poison")
    if any(b.startswith("slow") for b in bodies) and os.path.exists(out + ".slow"):
        time.sleep(20)
    with open(out, "a") as done:
        for body in bodies:
            done.write(json.dumps({"key": key, "body": body}) + "\\n")
"""


def publish(url: str, queue: str, bodies: list[str]) -> None:
    async def go() -> None:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            for body in bodies:
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        body.encode(),
                        message_id=str(uuid.uuid4()),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=queue,
                )

    asyncio.run(go())


def ready_count(url: str, queue: str) -> int:
    async def go() -> int:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            q = await channel.declare_queue(queue, passive=True)
            return int(q.declaration_result.message_count or 0)

    return asyncio.run(go())


def config(tmp_path: Path, url: str, queue: str, **source: Any) -> dict[str, Any]:
    return {
        "connections": {"rabbit": {"type": "rabbitmq", "url": url}},
        "queues": {"parked": {}},
        "functions": {
            "work": {
                "handler": "recorder:handler",
                "code_dir": "functions",
                "timeout": 30,
                "environment": {"OUT": str(tmp_path / "done.jsonl")},
            }
        },
        "sources": {
            "rabbit-in": {
                "type": "rabbitmq",
                "connection": "rabbit",
                "queue": queue,
                "function": "work",
                "declare": {"queue_type": "quorum"},
                **source,
            }
        },
    }


def handled(tmp_path: Path) -> list[str]:
    return [line["body"] for line in read_jsonl(tmp_path / "done.jsonl")]


def source_status(daemon: Daemon) -> dict[str, Any]:
    return daemon.admin("GET", "/sources")[1]["sources"][0]


def test_rmq_events_end_to_end(rabbit: RabbitNode, daemon_factory, write_functions, tmp_path):
    write_functions({"recorder": RECORDER})
    queue = f"orders-{uuid.uuid4().hex[:6]}"
    daemon = daemon_factory(config(tmp_path, rabbit.url, queue, batch_size=10))
    wait_until(lambda: source_status(daemon)["connected"], message="consuming")
    bodies = [f"order-{i}" for i in range(50)]
    publish(rabbit.url, queue, bodies)
    wait_until(lambda: sorted(handled(tmp_path)) == sorted(bodies), message="all handled")
    assert {line["key"] for line in read_jsonl(tmp_path / "done.jsonl")} == {f"{queue}::/"}
    # the handler wrote its line before the batch was acknowledged and counted
    wait_until(lambda: source_status(daemon)["detail"]["deleted"] == 50, message="all acked")
    assert daemon.admin("GET", "/ready")[0] == 200


def test_sqs_format_and_dead_letter_destination(
    rabbit: RabbitNode, daemon_factory, write_functions, tmp_path
):
    write_functions({"recorder": RECORDER})
    queue = f"mixed-{uuid.uuid4().hex[:6]}"
    cfg = config(
        tmp_path,
        rabbit.url,
        queue,
        event_format="sqs",
        max_receive_count=2,
        dead_letter="queue:parked",
        batch_size=1,
    )
    cfg["sources"]["rabbit-in"]["declare"] = {"queue_type": "classic"}
    daemon = daemon_factory(cfg)
    wait_until(lambda: source_status(daemon)["connected"], message="consuming")
    publish(rabbit.url, queue, ["poison-a", "fine-a", "fine-b"])
    wait_until(lambda: sorted(handled(tmp_path)) == ["fine-a", "fine-b"], message="others")

    def parked() -> list[dict[str, Any]]:
        import boto3

        sqs = boto3.client(
            "sqs",
            endpoint_url=daemon.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        got = sqs.receive_message(QueueUrl=f"{daemon.url}/000000000000/parked")
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    records = wait_until(parked, timeout=30, message="poison parked")
    assert records[0]["body"] == "poison-a"
    assert records[0]["attributes"]["ApproximateReceiveCount"] == "2"
    seen = [json.loads(x) for x in (tmp_path / "done.jsonl.seen").read_text().splitlines()]
    assert seen.count("poison-a") == 2


def test_bad_credentials_and_missing_queue_are_reported(
    rabbit: RabbitNode, daemon_factory, write_functions, tmp_path
):
    write_functions({"recorder": RECORDER})
    bad_url = rabbit.url.replace("guest:guest", "guest:wrong")
    cfg = config(tmp_path, bad_url, "whatever")
    cfg["connections"]["good"] = {"type": "rabbitmq", "url": rabbit.url}
    cfg["sources"]["missing"] = {
        "type": "rabbitmq",
        "connection": "good",
        "queue": f"absent-{uuid.uuid4().hex[:6]}",
        "function": "work",
    }
    down = f"amqp://guest:guest@127.0.0.1:{free_port()}/"  # nothing listens there
    cfg["connections"]["down"] = {"type": "rabbitmq", "url": down}
    cfg["sources"]["unreachable"] = {
        "type": "rabbitmq",
        "connection": "down",
        "queue": "q",
        "function": "work",
    }
    daemon = daemon_factory(cfg)

    def errors() -> dict[str, str]:
        sources = daemon.admin("GET", "/sources")[1]["sources"]
        return {s["name"]: s["last_error"] or "" for s in sources}

    found = wait_until(lambda: all(errors().values()) and errors(), message="errors shown")
    assert "refused the credentials" in found["rabbit-in"]
    assert "wrong" not in found["rabbit-in"]  # no password in messages
    assert "does not exist on the broker" in found["missing"]
    assert "cannot reach RabbitMQ at amqp://guest@127.0.0.1" in found["unreachable"]
    status, ready = daemon.admin("GET", "/ready")
    assert status == 503
    assert sorted(ready["disconnected"]) == ["missing", "rabbit-in", "unreachable"]
    assert daemon.admin("GET", "/health")[0] == 200


def test_kill_9_mid_batch_loses_nothing(
    rabbit: RabbitNode, daemon_factory, write_functions, tmp_path
):
    write_functions({"recorder": RECORDER})
    queue = f"crash-{uuid.uuid4().hex[:6]}"
    (tmp_path / "done.jsonl.slow").touch()
    daemon = daemon_factory(config(tmp_path, rabbit.url, queue, batch_size=5, max_concurrency=2))
    wait_until(lambda: source_status(daemon)["connected"], message="consuming")
    expected = ["slow-0", *(f"m-{i}" for i in range(40))]
    publish(rabbit.url, queue, expected)
    seen = tmp_path / "done.jsonl.seen"
    wait_until(lambda: seen.exists() and "slow-0" in seen.read_text(), message="slow started")
    daemon.kill()
    (tmp_path / "done.jsonl.slow").unlink()
    daemon.start()
    wait_until(lambda: set(handled(tmp_path)) >= set(expected), timeout=60, message="all")


def test_broker_outage_shows_in_ready_and_resumes_losing_nothing(
    daemon_factory, write_functions, tmp_path
):
    write_functions({"recorder": RECORDER})
    node = RabbitNode().start()
    try:
        queue = "outage"
        (tmp_path / "done.jsonl.slow").touch()
        daemon = daemon_factory(config(tmp_path, node.url, queue, batch_size=5))
        wait_until(lambda: source_status(daemon)["connected"], message="consuming")
        first = [f"before-{i}" for i in range(20)]
        publish(node.url, queue, first)
        wait_until(lambda: set(handled(tmp_path)) >= set(first), message="first handled")
        publish(node.url, queue, ["slow-0", "slow-1"])
        seen = tmp_path / "done.jsonl.seen"
        wait_until(lambda: "slow-0" in seen.read_text(), message="a batch in flight")
        node.stop()  # the slow batch is unacknowledged: the quorum queue keeps it
        (tmp_path / "done.jsonl.slow").unlink()
        wait_until(lambda: daemon.admin("GET", "/ready")[0] == 503, message="not ready")
        assert daemon.admin("GET", "/health")[0] == 200
        status = source_status(daemon)
        assert status["connected"] is False
        assert status["last_result"] == "PROBLEM: Connection error."
        assert "connection to RabbitMQ at amqp://" in status["last_error"]
        password = urllib.parse.urlsplit(node.url).password
        assert password
        assert f":{password}@" not in status["last_error"]
        node.start()
        wait_until(lambda: daemon.admin("GET", "/ready")[0] == 200, timeout=60, message="ready")
        second = [f"after-{i}" for i in range(20)]
        publish(node.url, queue, second)
        everything = set(first + second) | {"slow-0", "slow-1"}
        wait_until(lambda: set(handled(tmp_path)) >= everything, timeout=60, message="resumed")
        assert daemon.proc is not None
        assert daemon.proc.poll() is None
        wait_until(lambda: ready_count(node.url, queue) == 0, message="nothing left behind")
    finally:
        node.stop(remove=True)
