"""Async (Event) invocation: durable accept rate and accept -> handler-start latency.

Targets (issue 2): accept rate >= 5,000 events/s; at light load p50 <= 10 ms and p99
reported. Accepting means the event is committed to SQLite before the 202.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import summary, table, write
from bench.load import post_load
from bench.servers import hub

RECORDER = """
import json, time
OUT = open("starts.jsonl", "a", buffering=1)

async def handler(event, context):
    OUT.write(json.dumps({"sent": event.get("sent"), "start": time.time()}) + "\\n")
    return None
"""

EXTRA = """
  recorder: {handler: "recorder:handler", code_dir: functions, timeout: 30}
"""


def _send(url: str, payload: dict[str, object]) -> None:
    req = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"X-Amz-Invocation-Type": "Event"},
    )
    with urllib.request.urlopen(req, timeout=10) as reply:  # noqa: S310
        assert reply.status == 202


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        hub(Path(tmp), EXTRA, {"recorder": RECORDER}) as (url, _),
    ):
        noop = url + "/2015-03-31/functions/noop/invocations"
        post_load(noop, '{"n": 1}', seconds=2, headers={"X-Amz-Invocation-Type": "Event"})
        accept = post_load(noop, '{"n": 1}', seconds=10, headers={"X-Amz-Invocation-Type": "Event"})
        time.sleep(2)
        recorder = url + "/2015-03-31/functions/recorder/invocations"
        for _ in range(500):  # light load: 50 events/s
            _send(recorder, {"sent": time.time()})
            time.sleep(0.02)
        time.sleep(2)
        starts = [
            json.loads(line) for line in (Path(tmp) / "starts.jsonl").read_text().splitlines()
        ]
    latencies = [(s["start"] - s["sent"]) * 1000 for s in starts]
    lat = summary(latencies)
    print(
        table(
            ["measure", "value", "target"],
            [
                ["accept rate (events/s)", accept.rps, ">= 5,000"],
                ["accept p99 ms (64 conns)", accept.p99_ms, ""],
                ["accept->start p50 ms", lat["p50"], "<= 10"],
                ["accept->start p99 ms", lat["p99"], ""],
                ["events delivered (light load)", len(latencies), "500"],
            ],
        )
    )
    print(
        write(
            "async_invoke",
            {
                "accept_rps": accept.rps,
                "accept_p50_ms": accept.p50_ms,
                "accept_p99_ms": accept.p99_ms,
                "latency_ms": lat,
                "delivered": len(latencies),
                "targets": {"accept_rps": 5000, "p50_ms": 10},
            },
        )
    )


if __name__ == "__main__":
    main()
