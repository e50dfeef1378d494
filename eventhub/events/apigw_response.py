"""Mapping a Lambda handler's result to the HTTP response API Gateway sends (1.0 and 2.0).

Re-exported by :mod:`eventhub.events.apigw`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eventhub.events._common import unb64

_JSON_HEADERS = [("content-type", "application/json")]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What to send back: status, header pairs (repeats allowed, e.g. Set-Cookie) and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MalformedProxyResponse(ValueError):
    """The handler's result is not a valid proxy response; API Gateway answers 502."""


def _status(result: Mapping[str, Any]) -> int:
    status = result.get("statusCode")
    if type(status) is not int or not 200 <= status <= 599:
        raise MalformedProxyResponse(f"statusCode must be an integer 200-599, got {status!r}")
    return status


def _header_text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise MalformedProxyResponse(f"header {name!r} has a non-scalar value {value!r}")


def _mapping(result: Mapping[str, Any], key: str) -> Mapping[Any, Any]:
    value = result.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedProxyResponse(f"{key} must be an object, got {type(value).__name__}")
    return value


def _single_headers(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(name), _header_text(str(name), value))
        for name, value in _mapping(result, "headers").items()
        if value is not None
    ]


def _body(result: Mapping[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedProxyResponse(f"body must be a string, got {type(body).__name__}")
    if result.get("isBase64Encoded") is True:
        try:
            return unb64(body)
        except ValueError as exc:
            raise MalformedProxyResponse("isBase64Encoded is true but body is not base64") from exc
    return body.encode()


def _set_cookies(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    cookies = result.get("cookies")
    if cookies is None:
        return []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise MalformedProxyResponse("cookies must be a list of strings")
    return [("Set-Cookie", cookie) for cookie in cookies]


def v2_response(result: Any) -> HttpResponse:
    """Map a handler result to an HTTP response the way payload format 2.0 (and function
    URLs) do.

    A dict with ``statusCode`` is a structured response: ``headers`` (values as strings),
    each ``cookies`` entry as a ``Set-Cookie`` header, ``body`` decoded from base64 when
    ``isBase64Encoded`` is true. Any other result is a 200 ``application/json`` response whose
    body is the JSON serialization - except a ``str``, which is sent as itself.
    Raises :class:`MalformedProxyResponse` for a bad structured response or an unserialisable
    result.
    """
    if isinstance(result, Mapping) and "statusCode" in result:
        status = _status(result)
        headers = _single_headers(result) + _set_cookies(result)
        return HttpResponse(status, headers, _body(result))
    if isinstance(result, str):
        return HttpResponse(200, list(_JSON_HEADERS), result.encode())
    try:
        body = json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        raise MalformedProxyResponse(f"result is not JSON-serialisable: {exc}") from exc
    return HttpResponse(200, list(_JSON_HEADERS), body)


def _multi_headers(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, values in _mapping(result, "multiValueHeaders").items():
        if not isinstance(values, list):
            raise MalformedProxyResponse(f"multiValueHeaders[{name!r}] must be a list")
        pairs.extend((str(name), _header_text(str(name), v)) for v in values if v is not None)
    return pairs


def v1_response(result: Any) -> HttpResponse:
    """Map a handler result to an HTTP response the way payload format 1.0 / REST proxy does.

    The result must be a dict with an integer ``statusCode`` (200-599); ``headers`` and
    ``multiValueHeaders`` are merged, and where a name (case-insensitive) appears in both only
    the ``multiValueHeaders`` values are used; ``body``/``isBase64Encoded`` as in 2.0. There is
    no inference: anything else raises :class:`MalformedProxyResponse` (502).
    """
    if not isinstance(result, Mapping) or "statusCode" not in result:
        raise MalformedProxyResponse("payload 1.0 responses must be an object with statusCode")
    status = _status(result)
    multi = _multi_headers(result)
    overridden = {name.lower() for name, _ in multi}
    single = [(n, v) for n, v in _single_headers(result) if n.lower() not in overridden]
    return HttpResponse(status, single + multi, _body(result))
