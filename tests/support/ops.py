"""Helpers of the operations tests (reload, admin API, metrics, logs) against a daemon.

``RECORDER`` is a handler for stream (Kinesis-shaped) and queue (SQS-shaped) events that
appends one JSON line per record to ``$OUT``; producers put numbered records
(``key:n``) from a thread while the test reloads or disables sources; ``check_once``
proves every record was handled exactly once and, per key (so per shard), in order.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from prometheus_client.parser import text_string_to_metric_families

from tests.support.daemon import Daemon, read_jsonl

RECORDER = """\
import base64
import json
import os
import time


def handler(event, context):
    lines = []
    for r in event.get("Records", []):
        if "kinesis" in r:
            data = base64.b64decode(r["kinesis"]["data"]).decode()
            lines.append({"shard": r["eventID"].split(":")[0], "data": data})
        elif "body" in r:
            count = int(r["attributes"]["ApproximateReceiveCount"])
            lines.append({"data": r["body"], "receives": count})
    for key, records in event.get("records", {}).items():  # Kafka
        for r in records:
            lines.append({"shard": key, "data": base64.b64decode(r["value"]).decode()})
    for key, messages in event.get("rmqMessagesByQueue", {}).items():  # RabbitMQ
        for m in messages:
            lines.append({"data": base64.b64decode(m["data"]).decode(),
                          "redelivered": m["redelivered"]})
    if lines:
        with open(os.environ["OUT"], "a") as out:
            out.write("".join(json.dumps(line) + "\\n" for line in lines))
    print("handled", len(lines), "records")
    time.sleep(float(os.environ.get("PAUSE", "0")))
    failing = any(line["data"].startswith("fail") for line in lines)
    if failing or event.get("fail") or "fail" in str(event.get("body")):
        raise ValueError("asked to fail")
    if event.get("sleep"):
        time.sleep(float(event["sleep"]))
    return {"version": os.environ.get("VERSION", "")}
"""


def client(daemon: Daemon, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=daemon.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


class Producer:
    """Puts numbered records ``key:n`` from a thread until stopped; ``sent`` lists them."""

    def __init__(self, send: Callable[[list[str]], None], keys: int = 4, batch: int = 5) -> None:
        self._send = send
        self._keys = [f"k{i}" for i in range(keys)]
        self._batch = batch
        self._stop = threading.Event()
        self.sent: list[str] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Producer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        counters = dict.fromkeys(self._keys, 0)
        try:
            while not self._stop.is_set():
                batch = []
                for _ in range(self._batch):
                    key = self._keys[len(self.sent + batch) % len(self._keys)]
                    batch.append(f"{key}:{counters[key]}")
                    counters[key] += 1
                self._send(batch)  # only what was acknowledged counts as sent
                self.sent.extend(batch)
                self._stop.wait(0.02)
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(30)
        if self.error is not None:
            raise self.error
        return self.sent


def stream_sender(daemon: Daemon, stream: str) -> Callable[[list[str]], None]:
    kinesis = client(daemon, "kinesis")

    def send(batch: list[str]) -> None:
        records = [{"PartitionKey": d.split(":")[0], "Data": d.encode()} for d in batch]
        reply = kinesis.put_records(StreamName=stream, Records=records)
        assert reply["FailedRecordCount"] == 0, reply

    return send


def queue_sender(daemon: Daemon, queue: str) -> Callable[[list[str]], None]:
    sqs = client(daemon, "sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]

    def send(batch: list[str]) -> None:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)]
        reply = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not reply.get("Failed"), reply

    return send


def handled(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)


def check_once(lines: list[dict[str, Any]], sent: list[str], ordered: bool = True) -> None:
    """Every sent record handled exactly once; with ``ordered``, per key in sending order."""
    seen = [line["data"] for line in lines]
    duplicates = {d for d, n in Counter(seen).items() if n > 1}
    assert not duplicates, f"handled twice: {sorted(duplicates)[:10]}"
    assert set(seen) == set(sent), f"lost: {sorted(set(sent) - set(seen))[:10]}"
    if ordered:
        by_key: dict[str, list[int]] = defaultdict(list)
        for data in seen:
            key, n = data.split(":")
            by_key[key].append(int(n))
        for key, numbers in by_key.items():
            assert numbers == sorted(numbers), f"{key} out of order: {numbers[:20]}"


def reload(daemon: Daemon, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply ``edit`` to the daemon's config, write it, POST /reload; the report."""
    config = copy.deepcopy(daemon.config)
    edit(config)
    daemon.config = config
    daemon.write_config(config)
    status, report = daemon.admin("POST", "/reload")
    assert status == 200, report
    return dict(report)


def source(daemon: Daemon, name: str) -> dict[str, Any]:
    sources = daemon.admin("GET", "/sources")[1]["sources"]
    return dict(next(s for s in sources if s["name"] == name))


def metrics(daemon: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as ``{(name, sorted labels): value}``."""
    status, _, body = daemon.request("GET", "/metrics", admin=True)
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def metric(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The value of one sample (0 when it does not exist yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def log_count(daemon: Daemon, event: str, **fields: Any) -> int:
    return sum(
        1
        for line in daemon.log_events()
        if line.get("event") == event and all(line.get(k) == v for k, v in fields.items())
    )
