"""HTTP route (payload 2.0, no-op handler) against a bare aiohttp server, same run.

Target (issue 5): requests/s >= 0.70 x bare aiohttp with 64 connections, and p99 added
latency <= 1 ms. The load generator is ``wrk`` (Debian package) in its own process, or a
small aiohttp client process when wrk is missing; the server and the load generator are
pinned to different CPUs when ``taskset`` exists. Added latency is measured unloaded: one
client process sends requests one after the other over a keep-alive connection.

    python -m bench.http_routes            # full run, writes bench/results/http_routes.json
    python -m bench.http_routes --quick    # shorter runs
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.push_common import daemon, free_port, percentile, table, wait_http, write_result

NOOP_ASYNC = """
async def handler(event, context):
    return {"ok": True}
"""
NOOP_DEF = """
def handler(event, context):
    return {"ok": True}
"""
CONNECTIONS = 64


def _pinning() -> tuple[str | None, str | None]:
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return "0", "1"
    return None, None


@contextmanager
def baseline_server(cpu: str | None) -> Iterator[int]:
    port = free_port()
    command = [sys.executable, "-m", "bench.http_routes", "--serve-baseline", str(port)]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/bench/1")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def contender_server(cpu: str | None, handler: str, log_level: str) -> Iterator[int]:
    config = {
        "hub": {"log_level": log_level},
        "functions": {"noop": {"handler": "noop:handler", "code_dir": "functions"}},
        "sources": {"bench": {"type": "http", "route": "GET /bench/{id}", "function": "noop"}},
    }
    with daemon(config, {"noop": handler}, cpu=cpu) as (_, port):
        wait_http(f"http://127.0.0.1:{port}/bench/1")
        yield port


def serve_baseline(port: int) -> None:
    from aiohttp import web  # noqa: PLC0415

    body = b'{"ok": true}'

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/bench/{id}", handle)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def load(port: int, seconds: float, cpu: str | None) -> dict[str, float]:
    """Requests/s and latency percentiles under CONNECTIONS concurrent connections."""
    url = f"http://127.0.0.1:{port}/bench/42"
    if shutil.which("wrk"):
        command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", url]
    else:
        command = [sys.executable, "-m", "bench.http_routes", "--load", url, str(seconds)]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if not shutil.which("wrk"):
        return json.loads(out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result = {"rps": rps, "non_2xx": float(errors.group(1)) if errors else 0.0}
    for pct in ("50", "99"):
        value = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.MULTILINE)
        result[f"p{pct}_ms"] = _ms(value.group(1)) if value else float("nan")
    return result


def latency(port: int, requests: int, cpu: str | None) -> dict[str, float]:
    """Unloaded latency: sequential requests over one keep-alive connection."""
    command = [
        sys.executable, "-m", "bench.http_routes", "--latency",
        f"http://127.0.0.1:{port}/bench/42", str(requests),
    ]  # fmt: skip
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


async def _latency_client(url: str, requests: int) -> dict[str, float]:
    import aiohttp  # noqa: PLC0415

    samples: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for i in range(requests + 200):
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                assert response.status == 200
            if i >= 200:  # warm-up excluded
                samples.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
        "mean_ms": statistics.fmean(samples),
    }


async def _load_client(url: str, seconds: float) -> dict[str, float]:
    import aiohttp  # noqa: PLC0415

    samples: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
            samples.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(CONNECTIONS)))
    return {
        "rps": len(samples) / seconds,
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
        "non_2xx": 0.0,
    }


def measure(server: Any, seconds: float, requests: int, client_cpu: str | None) -> dict[str, Any]:
    with server as port:
        load(port, 2, client_cpu)  # warm-up: imports, cold start, JIT-free but caches
        loaded = load(port, seconds, client_cpu)
        unloaded = latency(port, requests, client_cpu)
    return {"load": loaded, "latency": unloaded}


def main() -> None:
    quick = "--quick" in sys.argv
    seconds, requests, rounds = (4.0, 1000, 1) if quick else (10.0, 3000, 3)
    server_cpu, client_cpu = _pinning()
    runs: dict[str, list[dict[str, Any]]] = {
        "baseline": [],
        "async": [],
        "def": [],
        "async-info": [],
    }
    for _ in range(rounds):
        runs["baseline"].append(measure(baseline_server(server_cpu), seconds, requests, client_cpu))
        runs["async"].append(
            measure(
                contender_server(server_cpu, NOOP_ASYNC, "warning"), seconds, requests, client_cpu
            )
        )
        runs["async-info"].append(
            measure(contender_server(server_cpu, NOOP_ASYNC, "info"), seconds, requests, client_cpu)
        )
        runs["def"].append(
            measure(
                contender_server(server_cpu, NOOP_DEF, "warning"), seconds, requests, client_cpu
            )
        )
    summary = {name: _summary(results) for name, results in runs.items()}
    base = summary["baseline"]
    rows = [("server", "req/s", "ratio", "p50 (64c)", "p99 (64c)", "p50 1c", "p99 1c", "added p99")]
    for name, s in summary.items():
        rows.append(
            (
                name,
                f"{s['rps']:.0f}",
                f"{s['rps'] / base['rps']:.2f}",
                f"{s['load_p50_ms']:.2f} ms",
                f"{s['load_p99_ms']:.2f} ms",
                f"{s['p50_ms']:.3f} ms",
                f"{s['p99_ms']:.3f} ms",
                f"{s['p99_ms'] - base['p99_ms']:+.3f} ms",
            )
        )
    print(table(rows))
    contender = summary["async"]
    verdict = {
        "ratio": round(contender["rps"] / base["rps"], 3),
        "ratio_target": 0.70,
        "added_p99_ms": round(contender["p99_ms"] - base["p99_ms"], 3),
        "added_p99_target_ms": 1.0,
    }
    print(json.dumps(verdict))
    path = write_result(
        "http_routes",
        {
            "load_generator": "wrk -t1 -c64" if shutil.which("wrk") else "aiohttp client, 64 conns",
            "pinned": server_cpu is not None,
            "seconds_per_run": seconds,
            "rounds": rounds,
            "notes": "contender 'async' = async def no-op handler, payload 2.0, log_level warning "
            "(no START/END/REPORT lines); 'async-info' = same with log_level info (3 JSON log "
            "lines per invocation); 'def' = def handler (thread pool). Medians over rounds.",
            "summary": summary,
            "verdict": verdict,
            "runs": runs,
        },
    )
    print(f"wrote {path}")


def _summary(results: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "rps": statistics.median(r["load"]["rps"] for r in results),
        "load_p50_ms": statistics.median(r["load"]["p50_ms"] for r in results),
        "load_p99_ms": statistics.median(r["load"]["p99_ms"] for r in results),
        "p50_ms": statistics.median(r["latency"]["p50_ms"] for r in results),
        "p99_ms": statistics.median(r["latency"]["p99_ms"] for r in results),
        "non_2xx": max(r["load"]["non_2xx"] for r in results),
    }


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-baseline":
        serve_baseline(int(sys.argv[2]))
    elif len(sys.argv) > 3 and sys.argv[1] == "--latency":
        print(json.dumps(asyncio.run(_latency_client(sys.argv[2], int(sys.argv[3])))))
    elif len(sys.argv) > 3 and sys.argv[1] == "--load":
        print(json.dumps(asyncio.run(_load_client(sys.argv[2], float(sys.argv[3])))))
    else:
        main()
