"""Dispatch overhead of the inline runtime: hub invoke of a no-op async handler vs a direct await.

Target (issue 2): at most 15 µs per call. Measured with the daemon's log level at
``info`` (START/END/REPORT rendered as JSON to /dev/null, as in production) and at
``warning`` (those lines filtered out).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench.common import table, write
from eventhub.config.loader import load_config
from eventhub.functions import FunctionSet
from eventhub.logs import configure_logging
from eventhub.metrics import Metrics
from eventhub.runtime.context import FunctionIdentity, LambdaContext
from eventhub.runtime.environ import install_environ
from eventhub.runtime.logcapture import install_capture

CALLS = 50_000


async def _direct(handler, event) -> float:  # type: ignore[no-untyped-def]
    identity = FunctionIdentity(
        "noop", "arn:aws:lambda:us-east-1:000000000000:function:noop", "128", "/aws/lambda/noop"
    )
    started = time.perf_counter()
    for _ in range(CALLS):
        context = LambdaContext(identity, "id", time.monotonic() + 3, "stream")
        await handler(event, context)
    return (time.perf_counter() - started) / CALLS * 1e6


async def _hub(runtime, event) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for _ in range(CALLS):
        await runtime.invoke(event)
    return (time.perf_counter() - started) / CALLS * 1e6


async def measure(level: str, workdir: Path) -> dict[str, float]:
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives for the whole run
    configure_logging("json", level, stream=devnull)
    loaded = load_config(workdir / "eventhub.yaml")
    functions = FunctionSet(Metrics())
    functions.apply(loaded)
    runtime = functions.runtimes["noop"]
    event = {"hello": "world"}
    await runtime.invoke(event)  # cold start
    sys.path.insert(0, str(workdir))
    from noop import handler  # type: ignore[import-not-found]  # noqa: PLC0415

    direct = min([await _direct(handler, event) for _ in range(3)])
    hub = min([await _hub(runtime, event) for _ in range(3)])
    await functions.aclose()
    return {"direct_us": direct, "hub_us": hub, "overhead_us": hub - direct}


def main() -> None:
    install_capture()
    install_environ()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "noop.py").write_text(
            "async def handler(event, context):\n    return {'ok': True}\n"
        )
        (workdir / "eventhub.yaml").write_text(
            textwrap.dedent("""
            version: 1
            functions:
              noop: {handler: "noop:handler", code_dir: "."}
        """)
        )
        results = {level: asyncio.run(measure(level, workdir)) for level in ("info", "warning")}
    rows = [[level, r["direct_us"], r["hub_us"], r["overhead_us"]] for level, r in results.items()]
    print(table(["log level", "direct µs/call", "hub µs/call", "overhead µs"], rows))
    print(
        f"target: overhead <= 15 µs → {'met' if results['info']['overhead_us'] <= 15 else 'missed'} at info"
    )
    print(write("dispatch", {"calls": CALLS, "target_overhead_us": 15, "results": results}))


if __name__ == "__main__":
    main()
