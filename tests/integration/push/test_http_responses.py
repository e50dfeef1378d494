"""Proxy responses, gateway errors and limits, auth and CORS of HTTP routes."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from typing import Any

import aiohttp
import pytest

RESULTS = """
import asyncio, json, time

CALLS = []

RESULTS = {
    "dict": {"hello": "world"},
    "list": [1, 2],
    "string": "plain text",
    "number": 7,
    "none": None,
    "structured": {"statusCode": 201, "headers": {"x-one": "1", "content-type": "text/html"},
                   "cookies": ["a=1", "b=2; Path=/"], "body": "<p>hi</p>"},
    "no-type": {"statusCode": 200, "body": "x"},
    "v1": {"statusCode": 202, "headers": {"x-a": "single", "x-b": "single"},
           "multiValueHeaders": {"x-b": ["m1", "m2"], "Set-Cookie": ["c=1", "d=2"]},
           "body": "ok"},
    "empty": {"statusCode": 204, "body": "ignored"},
    "bad-status": {"statusCode": "200", "body": "x"},
    "bad-header": {"statusCode": 200, "headers": {"x-evil": "a\\r\\nInjected: 1"}},
    "bad-base64": {"statusCode": 200, "body": "not base64!", "isBase64Encoded": True},
    "handler-cors": {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "https://evil"},
                     "body": "x"},
}

async def handler(event, context):
    kind = (event.get("pathParameters") or {}).get("kind", "")
    CALLS.append(kind)
    if kind == "boom":
        raise RuntimeError("secret internal detail")
    if kind == "slow":
        await asyncio.sleep(5)
    if kind == "hold":
        await asyncio.sleep(0.5)
        kind = "dict"
    if kind == "unserialisable":
        return {"statusCode": 200, "body": object()}
    return RESULTS[kind]
"""


def calls() -> list[str]:
    """What the handler was called with (nothing when it was never even imported)."""
    module = sys.modules.get("results")
    return list(module.CALLS) if module is not None else []


def hub_config(**source: Any) -> dict[str, Any]:
    fmt = source.pop("payload_format", "2.0")
    return {
        "functions": {
            "results": {"handler": "results:handler", "timeout": 1, **source.pop("fn", {})}
        },
        "sources": {
            "r": {
                "type": "http",
                "route": "ANY /r/{kind}",
                "function": "results",
                "payload_format": fmt,
                **source,
            }
        },
    }


async def fetch(
    url: str, method: str = "GET", **kwargs: Any
) -> tuple[int, aiohttp.typedefs.LooseHeaders, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, **kwargs) as response:
            return response.status, response.headers, await response.read()


@pytest.mark.parametrize(
    ("kind", "body", "content_type"),
    [
        ("dict", b'{"hello": "world"}', "application/json"),
        ("list", b"[1, 2]", "application/json"),
        ("string", b"plain text", "application/json"),
        ("number", b"7", "application/json"),
        ("none", b"null", "application/json"),
        ("no-type", b"x", "text/plain; charset=utf-8"),
    ],
)
async def test_2_0_infers_a_200_json_response(
    hub_factory: Any, kind: str, body: bytes, content_type: str
) -> None:
    running = await hub_factory(hub_config(), {"results": RESULTS})
    status, headers, raw = await fetch(f"{running.url}/r/{kind}")
    assert status == 200
    assert raw == body
    assert headers["Content-Type"] == content_type


async def test_2_0_structured_response_with_cookies(hub_factory: Any) -> None:
    running = await hub_factory(hub_config(), {"results": RESULTS})
    status, headers, raw = await fetch(f"{running.url}/r/structured")
    assert status == 201
    assert raw == b"<p>hi</p>"
    assert headers["x-one"] == "1"
    assert headers["Content-Type"] == "text/html"
    assert headers.getall("Set-Cookie") == ["a=1", "b=2; Path=/"]
    assert headers["apigw-requestid"]


async def test_1_0_merges_headers_and_multi_value_headers(hub_factory: Any) -> None:
    running = await hub_factory(hub_config(payload_format="1.0"), {"results": RESULTS})
    status, headers, raw = await fetch(f"{running.url}/r/v1")
    assert status == 202
    assert raw == b"ok"
    assert headers["x-a"] == "single"
    assert headers.getall("x-b") == ["m1", "m2"]
    assert headers.getall("Set-Cookie") == ["c=1", "d=2"]
    assert headers["Content-Type"] == "application/json"


async def test_1_0_needs_a_structured_response(hub_factory: Any) -> None:
    running = await hub_factory(hub_config(payload_format="1.0"), {"results": RESULTS})
    status, _, raw = await fetch(f"{running.url}/r/dict")
    assert (status, json.loads(raw)) == (502, {"message": "Internal server error"})


async def test_204_has_no_body(hub_factory: Any) -> None:
    running = await hub_factory(hub_config(), {"results": RESULTS})
    status, _, raw = await fetch(f"{running.url}/r/empty")
    assert (status, raw) == (204, b"")


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        ("boom", 502, "Internal server error"),
        ("unserialisable", 502, "Internal server error"),
        ("bad-status", 502, "Internal server error"),
        ("bad-header", 502, "Internal server error"),
        ("bad-base64", 502, "Internal server error"),
        ("slow", 504, "Endpoint request timed out"),
    ],
)
async def test_gateway_errors(hub_factory: Any, kind: str, status: int, message: str) -> None:
    running = await hub_factory(hub_config(), {"results": RESULTS})
    got, headers, raw = await fetch(f"{running.url}/r/{kind}")
    assert got == status
    assert json.loads(raw) == {"message": message}
    assert headers["Content-Type"] == "application/json"
    assert b"secret internal detail" not in raw
    assert b"Traceback" not in raw
    assert "Injected" not in headers


async def test_body_over_6_mb_is_413_and_the_handler_is_not_called(hub_factory: Any) -> None:
    running = await hub_factory(hub_config(), {"results": RESULTS})
    status, _, raw = await fetch(
        f"{running.url}/r/dict", "POST", data=io.BytesIO(b"x" * (6 * 1024 * 1024 + 1))
    )
    assert (status, json.loads(raw)) == (413, {"message": "Request Entity Too Large"})
    status, _, _ = await fetch(
        f"{running.url}/r/dict", "POST", data=io.BytesIO(b"x" * (6 * 1024 * 1024))
    )
    assert status == 200
    assert calls() == ["dict"]


async def test_throttled_invocation_is_500_as_api_gateway_answers_a_rejected_invoke(
    hub_factory: Any,
) -> None:
    running = await hub_factory(hub_config(fn={"reserved_concurrency": 1}), {"results": RESULTS})
    first = asyncio.ensure_future(fetch(f"{running.url}/r/hold"))
    await asyncio.sleep(0.2)
    status, _, raw = await fetch(f"{running.url}/r/dict")
    assert (status, json.loads(raw)) == (500, {"message": "Internal server error"})
    assert (await first)[0] == 200


async def test_reserved_concurrency_zero_throttles_every_request(hub_factory: Any) -> None:
    running = await hub_factory(hub_config(fn={"reserved_concurrency": 0}), {"results": RESULTS})
    status, _, _ = await fetch(f"{running.url}/r/dict")
    assert status == 500


async def test_bearer_token_auth(hub_factory: Any) -> None:
    running = await hub_factory(
        hub_config(auth={"tokens": ["s3cret", "other"]}), {"results": RESULTS}
    )
    url = f"{running.url}/r/dict"
    status, headers, raw = await fetch(url)
    assert (status, json.loads(raw)) == (401, {"message": "Unauthorized"})
    assert headers["WWW-Authenticate"] == "Bearer"
    status, _, _ = await fetch(url, headers={"Authorization": "Basic czNjcmV0"})
    assert status == 401
    status, _, raw = await fetch(url, headers={"Authorization": "Bearer wrong"})
    assert (status, json.loads(raw)) == (403, {"message": "Forbidden"})
    for token in ("s3cret", "other"):
        status, _, _ = await fetch(url, headers={"Authorization": f"Bearer {token}"})
        assert status == 200
    registry = running.hub.metrics.registry
    for code, count in (("401", 2), ("403", 1), ("200", 2)):
        labels = {"source": "r", "status": code}
        assert registry.get_sample_value("eventhub_http_requests_total", labels) == count
    assert calls() == ["dict", "dict"]


async def test_cors_preflight_is_answered_by_the_hub(hub_factory: Any) -> None:
    cors = {
        "allow_origins": ["https://app.example"],
        "allow_methods": ["GET", "POST"],
        "allow_headers": ["content-type"],
        "expose_headers": ["x-one"],
        "max_age": 300,
    }
    running = await hub_factory(hub_config(cors=cors, auth={"tokens": ["t"]}), {"results": RESULTS})
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    status, headers, raw = await fetch(f"{running.url}/r/dict", "OPTIONS", headers=preflight)
    assert (status, raw) == (204, b"")
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert headers["Access-Control-Allow-Headers"] == "content-type"
    assert headers["Access-Control-Max-Age"] == "300"
    status, headers, _ = await fetch(
        f"{running.url}/r/dict", "OPTIONS", headers={**preflight, "Origin": "https://evil"}
    )
    assert status == 204
    assert "Access-Control-Allow-Origin" not in headers
    assert calls() == []
    auth = {"Authorization": "Bearer t", "Origin": "https://app.example"}
    status, headers, _ = await fetch(f"{running.url}/r/handler-cors", headers=auth)
    assert status == 200
    assert headers.getall("Access-Control-Allow-Origin") == ["https://app.example"]
    assert headers["Access-Control-Expose-Headers"] == "x-one"
    status, headers, _ = await fetch(
        f"{running.url}/r/dict", headers={**auth, "Origin": "https://evil"}
    )
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers


async def test_a_preflight_for_a_method_the_path_lacks_is_answered_not_routed_elsewhere(
    hub_factory: Any,
) -> None:
    config = hub_config(route="POST /r/{kind}", cors={"allow_origins": ["https://app.example"]})
    config["sources"]["fallback"] = {"type": "http", "route": "$default", "function": "results"}
    running = await hub_factory(config, {"results": RESULTS})
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "DELETE"}
    status, headers, raw = await fetch(f"{running.url}/r/dict", "OPTIONS", headers=preflight)
    assert (status, raw) == (204, b"")
    assert "Access-Control-Allow-Origin" not in headers
    assert calls() == []  # neither the POST route's function nor $default's ran


async def test_without_cors_options_goes_to_the_function(hub_factory: Any) -> None:
    running = await hub_factory(hub_config(), {"results": RESULTS})
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    status, _, raw = await fetch(f"{running.url}/r/dict", "OPTIONS", headers=preflight)
    assert status == 200
    assert json.loads(raw) == {"hello": "world"}


async def test_reload_swaps_the_route_table(hub_factory: Any) -> None:
    config = hub_config()
    config["sources"]["keep"] = {"type": "http", "route": "GET /keep/{kind}", "function": "results"}
    running = await hub_factory(config, {"results": RESULTS})
    assert (await fetch(f"{running.url}/r/dict"))[0] == 200
    new = json.loads(json.dumps(running.config))
    new["sources"]["r"]["route"] = "GET /moved/{kind}"
    report = await running.reload(new)
    assert report["sources"]["changed"] == ["r"]
    assert report["sources"]["unchanged"] == ["keep"]
    await asyncio.sleep(0.1)
    assert (await fetch(f"{running.url}/r/dict"))[0] == 404
    assert (await fetch(f"{running.url}/moved/dict"))[0] == 200
    assert (await fetch(f"{running.url}/keep/dict"))[0] == 200
    await running.hub.set_source_enabled("keep", False)
    assert (await fetch(f"{running.url}/keep/dict"))[0] == 404
    statuses = {s.name: s for s in running.hub.sources_overview()}
    assert statuses["r"].connected
    assert statuses["r"].detail["route"] == "GET /moved/{kind}"
    assert statuses["keep"].state == "disabled"


async def test_invoke_api_still_wins_over_a_catch_all_route(hub_factory: Any) -> None:
    config = hub_config()
    config["sources"]["all"] = {"type": "http", "route": "$default", "function": "results"}
    running = await hub_factory(config, {"results": RESULTS})
    status, _, raw = await fetch(
        f"{running.url}/2015-03-31/functions/results/invocations",
        "POST",
        data=json.dumps({"pathParameters": {"kind": "dict"}}),
    )
    assert (status, json.loads(raw)) == (200, {"hello": "world"})
