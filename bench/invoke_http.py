"""HTTP RequestResponse invoke of a no-op ``async def`` handler vs a bare aiohttp server.

Target (issue 2): hub requests/s >= 0.70 x bare aiohttp requests/s, same load generator
(separate process, 64 connections), same run; p50/p99 reported for both.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import table, write
from bench.load import post_load
from bench.servers import bare_aiohttp, hub

SECONDS = 10.0
BODY = '{"hello": "world"}'


def main() -> None:
    with bare_aiohttp() as url:
        post_load(url + "/warmup", BODY, seconds=2)
        bare = post_load(url + "/", BODY, seconds=SECONDS)
    with tempfile.TemporaryDirectory() as tmp, hub(Path(tmp)) as (url, _):
        invoke = url + "/2015-03-31/functions/noop/invocations"
        post_load(invoke, BODY, seconds=2)
        ours = post_load(invoke, BODY, seconds=SECONDS)
    ratio = ours.rps / bare.rps
    print(
        table(
            ["server", "requests/s", "p50 ms", "p99 ms"],
            [
                ["bare aiohttp", bare.rps, bare.p50_ms, bare.p99_ms],
                ["eventhub invoke", ours.rps, ours.p50_ms, ours.p99_ms],
            ],
        )
    )
    print(
        f"ratio {ratio:.2f} (target >= 0.70: {'met' if ratio >= 0.70 else 'missed'}); load: {ours.tool}, 64 connections"
    )
    print(
        write(
            "invoke_http",
            {
                "target_ratio": 0.70,
                "ratio": ratio,
                "tool": ours.tool,
                "connections": 64,
                "seconds": SECONDS,
                "bare_aiohttp": bare.__dict__,
                "eventhub": ours.__dict__,
            },
        )
    )


if __name__ == "__main__":
    main()
