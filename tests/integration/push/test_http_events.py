"""HTTP routes build API Gateway events of both payload formats, complete and valid."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aws_lambda_powertools.utilities.parser import models
from multidict import CIMultiDict

# Copies of shared/reference/events/apigw-v*.json, so the suite needs nothing outside the repo.
REFERENCE = Path(__file__).parent / "data"

ECHO = """
import json

def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(event)}
"""

BINARY = """
def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
            "body": event["body"], "isBase64Encoded": event["isBase64Encoded"]}
"""


def reference(name: str) -> dict[str, Any]:
    return json.loads((REFERENCE / name).read_text())


def api(route: str, fmt: str = "2.0", function: str = "echo") -> dict[str, Any]:
    return {"type": "http", "route": route, "function": function, "payload_format": fmt}


async def start_echo(hub_factory: Any, fmt: str) -> Any:
    return await hub_factory(
        {
            "functions": {"echo": {"handler": "echo:handler"}},
            "sources": {"items": api("POST /items/{id}", fmt)},
        },
        {"echo": ECHO},
    )


async def send_reference_request(url: str) -> tuple[aiohttp.ClientResponse, dict[str, Any]]:
    headers = CIMultiDict(
        [
            ("Accept", "*/*"),
            ("Content-Type", "application/json"),
            ("X-Multi", "a"),
            ("X-Multi", "b"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("User-Agent", "curl/8.0"),
            ("Cookie", "session=abc; theme=dark"),
        ]
    )
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        async with session.post(
            f"{url}/items/42?tag=a&tag=b&verbose=true",
            data=b'{"name": "widget"}',
            headers=headers,
        ) as response:
            return response, await response.json()


def assert_keys_cover(reference_part: dict[str, Any], ours: dict[str, Any], where: str) -> None:
    missing = set(reference_part) - set(ours)
    assert not missing, f"{where}: missing {sorted(missing)}"


async def test_payload_2_0_has_every_reference_field(hub_factory: Any) -> None:
    running = await start_echo(hub_factory, "2.0")
    before = time.time()
    response, event = await send_reference_request(running.url)
    assert response.status == 200
    models.APIGatewayProxyEventV2Model.model_validate(event)
    ref = reference("apigw-v2.json")
    assert_keys_cover(ref, event, "event")
    assert_keys_cover(ref["requestContext"], event["requestContext"], "requestContext")
    assert_keys_cover(ref["requestContext"]["http"], event["requestContext"]["http"], "http")
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "tag=a&tag=b&verbose=true"
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["headers"]["x-multi"] == "a,b"
    assert event["headers"]["content-type"] == "application/json"
    assert "cookie" not in event["headers"]
    assert event["queryStringParameters"] == {"tag": "a,b", "verbose": "true"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["body"] == '{"name": "widget"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/items/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "curl/8.0",
    }
    assert context["stage"] == "$default"
    assert context["requestId"] == response.headers["apigw-requestid"]
    assert context["accountId"] == "000000000000"
    assert before * 1000 - 1000 <= context["timeEpoch"] <= time.time() * 1000 + 1000
    time.strptime(context["time"], "%d/%b/%Y:%H:%M:%S +0000")


async def test_payload_1_0_has_every_reference_field(hub_factory: Any) -> None:
    running = await start_echo(hub_factory, "1.0")
    response, event = await send_reference_request(running.url)
    assert response.status == 200
    models.APIGatewayProxyEventModel.model_validate(event)
    ref = reference("apigw-v1.json")
    assert_keys_cover(ref, event, "event")
    assert_keys_cover(ref["requestContext"], event["requestContext"], "requestContext")
    assert_keys_cover(
        ref["requestContext"]["identity"], event["requestContext"]["identity"], "identity"
    )
    assert event["version"] == "1.0"
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/items/{id}"
    assert event["path"] == "/items/42"
    assert event["httpMethod"] == event["requestContext"]["httpMethod"] == "POST"
    assert event["headers"]["X-Multi"] == "b"
    assert event["multiValueHeaders"]["X-Multi"] == ["a", "b"]
    assert event["headers"]["Cookie"] == "session=abc; theme=dark"
    assert event["queryStringParameters"] == {"tag": "b", "verbose": "true"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "verbose": ["true"]}
    assert event["pathParameters"] == {"id": "42"}
    assert event["stageVariables"] is None
    assert event["body"] == '{"name": "widget"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "$default"
    assert context["path"] == "/items/42"
    assert context["requestId"] == response.headers["apigw-requestid"]
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "curl/8.0"
    time.strptime(context["requestTime"], "%d/%b/%Y:%H:%M:%S +0000")


async def test_empty_parts_are_null_in_1_0_and_absent_in_2_0(hub_factory: Any) -> None:
    running = await hub_factory(
        {
            "functions": {"echo": {"handler": "echo:handler"}},
            "sources": {
                "v1": api("GET /one", "1.0"),
                "v2": api("GET /two", "2.0"),
            },
        },
        {"echo": ECHO},
    )
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{running.url}/one") as response:
            one = await response.json()
        async with session.get(f"{running.url}/two") as response:
            two = await response.json()
    for key in ("queryStringParameters", "multiValueQueryStringParameters", "pathParameters"):
        assert one[key] is None
    assert one["body"] is None
    for key in ("queryStringParameters", "pathParameters", "cookies", "body"):
        assert key not in two
    assert two["rawQueryString"] == ""
    models.APIGatewayProxyEventModel.model_validate(one)
    models.APIGatewayProxyEventV2Model.model_validate(two)


@pytest.mark.parametrize("fmt", ["1.0", "2.0"])
async def test_binary_body_round_trip(hub_factory: Any, fmt: str) -> None:
    running = await hub_factory(
        {
            "functions": {"bin": {"handler": "binary:handler"}},
            "sources": {"upload": api("PUT /blob", fmt, "bin")},
        },
        {"binary": BINARY},
    )
    payload = os.urandom(200_000) + b"\xff\xfe\x00"
    async with aiohttp.ClientSession() as session:
        async with session.put(
            f"{running.url}/blob", data=payload, headers={"Content-Type": "image/png"}
        ) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/octet-stream"
            assert await response.read() == payload


async def test_text_body_that_is_not_utf8_arrives_base64(hub_factory: Any) -> None:
    running = await start_echo(hub_factory, "2.0")
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{running.url}/items/1",
            data=b"\xc3\x28 not utf-8",
            headers={"Content-Type": "application/json"},
        ) as response:
            event = await response.json()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xc3\x28 not utf-8"


async def test_path_parameters_greedy_and_encoded(hub_factory: Any) -> None:
    running = await hub_factory(
        {
            "functions": {"echo": {"handler": "echo:handler"}},
            "sources": {
                "files": api("GET /files/{path+}"),
                "one": api("GET /files/special"),
                "proxy": api("ANY /{proxy+}", "1.0"),
            },
        },
        {"echo": ECHO},
    )
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{running.url}/files/a/b%20c/%C3%A9t%C3%A9.txt") as response:
            greedy = await response.json()
        async with session.get(f"{running.url}/files/special") as response:
            literal = await response.json()
        async with session.delete(f"{running.url}/any/thing?x=1") as response:
            proxy = await response.json()
        async with session.get(f"{running.url}/") as response:
            assert response.status == 404
            assert await response.json() == {"message": "Not Found"}
    assert greedy["pathParameters"] == {"path": "a/b c/été.txt"}
    assert greedy["rawPath"] == "/files/a/b%20c/%C3%A9t%C3%A9.txt"
    assert greedy["routeKey"] == "GET /files/{path+}"
    assert literal["routeKey"] == "GET /files/special"
    assert "pathParameters" not in literal
    assert proxy["resource"] == "/{proxy+}"
    assert proxy["pathParameters"] == {"proxy": "any/thing"}
    assert proxy["httpMethod"] == "DELETE"
