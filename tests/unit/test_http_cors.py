"""CORS answers of http sources (API Gateway HTTP API behaviour)."""

from __future__ import annotations

from connectors import http_cors
from eventhub.config.sources import HttpCors


def preflight(
    origin: str = "https://app.example", method: str = "POST", **extra: str
) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, **extra}


def test_preflight_detection() -> None:
    assert http_cors.is_preflight("OPTIONS", preflight())
    assert not http_cors.is_preflight("GET", preflight())
    assert not http_cors.is_preflight("OPTIONS", {"Origin": "x"})


def test_wildcard_origin_and_listed_methods() -> None:
    cors = HttpCors(
        allow_origins=["*"],
        allow_methods=["get", "POST"],
        allow_headers=["content-type"],
        max_age=600,
    )
    headers = dict(http_cors.preflight_headers(cors, preflight()))
    assert headers == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET,POST",
        "Access-Control-Allow-Headers": "content-type",
        "Access-Control-Max-Age": "600",
    }


def test_credentials_echo_the_origin() -> None:
    cors = HttpCors(
        allow_origins=["*"], allow_methods=["*"], allow_headers=["*"], allow_credentials=True
    )
    headers = dict(
        http_cors.preflight_headers(
            cors, preflight(method="delete", **{"Access-Control-Request-Headers": "x-a,x-b"})
        )
    )
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Allow-Methods"] == "DELETE"
    assert headers["Access-Control-Allow-Headers"] == "x-a,x-b"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Vary"] == "Origin"


def test_disallowed_origin_or_method_gets_no_cors_headers() -> None:
    cors = HttpCors(allow_origins=["https://app.example"], allow_methods=["GET"])
    assert (
        http_cors.preflight_headers(cors, preflight(origin="https://evil.example", method="GET"))
        == []
    )
    assert http_cors.preflight_headers(cors, preflight(method="POST")) == []


def test_actual_response_headers() -> None:
    cors = HttpCors(allow_origins=["https://app.example"], expose_headers=["x-total"])
    assert http_cors.response_headers(cors, None) == []
    assert http_cors.response_headers(cors, "https://evil.example") == []
    assert dict(http_cors.response_headers(cors, "https://app.example")) == {
        "Access-Control-Allow-Origin": "https://app.example",
        "Access-Control-Expose-Headers": "x-total",
        "Vary": "Origin",
    }
