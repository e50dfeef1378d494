"""API Gateway Lambda-proxy requests (payload 1.0 and 2.0) and response mapping.

The HTTP layer turns each request into a neutral :class:`HttpRequest`; :func:`v2_event`,
:func:`v1_event` and :func:`function_url_event` build the event the handler receives, and
:func:`v2_response` / :func:`v1_response` turn the handler's result into an
:class:`HttpResponse` (raising :class:`MalformedProxyResponse` where API Gateway answers 502).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from eventhub.events._common import b64, clf_time, epoch_ms
from eventhub.events.apigw_response import (
    HttpResponse,
    MalformedProxyResponse,
    v1_response,
    v2_response,
)

__all__ = [
    "HttpRequest",
    "HttpResponse",
    "MalformedProxyResponse",
    "encode_body",
    "function_url_event",
    "header",
    "is_text_content_type",
    "v1_event",
    "v1_response",
    "v2_event",
    "v2_response",
]

_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """A received HTTP request, independent of the payload format.

    ``headers`` keep arrival order and original case (repeats as separate pairs); ``raw_query``
    is the query string without ``?`` and still percent-encoded; ``resource`` is the matched
    route template (``/items/{id}``) and ``route_key`` the HTTP API route (``POST /items/{id}``
    or ``$default``); ``time`` is when the request arrived (naive = UTC).
    """

    method: str
    raw_path: str
    request_id: str
    time: datetime
    raw_query: str = ""
    headers: Sequence[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    route_key: str = "$default"
    resource: str = "/{proxy+}"
    path_parameters: Mapping[str, str] | None = None
    stage: str = "$default"
    domain_name: str = "localhost"
    api_id: str = "local"


# ---------------------------------------------------------------------------- request side


def is_text_content_type(content_type: str) -> bool:
    """Whether API Gateway passes a body of this media type as text rather than base64.

    ``text/*``, JSON, XML, JavaScript, form-urlencoded and any ``+json``/``+xml`` subtype;
    parameters such as ``; charset=utf-8`` are ignored, case-insensitively.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    return (
        media.startswith("text/")
        or media in _TEXT_TYPES
        or media.endswith("+json")
        or media.endswith("+xml")
    )


def encode_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """``(body, isBase64Encoded)`` for a request body.

    Empty -> ``(None, False)``. Text media types (see :func:`is_text_content_type`), and a body
    without a content type, are passed as a string when they are valid UTF-8; everything else
    is base64 with ``True``.
    """
    if not body:
        return None, False
    if content_type is None or is_text_content_type(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return b64(body), True


def header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The last value of header ``name`` (case-insensitive), or ``None``."""
    wanted = name.lower()
    found = None
    for key, value in headers:
        if key.lower() == wanted:
            found = value
    return found


def _domain_prefix(domain_name: str) -> str:
    return domain_name.split(".", 1)[0]


def _v2_headers(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Lower-case headers with repeats joined by ``,``; ``Cookie`` headers split into a list."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for key, value in pairs:
        name = key.lower()
        if name == "cookie":
            cookies.extend(c for c in (part.strip() for part in value.split(";")) if c)
        elif name in headers:
            headers[name] = f"{headers[name]},{value}"
        else:
            headers[name] = value
    return headers, cookies


def _joined_query(raw_query: str) -> dict[str, str]:
    """Decoded query parameters, repeated keys joined with ``,`` in arrival order."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    return params


def _v2_context(req: HttpRequest, account_id: str, user_agent: str) -> dict[str, Any]:
    return {
        "accountId": account_id,
        "apiId": req.api_id,
        "domainName": req.domain_name,
        "domainPrefix": _domain_prefix(req.domain_name),
        "http": {
            "method": req.method,
            "path": req.raw_path,
            "protocol": req.protocol,
            "sourceIp": req.source_ip,
            "userAgent": user_agent,
        },
        "requestId": req.request_id,
        "routeKey": req.route_key,
        "stage": req.stage,
        "time": clf_time(req.time),
        "timeEpoch": epoch_ms(req.time),
    }


def v2_event(req: HttpRequest, *, account_id: str) -> dict[str, Any]:
    """HTTP API payload format 2.0 event for ``req``.

    Header names lower-case, repeats joined with ``,``; ``Cookie`` headers removed and split
    into ``cookies``; ``queryStringParameters`` decoded with repeats joined by ``,``.
    ``cookies``, ``queryStringParameters``, ``pathParameters`` and ``body`` are left out when
    empty, as AWS does (``stageVariables`` too: eventhub has none). ``userAgent`` is ``""``
    when the request has none.
    """
    headers, cookies = _v2_headers(req.headers)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": req.route_key,
        "rawPath": req.raw_path,
        "rawQueryString": req.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = _joined_query(req.raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = _v2_context(req, account_id, headers.get("user-agent", ""))
    body, is_base64 = encode_body(req.body, headers.get("content-type"))
    if body is not None:
        event["body"] = body
    if req.path_parameters:
        event["pathParameters"] = dict(req.path_parameters)
    event["isBase64Encoded"] = is_base64
    return event


def function_url_event(req: HttpRequest, *, account_id: str) -> dict[str, Any]:
    """Lambda function URL event: payload 2.0 with ``$default`` route and stage, null
    ``authentication``/``authorizer`` (auth type NONE) and null ``pathParameters`` and
    ``stageVariables``, as in AWS's function URL examples. ``req.api_id`` is the url-id and
    ``req.domain_name`` should be ``<url-id>.lambda-url.<region>.on.aws``.
    """
    event = v2_event(req, account_id=account_id)
    event["routeKey"] = "$default"
    context = event["requestContext"]
    context["routeKey"] = "$default"
    context["stage"] = "$default"
    context["authentication"] = None
    context["authorizer"] = None
    event["pathParameters"] = None
    event["stageVariables"] = None
    return event


def _v1_headers(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Original-case headers: last value wins, and every value in ``multiValueHeaders``."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def _v1_query(raw_query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """Decoded query parameters: last value wins, and all values; ``None`` when there are none."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        single[key] = value
        multi.setdefault(key, []).append(value)
    if not single:
        return None, None
    return single, multi


@lru_cache(maxsize=1024)
def _resource_id(resource: str) -> str:
    return hashlib.md5(resource.encode(), usedforsecurity=False).hexdigest()[:6]


def _identity(source_ip: str, user_agent: str | None) -> dict[str, Any]:
    return {
        "cognitoIdentityPoolId": None,
        "accountId": None,
        "cognitoIdentityId": None,
        "caller": None,
        "accessKey": None,
        "sourceIp": source_ip,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": None,
        "userAgent": user_agent,
        "user": None,
        "principalOrgId": None,
        "apiKey": None,
        "apiKeyId": None,
        "clientCert": None,
    }


def _v1_context(req: HttpRequest, account_id: str) -> dict[str, Any]:
    digest = hashlib.md5(req.request_id.encode(), usedforsecurity=False).digest()
    return {
        "accountId": account_id,
        "apiId": req.api_id,
        "resourceId": _resource_id(req.resource),
        "resourcePath": req.resource,
        "httpMethod": req.method,
        "path": req.raw_path if req.stage == "$default" else f"/{req.stage}{req.raw_path}",
        "stage": req.stage,
        "domainName": req.domain_name,
        "domainPrefix": _domain_prefix(req.domain_name),
        "requestId": req.request_id,
        "extendedRequestId": b64(digest[:11]),
        "protocol": req.protocol,
        "requestTime": clf_time(req.time),
        "requestTimeEpoch": epoch_ms(req.time),
        "identity": _identity(req.source_ip, header(req.headers, "user-agent")),
        "authorizer": None,
    }


def v1_event(req: HttpRequest, *, account_id: str, version: str | None = "1.0") -> dict[str, Any]:
    """Payload format 1.0 event for ``req`` (``version: "1.0"``; ``version=None`` gives the
    REST API proxy event, which has no ``version`` key).

    Header names keep their case: ``headers`` last value wins, ``multiValueHeaders`` lists all.
    Query parameters likewise (decoded). ``queryStringParameters``,
    ``multiValueQueryStringParameters``, ``pathParameters`` and ``stageVariables`` are ``null``
    when empty; ``body`` is ``null`` when empty. ``requestContext.path`` includes the stage
    unless it is ``$default``.
    """
    headers, multi_headers = _v1_headers(req.headers)
    query, multi_query = _v1_query(req.raw_query)
    body, is_base64 = encode_body(req.body, header(req.headers, "content-type"))
    event: dict[str, Any] = {} if version is None else {"version": version}
    event["resource"] = req.resource
    event["path"] = req.raw_path
    event["httpMethod"] = req.method
    event["headers"] = headers
    event["multiValueHeaders"] = multi_headers
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = multi_query
    event["pathParameters"] = dict(req.path_parameters) if req.path_parameters else None
    event["stageVariables"] = None
    event["requestContext"] = _v1_context(req, account_id)
    event["body"] = body
    event["isBase64Encoded"] = is_base64
    return event
