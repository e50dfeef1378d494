"""API Gateway request building and response mapping: the specific rules."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import models

from eventhub.events import apigw
from eventhub.events.apigw import HttpResponse, MalformedProxyResponse

WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def request(**overrides: Any) -> apigw.HttpRequest:
    fields: dict[str, Any] = {
        "method": "GET",
        "raw_path": "/things",
        "request_id": "req-1",
        "time": WHEN,
    }
    fields.update(overrides)
    return apigw.HttpRequest(**fields)


def v2(**overrides: Any) -> dict[str, Any]:
    event = apigw.v2_event(request(**overrides), account_id="123456789012")
    models.APIGatewayProxyEventV2Model.model_validate(json.loads(json.dumps(event)))
    return event


def v1(**overrides: Any) -> dict[str, Any]:
    event = apigw.v1_event(request(**overrides), account_id="123456789012")
    models.APIGatewayProxyEventModel.model_validate(json.loads(json.dumps(event)))
    return event


# ------------------------------------------------------------------------------ request side


def test_v2_lowercases_and_comma_joins_headers_and_moves_cookies() -> None:
    event = v2(
        headers=[
            ("X-Multi", "a"),
            ("Cookie", "session=abc; theme=dark"),
            ("x-multi", "b"),
            ("COOKIE", "lang=en"),
            ("User-Agent", "curl/8.0"),
        ]
    )
    assert event["headers"] == {"x-multi": "a,b", "user-agent": "curl/8.0"}
    assert event["cookies"] == ["session=abc", "theme=dark", "lang=en"]
    assert event["requestContext"]["http"]["userAgent"] == "curl/8.0"


def test_v2_leaves_out_empty_optional_fields() -> None:
    event = v2()
    for key in ("cookies", "queryStringParameters", "pathParameters", "body", "stageVariables"):
        assert key not in event
    assert event["rawQueryString"] == ""
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["userAgent"] == ""
    assert event["requestContext"]["time"] == "06/May/2024:07:08:09 +0000"
    assert event["requestContext"]["timeEpoch"] == 1714979289123


def test_v2_query_parameters_are_decoded_and_joined() -> None:
    raw = "tag=a&tag=b&q=red+flower%2Bx&empty=&sp=%20"
    event = v2(raw_query=raw)
    assert event["rawQueryString"] == raw
    assert event["queryStringParameters"] == {
        "tag": "a,b",
        "q": "red flower+x",
        "empty": "",
        "sp": " ",
    }


def test_v1_query_and_headers_last_value_wins_with_multi_value_maps() -> None:
    event = v1(
        raw_query="tag=a&tag=b&v=1",
        headers=[("X-Multi", "a"), ("X-Multi", "b"), ("Cookie", "a=1")],
        path_parameters={"id": "42"},
        resource="/things/{id}",
    )
    assert event["version"] == "1.0"
    assert event["queryStringParameters"] == {"tag": "b", "v": "1"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "v": ["1"]}
    assert event["headers"] == {"X-Multi": "b", "Cookie": "a=1"}
    assert event["multiValueHeaders"] == {"X-Multi": ["a", "b"], "Cookie": ["a=1"]}
    assert event["pathParameters"] == {"id": "42"}
    assert event["requestContext"]["resourcePath"] == "/things/{id}"


def test_v1_empty_maps_are_null() -> None:
    event = v1()
    for key in (
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
    ):
        assert event[key] is None
    assert event["headers"] == {}
    assert event["multiValueHeaders"] == {}
    assert event["requestContext"]["requestTime"] == "06/May/2024:07:08:09 +0000"
    assert event["requestContext"]["requestTimeEpoch"] == 1714979289123
    assert event["requestContext"]["identity"]["userAgent"] is None


def test_v1_request_context_path_includes_a_named_stage() -> None:
    assert v1(stage="prod")["requestContext"]["path"] == "/prod/things"
    assert v1()["requestContext"]["path"] == "/things"


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain", True),
        ("text/html; charset=utf-8", True),
        ("application/json", True),
        ("Application/JSON; charset=UTF-8", True),
        ("application/xml", True),
        ("application/javascript", True),
        ("application/x-www-form-urlencoded", True),
        ("application/vnd.api+json", True),
        ("application/atom+xml", True),
        ("application/octet-stream", False),
        ("image/png", False),
        ("multipart/form-data; boundary=x", False),
    ],
)
def test_text_content_types(content_type: str, text: bool) -> None:
    assert apigw.is_text_content_type(content_type) is text


def test_bodies_are_text_or_base64() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00"
    cases = [
        ([("Content-Type", "application/json")], b'{"a": 1}', '{"a": 1}', False),
        ([("Content-Type", "image/png")], png, base64.b64encode(png).decode(), True),
        ([("Content-Type", "application/octet-stream")], b"abc", "YWJj", True),
        ([], "héllo".encode(), "héllo", False),  # no content type, valid UTF-8
        ([], png, base64.b64encode(png).decode(), True),  # no content type, not UTF-8
        ([("Content-Type", "text/plain")], b"\xff\xfe", "//4=", True),  # text, not UTF-8
    ]
    for headers, body, expected, is_base64 in cases:
        event2 = v2(method="POST", headers=headers, body=body)
        assert (event2["body"], event2["isBase64Encoded"]) == (expected, is_base64)
        event1 = v1(method="POST", headers=headers, body=body)
        assert (event1["body"], event1["isBase64Encoded"]) == (expected, is_base64)


def test_function_url_event_fixed_values() -> None:
    event = apigw.function_url_event(
        request(route_key="GET /x", stage="prod", path_parameters={"a": "b"}),
        account_id="1",
    )
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "$default"
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["authentication"] is None
    assert event["requestContext"]["authorizer"] is None
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None


def test_header_lookup_is_case_insensitive_and_last_wins() -> None:
    pairs = [("Content-Type", "a"), ("content-type", "b")]
    assert apigw.header(pairs, "CONTENT-TYPE") == "b"
    assert apigw.header(pairs, "accept") is None


# ----------------------------------------------------------------------------- response side

JSON = [("content-type", "application/json")]


def test_v2_structured_response_with_cookies_and_base64_body() -> None:
    result = {
        "statusCode": 201,
        "headers": {"content-type": "image/png", "x-count": 3, "x-ok": True, "x-none": None},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": base64.b64encode(b"\x00\x01").decode(),
        "isBase64Encoded": True,
    }
    assert apigw.v2_response(result) == HttpResponse(
        201,
        [
            ("content-type", "image/png"),
            ("x-count", "3"),
            ("x-ok", "true"),
            ("Set-Cookie", "a=1; Path=/"),
            ("Set-Cookie", "b=2"),
        ],
        b"\x00\x01",
    )
    assert apigw.v2_response({"statusCode": 204}) == HttpResponse(204, [], b"")


def test_v2_infers_200_json_for_anything_without_status_code() -> None:
    assert apigw.v2_response("Hello from Lambda!") == HttpResponse(200, JSON, b"Hello from Lambda!")
    assert apigw.v2_response({"message": "hi"}) == HttpResponse(200, JSON, b'{"message": "hi"}')
    assert apigw.v2_response([1, 2]) == HttpResponse(200, JSON, b"[1, 2]")
    assert apigw.v2_response(7) == HttpResponse(200, JSON, b"7")
    assert apigw.v2_response(None) == HttpResponse(200, JSON, b"null")
    assert apigw.v2_response("") == HttpResponse(200, JSON, b"")


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "200"},
        {"statusCode": True},
        {"statusCode": 99},
        {"statusCode": 100},
        {"statusCode": 101},
        {"statusCode": 199},
        {"statusCode": 600},
        {"statusCode": 200.0},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "headers": {"x": ["a", "b"]}},
        {"statusCode": 200, "cookies": "a=1"},
    ],
)
def test_v2_malformed_structured_responses(result: Any) -> None:
    with pytest.raises(MalformedProxyResponse):
        apigw.v2_response(result)


def test_v2_unserialisable_result_is_malformed() -> None:
    with pytest.raises(MalformedProxyResponse):
        apigw.v2_response({"when": datetime(2024, 1, 1, tzinfo=UTC)})


def test_v1_merges_headers_with_multi_value_headers_winning() -> None:
    result = {
        "statusCode": 200,
        "headers": {"Content-Type": "text/plain", "X-Both": "single", "x-case": "single"},
        "multiValueHeaders": {"X-Both": ["m1", "m2"], "X-CASE": ["multi"], "Set-Cookie": ["a=1"]},
        "body": "ok",
        "cookies": ["ignored=1"],
    }
    response = apigw.v1_response(result)
    assert response.status == 200
    assert sorted(response.headers) == sorted(
        [
            ("Content-Type", "text/plain"),
            ("X-Both", "m1"),
            ("X-Both", "m2"),
            ("X-CASE", "multi"),
            ("Set-Cookie", "a=1"),
        ]
    )
    assert response.body == b"ok"


@pytest.mark.parametrize(
    "result",
    [
        "Hello",
        None,
        [1],
        {"body": "no status"},
        {"statusCode": "200"},
        {"statusCode": 700},
        {"statusCode": 200, "multiValueHeaders": {"a": "not-a-list"}},
    ],
)
def test_v1_has_no_inference_and_rejects_malformed_responses(result: Any) -> None:
    with pytest.raises(MalformedProxyResponse):
        apigw.v1_response(result)


def test_reference_response_in_both_formats() -> None:
    result = {
        "statusCode": 201,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
        "cookies": ["c=3"],
        "body": '{"ok": true}',
        "isBase64Encoded": False,
    }
    assert apigw.v2_response(result) == HttpResponse(
        201, [("content-type", "application/json"), ("Set-Cookie", "c=3")], b'{"ok": true}'
    )
    assert apigw.v1_response(result) == HttpResponse(
        201,
        [
            ("content-type", "application/json"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ],
        b'{"ok": true}',
    )
