"""The Invoke API as AWS answers it: status codes, headers, error bodies, limits, auth."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import json
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from eventhub.invoke.invoker import Invoker
from tests.support.daemon import read_jsonl
from tests.support.functions import InProcessHub, capture_output

ECHO = """
import asyncio
CALLS = []

async def handler(event, context):
    CALLS.append(event)
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError("bad order")
    if isinstance(event, dict) and event.get("print"):
        print("hello from the handler")
    cc = context.client_context
    return {"event": event, "arn": context.invoked_function_arn,
            "custom": cc.custom if cc else None}
"""

GATED = """
import asyncio
GATE = asyncio.Event()
async def handler(event, context):
    await GATE.wait()
    return "done"
"""

PATH = "/2015-03-31/functions/{}/invocations"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:{}"


class Client:
    def __init__(self, hub: InProcessHub, session: aiohttp.ClientSession) -> None:
        self.hub = hub
        self.session = session

    async def invoke(
        self,
        name: str,
        body: Any = b"{}",
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> tuple[int, dict[str, str], bytes]:
        all_headers = dict(headers or {})
        if kind is not None:
            all_headers["X-Amz-Invocation-Type"] = kind
        url = self.hub.url + PATH.format(name) + query
        async with self.session.post(url, data=body, headers=all_headers) as response:
            return response.status, dict(response.headers), await response.read()


@pytest.fixture
async def start_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    started: list[InProcessHub] = []
    session = aiohttp.ClientSession()

    async def start(
        functions: dict[str, dict[str, Any]] | None = None,
        sources: dict[str, str] | None = None,
        hub: dict[str, Any] | None = None,
    ) -> Client:
        capture_output(monkeypatch)  # as `eventhub run` installs it for its process
        running = InProcessHub(tmp_path, functions or {"echo": {}}, sources or {"echo": ECHO}, hub)
        await running.start()
        started.append(running)
        return Client(running, session)

    with capture_logs():
        yield start
        await session.close()
        for running in started:
            await running.aclose()


def error_of(headers: dict[str, str], body: bytes) -> tuple[str, dict[str, Any]]:
    assert b"Traceback" not in body
    assert headers["Content-Type"].startswith("application/json")
    document = json.loads(body)
    assert document["Type"] == "User"
    return headers["x-amzn-ErrorType"], document


async def test_request_response_answers_200_with_the_result(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    status, headers, body = await client.invoke("echo", b'{"a": 1}')
    assert status == 200
    assert headers["X-Amz-Executed-Version"] == "$LATEST"
    assert headers["Content-Type"].startswith("application/json")
    assert "X-Amz-Function-Error" not in headers
    assert "X-Amz-Log-Result" not in headers
    assert json.loads(body) == {"event": {"a": 1}, "arn": ARN.format("echo"), "custom": None}


async def test_explicit_request_response_and_empty_body(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    status, _, body = await client.invoke("echo", b"", kind="RequestResponse")
    assert status == 200
    assert json.loads(body)["event"] == {}


async def test_function_error_is_200_with_x_amz_function_error(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    status, headers, body = await client.invoke("echo", b'{"fail": true}')
    assert status == 200
    assert headers["X-Amz-Function-Error"] == "Unhandled"
    assert headers["X-Amz-Executed-Version"] == "$LATEST"
    error = json.loads(body)
    assert set(error) == {"errorMessage", "errorType", "stackTrace", "requestId"}
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "bad order")
    assert error["requestId"] == headers["x-amzn-RequestId"]


async def test_event_is_202_and_delivered(
    start_hub: Callable[..., Awaitable[Client]], tmp_path: Path
) -> None:
    client = await start_hub({"echo": {"async": {"on_success": "file:out/ok.jsonl"}}})
    status, headers, body = await client.invoke("echo", b'{"n": 1}', kind="Event")
    assert status == 202
    assert body == b""
    for _ in range(500):
        records = read_jsonl(tmp_path / "out" / "ok.jsonl")
        if records:
            break
        await asyncio.sleep(0.01)
    assert records[0]["requestContext"]["requestId"] == headers["x-amzn-RequestId"]


async def test_dry_run_is_204_and_does_not_invoke(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    status, _, body = await client.invoke("echo", b'{"n": 1}', kind="DryRun")
    assert status == 204
    assert body == b""
    assert client.hub.module("echo") is None  # never even imported


async def test_unknown_invocation_type_is_400(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    status, headers, body = await client.invoke("echo", kind="Later")
    assert status == 400
    code, _ = error_of(headers, body)
    assert code == "InvalidParameterValueException"


@pytest.mark.parametrize("kind", ["RequestResponse", "Event", "DryRun"])
async def test_unknown_function_is_404_resource_not_found(
    start_hub: Callable[..., Awaitable[Client]], kind: str
) -> None:
    client = await start_hub()
    status, headers, body = await client.invoke("nope", kind=kind)
    assert status == 404
    code, document = error_of(headers, body)
    assert code == "ResourceNotFoundException"
    assert document["Message"] == f"Function not found: {ARN.format('nope')}"


@pytest.mark.parametrize(
    ("name", "query", "status"),
    [
        ("echo", "?Qualifier=%24LATEST", 200),
        ("echo:$LATEST", "", 200),
        ("echo", "?Qualifier=prod", 404),
        ("echo:prod", "", 404),
        ("echo", "?Qualifier=3", 404),
        (ARN.format("echo"), "", 200),
        (ARN.format("echo") + ":$LATEST", "", 200),
        (ARN.format("echo") + ":live", "", 404),
        ("000000000000:function:echo", "", 200),
        ("000000000000:function:nope", "", 404),
        # an ARN of another account or region names a function this hub does not have
        ("111111111111:function:echo", "", 404),
        ("arn:aws:lambda:us-east-1:111111111111:function:echo", "", 404),
        ("arn:aws:lambda:eu-west-1:000000000000:function:echo", "", 404),
    ],
)
async def test_names_arns_and_qualifiers(
    start_hub: Callable[..., Awaitable[Client]], name: str, query: str, status: int
) -> None:
    client = await start_hub()
    got, headers, body = await client.invoke(urllib.parse.quote(name, safe=""), query=query)
    assert got == status, body
    if status == 404:
        code, document = error_of(headers, body)
        assert code == "ResourceNotFoundException"
        assert document["Message"].count(":function:") == 1


async def test_every_name_the_config_accepts_can_be_invoked(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub({"orders.v2": {}}, {"orders.v2": ECHO})
    for name in ("orders.v2", urllib.parse.quote(ARN.format("orders.v2"), safe="")):
        status, headers, body = await client.invoke(name)
        assert status == 200, body
        assert "X-Amz-Function-Error" not in headers, body
        assert json.loads(body)["arn"] == ARN.format("orders.v2")


async def test_unknown_log_type_is_400_and_runs_nothing(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    status, headers, body = await client.invoke("echo", headers={"X-Amz-Log-Type": "Bogus"})
    assert status == 400
    code, _ = error_of(headers, body)
    assert code == "InvalidParameterValueException"
    assert client.hub.module("echo") is None  # never imported, so never ran


async def test_a_body_that_stops_arriving_is_answered_400_not_held_open(
    start_hub: Callable[..., Awaitable[Client]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventhub.api.errors.BODY_TIMEOUT", 0.2)
    client = await start_hub()
    reader, writer = await asyncio.open_connection("127.0.0.1", client.hub.hub.main_port)
    writer.write(
        f"POST {PATH.format('echo')} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{{}}".encode()
    )
    await writer.drain()
    async with asyncio.timeout(10):
        head = await reader.readline()
        rest = await reader.read(65536)
    writer.close()
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"did not arrive within" in rest
    assert client.hub.module("echo") is None  # never ran


async def test_invalid_function_name_is_a_clear_400(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    status, headers, body = await client.invoke(urllib.parse.quote("bad name!", safe=""))
    assert status == 400
    code, document = error_of(headers, body)
    assert code == "ValidationException"  # Lambda's answer to a name outside its pattern
    assert "'bad name!' at 'functionName'" in document["message"]


async def test_body_that_is_not_json_is_400(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    too_deep = b"[" * 100_000 + b"]" * 100_000  # valid JSON the parser cannot nest into
    for kind in ("RequestResponse", "Event"):
        for payload in (b"{not json", too_deep):
            status, headers, body = await client.invoke("echo", payload, kind=kind)
            assert status == 400
            code, document = error_of(headers, body)
            assert code == "InvalidRequestContentException"
            assert document["message"].startswith("Could not parse request body into json")
    assert client.hub.module("echo") is None


async def test_gzip_encoded_bodies_are_decoded_and_broken_ones_are_400(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    gzipped = gzip.compress(b'{"zipped": true}')
    status, _, body = await client.invoke("echo", gzipped, headers={"Content-Encoding": "gzip"})
    assert status == 200
    assert json.loads(body)["event"] == {"zipped": True}
    status, headers, body = await client.invoke(
        "echo", b"not gzip at all", headers={"Content-Encoding": "gzip"}
    )
    assert status == 400
    code, _ = error_of(headers, body)
    assert code == "InvalidRequestContentException"


@pytest.mark.parametrize(
    ("kind", "limit_key", "limit", "label"),
    [
        ("RequestResponse", "max_sync_payload", 2048, "RequestResponse"),
        ("Event", "max_async_payload", 1024, "Event"),
    ],
)
async def test_configured_payload_limits_are_413(
    start_hub: Callable[..., Awaitable[Client]],
    kind: str,
    limit_key: str,
    limit: int,
    label: str,
) -> None:
    client = await start_hub(hub={limit_key: limit})
    at_limit = json.dumps("x" * (limit - 2)).encode()
    assert len(at_limit) == limit
    status, _, _ = await client.invoke("echo", at_limit, kind=kind)
    assert status in (200, 202)
    over = json.dumps("x" * (limit - 1)).encode()
    status, headers, body = await client.invoke("echo", over, kind=kind)
    assert status == 413
    code, document = error_of(headers, body)
    assert code == "RequestTooLargeException"
    assert document["message"] == (
        f"{limit + 1} byte payload is too large for the {label} invocation type "
        f"(limit {limit} bytes)"
    )


async def test_default_limits_are_6_mb_sync_and_1_mb_async(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()

    def body(size: int) -> io.BytesIO:
        return io.BytesIO(b'"' + b"x" * (size - 2) + b'"')

    assert (await client.invoke("echo", body(1_048_576), kind="Event"))[0] == 202
    assert (await client.invoke("echo", body(1_048_577), kind="Event"))[0] == 413
    assert (await client.invoke("echo", body(6_291_456), kind="DryRun"))[0] == 204
    assert (await client.invoke("echo", body(6_291_457), kind="DryRun"))[0] == 413


async def test_oversize_chunked_body_without_content_length_is_413(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub(hub={"max_sync_payload": 4096})

    async def chunks() -> AsyncIterator[bytes]:
        yield b'"'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"'

    status, headers, body = await client.invoke("echo", chunks())
    assert status == 413
    assert error_of(headers, body)[0] == "RequestTooLargeException"


async def test_throttled_sync_invoke_is_429_with_reason(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub(
        {"zero": {"reserved_concurrency": 0}, "one": {"reserved_concurrency": 1}},
        {"zero": ECHO, "one": GATED},
    )
    status, headers, body = await client.invoke("zero")
    assert status == 429
    code, document = error_of(headers, body)
    assert code == "TooManyRequestsException"
    assert document["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert document["message"]
    assert headers["Retry-After"].isdigit()
    busy = asyncio.create_task(client.invoke("one"))
    runtime = client.hub.hub.functions.runtimes["one"]
    for _ in range(500):
        if runtime.running:
            break
        await asyncio.sleep(0.01)
    status, headers, body = await client.invoke("one")
    assert status == 429
    assert json.loads(body)["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    for _ in range(500):
        if client.hub.module("one") is not None:
            break
        await asyncio.sleep(0.01)
    client.hub.module("one").GATE.set()
    assert (await busy)[0] == 200


async def test_log_type_tail_returns_the_last_4_kb_base64(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    status, headers, _ = await client.invoke(
        "echo", b'{"print": true}', headers={"X-Amz-Log-Type": "Tail"}
    )
    assert status == 200
    log = base64.b64decode(headers["X-Amz-Log-Result"]).decode()
    request_id = headers["x-amzn-RequestId"]
    assert log.startswith(f"START RequestId: {request_id} Version: $LATEST\n")
    assert "hello from the handler\n" in log
    assert f"\nEND RequestId: {request_id}\n" in log
    assert f"\nREPORT RequestId: {request_id}\tDuration: " in log
    assert len(log.encode()) <= 4096


async def test_client_context_reaches_the_handler(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    header = base64.b64encode(json.dumps({"custom": {"tenant": "acme"}}).encode()).decode()
    status, _, body = await client.invoke("echo", headers={"X-Amz-Client-Context": header})
    assert status == 200
    assert json.loads(body)["custom"] == {"tenant": "acme"}


@pytest.mark.parametrize(
    "header",
    [
        "not base64!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1, 2]").decode(),
    ],
)
async def test_bad_client_context_is_400(
    start_hub: Callable[..., Awaitable[Client]], header: str
) -> None:
    client = await start_hub()
    status, headers, body = await client.invoke("echo", headers={"X-Amz-Client-Context": header})
    assert status == 400
    code, _ = error_of(headers, body)
    assert code == "InvalidRequestContentException"
    assert client.hub.module("echo") is None


async def test_client_context_over_lambdas_limit_is_400(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    custom = {"pad": "x" * 2700}  # 2,700+ bytes of JSON, over 3,583 once base64-encoded
    header = base64.b64encode(json.dumps({"custom": custom}).encode()).decode()
    assert len(header) > 3583
    status, headers, body = await client.invoke("echo", headers={"X-Amz-Client-Context": header})
    assert status == 400
    code, document = error_of(headers, body)
    assert code == "ValidationException"
    assert "3583" in document["message"]
    fits = base64.b64encode(json.dumps({"custom": {"pad": "x" * 2000}}).encode()).decode()
    status, _, _ = await client.invoke("echo", headers={"X-Amz-Client-Context": fits})
    assert status == 200


# -- auth --------------------------------------------------------------------------------

AUTH = {
    "auth": {
        "tokens": {
            "ci": {"secret": "s3cret-ci", "may_invoke": ["orders-*"]},
            "admin": {"secret": "s3cret-admin"},
        }
    }
}


@pytest.mark.parametrize(
    ("authorization", "function", "status"),
    [
        (None, "orders-new", 403),
        ("Bearer wrong", "orders-new", 403),
        ("Basic s3cret-ci", "orders-new", 403),
        ("Bearer ", "orders-new", 403),
        ("Bearer s3cret-ci", "reports", 403),
        ("Bearer s3cret-ci", "orders-new", 200),
        ("bearer s3cret-ci", "orders-new", 200),
        ("Bearer s3cret-admin", "reports", 200),
        (None, "nope", 403),
        ("Bearer s3cret-admin", "nope", 404),
    ],
)
async def test_bearer_tokens_and_may_invoke_globs(
    start_hub: Callable[..., Awaitable[Client]],
    authorization: str | None,
    function: str,
    status: int,
) -> None:
    client = await start_hub(
        {"orders-new": {}, "reports": {}}, {"orders-new": ECHO, "reports": ECHO}, hub=AUTH
    )
    headers = {"Authorization": authorization} if authorization else {}
    for kind in ("RequestResponse", "Event", "DryRun"):
        got, response_headers, body = await client.invoke(function, kind=kind, headers=headers)
        expected = {200: {"Event": 202, "DryRun": 204}.get(kind, 200)}.get(status, status)
        assert got == expected, (kind, body)
        if status == 403:
            code, document = error_of(response_headers, body)
            assert code == "AccessDeniedException"
            assert "s3cret" not in document["message"]


async def test_unexpected_failure_is_500_without_traceback(
    start_hub: Callable[..., Awaitable[Client]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await start_hub()

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail /srv/secret/path")

    monkeypatch.setattr(Invoker, "invoke", broken)
    status, headers, body = await client.invoke("echo")
    assert status == 500
    assert headers["x-amzn-ErrorType"] == "ServiceException"
    assert b"Traceback" not in body
    assert b"secret" not in body
    assert json.loads(body)["Type"] == "Service"


async def test_other_paths_answer_json_404(
    start_hub: Callable[..., Awaitable[Client]],
) -> None:
    client = await start_hub()
    paths = (
        "/2015-03-31/layers/some",
        PATH.format("echo"),
        "/2017-10-31/functions/echo/concurrency",
    )
    for path in paths:  # the second one: a GET on the invoke path
        async with client.session.get(client.hub.url + path) as response:
            assert response.status == 404
            code, document = error_of(dict(response.headers), await response.read())
            assert code == "UnknownOperationException"
            assert path in document["message"]
    async with client.session.get(client.hub.url + "/elsewhere") as response:
        assert response.status == 404
        assert await response.json() == {"message": "Not Found"}
