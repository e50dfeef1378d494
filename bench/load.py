"""HTTP load from a separate process: wrk when installed, else a small aiohttp client."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CLIENT = r"""
import asyncio, json, sys, time
import aiohttp

async def main(url, body, conns, seconds, headers):
    latencies = []
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as session:
        async def worker():
            while time.monotonic() < stop:
                t = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                latencies.append(time.perf_counter() - t)
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(conns)))
        elapsed = time.monotonic() - started
    latencies.sort()
    pick = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000
    print(json.dumps({"rps": len(latencies) / elapsed, "p50_ms": pick(50), "p99_ms": pick(99)}))

asyncio.run(main(sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5])))
"""


@dataclass(frozen=True)
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    tool: str


def post_load(
    url: str,
    body: str,
    *,
    connections: int = 64,
    seconds: float = 10.0,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """POST ``body`` to ``url`` as fast as ``connections`` keep-alive connections can."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    if shutil.which("wrk"):
        return _wrk(url, body, connections, seconds, headers)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CLIENT,
            url,
            body,
            str(connections),
            str(seconds),
            json.dumps(headers),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    return LoadResult(data["rps"], data["p50_ms"], data["p99_ms"], "aiohttp-client")


def _wrk(
    url: str, body: str, connections: int, seconds: float, headers: dict[str, str]
) -> LoadResult:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text("\n".join(lines) + "\n")
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return LoadResult(rps, _wrk_latency(out, "50%"), _wrk_latency(out, "99%"), "wrk")


def _wrk_latency(out: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", out)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
