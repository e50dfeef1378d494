"""Processes the HTTP benchmarks measure: the hub, and a bare aiohttp baseline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ports import free_port, wait_port

BARE_SERVER = """
import sys
from aiohttp import web

async def handle(request):
    await request.read()
    return web.json_response({"ok": True})

app = web.Application()
app.router.add_post("/{tail:.*}", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


@contextmanager
def bare_aiohttp() -> Iterator[str]:
    """A bare aiohttp server answering every POST with ``{"ok": true}``."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)])
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


@contextmanager
def hub(
    workdir: Path, extra_config: str = "", functions: dict[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """The daemon with a no-op ``async def`` function ``noop``; yields (main URL, admin URL)."""
    port, admin = free_port(), free_port()
    code = workdir / "functions"
    code.mkdir(parents=True, exist_ok=True)
    (code / "noop.py").write_text("async def handler(event, context):\n    return {'ok': True}\n")
    for name, source in (functions or {}).items():
        (code / f"{name}.py").write_text(textwrap.dedent(source))
    config = workdir / "eventhub.yaml"
    config.write_text(
        textwrap.dedent(f"""
        version: 1
        hub:
          listen: 127.0.0.1:{port}
          admin_listen: 127.0.0.1:{admin}
          state_dir: state
          log_format: json
          log_level: info
        functions:
          noop: {{handler: "noop:handler", code_dir: functions, timeout: 30}}
        """)
        + extra_config
    )
    log = open(workdir / "hub.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "PYTHONUNBUFFERED": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "eventhub", "run", "-c", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=workdir,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{admin}/health", timeout=1).close()  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((workdir / "hub.log").read_text()[-3000:]) from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
