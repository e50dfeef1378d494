"""1000 malformed requests: only 4xx (or 502/504 from handlers), never a traceback."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

PARSER = """
import json

def handler(event, context):
    body = event.get("body") or "{}"
    return {"parsed": json.loads(body)}
"""


def _valid(method: str = "POST", path: str = "/p/x", headers: str = "", body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: h\r\n{headers}Content-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


def _cases(rng: random.Random) -> list[bytes]:
    fixed = [
        b"FOO /p/x HTTP/1.1\r\nHost: h\r\n\r\n",
        b"get /p/x HTTP/1.1\r\nHost: h\r\n\r\n",
        b"G\x00T /p/x HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /p/x HTTP/9.9\r\nHost: h\r\n\r\n",
        b"GET /p/x\r\n\r\n",
        b"GET\r\n\r\n",
        b"\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET http://other/p/x HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /p/\xff\xfe HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /p/%ff%fe?q=%ff&%fe=1 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /p/x HTTP/1.1\r\nHost: h\r\nX-Bad: \xff\xfe\xfd\r\n\r\n",
        b"GET /p/x HTTP/1.1\r\nHost: h\r\nCookie: \xff=\xfe; a\r\n\r\n",
        b"GET /p/x HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n",
        b"GET /p/x HTTP/1.1\r\nHost: h\r\n: novalue\r\n\r\n",
        b"POST /p/x HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        b"POST /p/x HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
        b"POST /p/x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"POST /p/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
        b"POST /p/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        b"POST /p/x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nshort",
        b"POST /2015-03-31/functions/parser/invocations HTTP/1.1\r\nHost: h\r\n"
        b"Content-Length: 5\r\n\r\n{bad}",
        b"POST / HTTP/1.1\r\nHost: h\r\nX-Amz-Target: Nope.Op\r\nContent-Length: 1\r\n\r\n{",
        _valid(headers="X-Huge: " + "a" * 100_000 + "\r\n"),
        _valid(headers="".join(f"X-H{i}: v\r\n" for i in range(500))),
        _valid(headers="X-" + "n" * 20_000 + ": v\r\n"),
        _valid(path="/p/" + "a" * 20_000),
        _valid(path="/p/x?" + "q=1&" * 5000),
        _valid(body=b'{"broken": '),
        _valid(body=b"\xff\xfe\xfd", headers="Content-Type: application/json\r\n"),
        _valid(body=b"\xff\xfe\xfd", headers="Content-Type: text/plain; charset=utf-8\r\n"),
        _valid(body=b'{"a": "\xed\xa0\x80"}', headers="Content-Type: application/json\r\n"),
        _valid(method="PATCH", path="/2015-03-31/functions/parser/invocations", body=b"{}"),
        _valid(path="/p/../../etc/passwd"),
        _valid(path="/p/%2e%2e/%2e%2e/x"),
        _valid(headers="Authorization: Bearer \xff\r\n"),
        _valid(headers="Origin: x\r\nAccess-Control-Request-Method: \xff\r\n", method="OPTIONS"),
    ]
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW", "X" * 300]
    generated: list[bytes] = []
    while len(fixed) + len(generated) < 1000:
        kind = rng.randrange(6)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        if kind == 0:
            generated.append(junk)
        elif kind == 1:
            generated.append(_valid(method=rng.choice(methods), body=junk))
        elif kind == 2:
            broken_json = b'{"k": [1, 2' + junk[:20]
            generated.append(_valid(body=broken_json, headers="Content-Type: application/json\r\n"))
        elif kind == 3:
            path = "/p/" + junk.decode("latin-1").replace(" ", "%20").replace("\r", "").replace(
                "\n", ""
            )
            generated.append(_valid(path=path))
        elif kind == 4:
            value = junk.decode("latin-1").replace("\r", "").replace("\n", "")
            generated.append(_valid(headers=f"X-Junk: {value}\r\n"))
        else:
            request = bytearray(_valid(body=b'{"ok": 1}'))
            for _ in range(rng.randrange(1, 4)):
                request[rng.randrange(len(request))] = rng.randrange(256)
            generated.append(bytes(request))
    return [
        case.replace(b"Host: h\r\n", b"Host: h\r\nConnection: close\r\n")
        for case in fixed + generated
    ]


async def _send(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunks: list[bytes] = []
    try:
        writer.write(raw)
        await writer.drain()
        chunks = []
        while True:  # until the server closes (Connection: close) or goes quiet
            chunk = await asyncio.wait_for(reader.read(65536), 3)
            if not chunk:
                break
            chunks.append(chunk)
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return b"".join(chunks)


def _statuses(reply: bytes) -> list[int]:
    statuses = []
    for line in reply.split(b"\r\n"):
        if line.startswith(b"HTTP/1.") and len(line) >= 12 and line[9:12].isdigit():
            statuses.append(int(line[9:12]))
    return statuses


async def test_malformed_requests_never_get_a_server_error(
    hub_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    running = await hub_factory(
        {
            "functions": {"parser": {"handler": "parser:handler"}},
            "sources": {
                "p": {"type": "http", "route": "ANY /p/{x}", "function": "parser"},
                "rest": {"type": "http", "route": "$default", "function": "parser"},
            },
        },
        {"parser": PARSER},
    )
    cases = _cases(random.Random(5))
    assert len(cases) == 1000
    limiter = asyncio.Semaphore(16)

    async def one(raw: bytes) -> tuple[bytes, bytes]:
        async with limiter:
            return raw, await _send(running.port, raw)

    with capture_logs() as logs:
        results = await asyncio.gather(*(one(raw) for raw in cases))
    # the hub itself logs no error; handlers failing on broken JSON is their own log
    hub_errors = [
        e for e in logs if e["log_level"] in ("error", "critical") and "request_id" not in e
    ]
    assert not hub_errors
    # nor does aiohttp (through stdlib logging, which the daemon routes into its log)
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR and "aiohttp" in r.name]
    assert not loud, [r.getMessage() for r in loud[:3]]
    seen: dict[int, int] = {}
    for raw, reply in results:
        assert b"Traceback" not in reply, (raw[:200], reply[:500])
        assert b'File "' not in reply, (raw[:200], reply[:500])
        for status in _statuses(reply):
            seen[status] = seen.get(status, 0) + 1
            assert status < 500 or status in (502, 504), (raw[:200], reply[:500])
    assert seen.get(400, 0) > 100  # the parser really rejected things
    assert seen.get(502, 0) > 50  # and broken JSON reached the handler, which failed
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{running.url}/p/x", json={"still": "alive"}) as response:
            assert response.status == 200
            assert await response.json() == {"parsed": {"still": "alive"}}
