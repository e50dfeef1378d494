"""Embedded stream end to end: PutRecords (HTTP, the Kinesis API) -> handler.

400,000 records of 200 bytes in PutRecords calls of 500, sent by a separate client process
over 8 connections into a 4-shard stream; a ``stream`` source (batch 500) invokes a no-op
handler. Reported: the PutRecords accept rate (records acknowledged per second) and the
end-to-end rate (first put to last record handled). Baseline: a bare aiohttp server that
answers the same PutRecords with a canned JSON body, to show what the HTTP layer alone
costs on this machine. Target: >= 50,000 records/s end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from bench._support import COUNTING_HANDLER, daemon, function, table, wait_file, workdir
from tests.support.ports import free_port, wait_port

TOTAL = 400_000
SHARDS = 4
BATCH = 500
CONNECTIONS = 8
TARGET = 50_000

CLIENT = """
import asyncio, base64, json, sys, time
import aiohttp

async def main(url, total, connections):
    data = base64.b64encode(b"x" * 200).decode()
    bodies = [
        json.dumps({"StreamName": "bench", "Records": [
            {"Data": data, "PartitionKey": f"k{i * 500 + j}"} for j in range(500)]}).encode()
        for i in range(total // 500)
    ]
    headers = {"X-Amz-Target": "Kinesis_20131202.PutRecords",
               "Content-Type": "application/x-amz-json-1.1"}
    async with aiohttp.ClientSession() as session:
        start = time.time()

        async def worker():
            while bodies:
                body = bodies.pop()
                async with session.post(url, data=body, headers=headers) as reply:
                    assert reply.status == 200, await reply.text()
                    await reply.read()

        await asyncio.gather(*[worker() for _ in range(connections)])
        print(json.dumps({"start": start, "accepted": time.time()}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""

CANNED = """
import json, sys
from aiohttp import web

reply = json.dumps({"FailedRecordCount": 0, "Records": [
    {"SequenceNumber": "4" * 56, "ShardId": "shardId-000000000000"}] * 500}).encode()

async def handle(request):
    await request.read()
    return web.Response(body=reply, content_type="application/x-amz-json-1.1")

app = web.Application(client_max_size=16 * 1024 * 1024)
app.router.add_post("/", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _client(url: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, url, str(TOTAL), str(CONNECTIONS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _eventhub() -> tuple[float, float]:
    path = workdir("stream")
    out = path / "done.json"
    hub = daemon(
        path,
        COUNTING_HANDLER,
        {
            "streams": {"bench": {"shards": SHARDS}},
            "functions": {"noop": function({"OUT": str(out), "TOTAL": str(TOTAL)})},
            "sources": {
                "bench-in": {
                    "type": "stream",
                    "stream": "bench",
                    "function": "noop",
                    "batch_size": BATCH,
                }
            },
        },
    )
    try:
        hub.start()
        sent = _client(hub.url)
        handled = wait_file(out)
    finally:
        hub.kill()
    accept = TOTAL / (sent["accepted"] - sent["start"])
    end_to_end = TOTAL / (handled["last"] - sent["start"])
    return accept, end_to_end


def _canned() -> float:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", CANNED, str(port)])
    try:
        wait_port(port)
        sent = _client(f"http://127.0.0.1:{port}")
    finally:
        server.kill()
        server.wait()
    return TOTAL / (sent["accepted"] - sent["start"])


def main() -> dict[str, Any]:
    canned = _canned()
    runs = [_eventhub() for _ in range(2)]
    accept = max(a for a, _ in runs)
    end_to_end = max(e for _, e in runs)
    table(
        [
            ("measure", "records/s (best)", "runs"),
            ("bare aiohttp, canned PutRecords reply", f"{canned:,.0f}", ""),
            (
                "eventhub PutRecords accept rate",
                f"{accept:,.0f}",
                ", ".join(f"{a:,.0f}" for a, _ in runs),
            ),
            (
                "eventhub end to end (put -> handler)",
                f"{end_to_end:,.0f}",
                ", ".join(f"{e:,.0f}" for _, e in runs),
            ),
            (f"target end to end >= {TARGET:,}", "met" if end_to_end >= TARGET else "MISSED", ""),
        ]
    )
    return {
        "records": TOTAL,
        "shards": SHARDS,
        "batch_size": BATCH,
        "record_bytes": 200,
        "client_connections": CONNECTIONS,
        "canned_aiohttp_records_per_s": round(canned),
        "accept_records_per_s": [round(a) for a, _ in runs],
        "end_to_end_records_per_s": [round(e) for _, e in runs],
        "target_end_to_end": TARGET,
        "met": end_to_end >= TARGET,
    }
