"""One request through an ``http`` source, answered as API Gateway answers it.

Bearer auth (401 / 403), the 6 MB body limit (413), the payload 1.0 / 2.0 event, a
synchronous invoke, the proxy response mapping, gateway errors (500 when Lambda rejects
the invoke, e.g. throttled; 502 for a function error or a malformed response; 504 for a
timeout) and CORS. Every
answer is built here, so no exception text or traceback can reach the client.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web
from multidict import CIMultiDict

from connectors import http_cors
from connectors.http_routes import RouteSpec
from eventhub.api.errors import BadBody, BodyTooLarge, read_body
from eventhub.config.sources import HttpSourceConfig
from eventhub.events._common import b64
from eventhub.events.apigw import (
    HttpRequest,
    HttpResponse,
    MalformedProxyResponse,
    v1_event,
    v1_response,
    v2_event,
    v2_response,
)
from eventhub.hubenv import HubEnv
from eventhub.invoke.invoker import FunctionNotFound
from eventhub.runtime.errors import Throttled
from eventhub.runtime.funclog import invocation_tags
from eventhub.runtime.result import InvocationResult, Outcome

log = structlog.get_logger("eventhub.http")

MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    500: "Internal server error",
    502: "Internal server error",
    504: "Endpoint request timed out",
}
_HOP_BY_HOP = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer"}
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_JSON = "application/json"


def _request_id() -> str:
    """An API Gateway style request id (``JKJaXmPLvHcESHA=``)."""
    return b64(os.urandom(10))


def gateway_error(
    status: int, request_id: str, extra: list[tuple[str, str]] | None = None
) -> web.Response:
    """``{"message": ...}`` with the status API Gateway uses for that condition."""
    headers = CIMultiDict([("apigw-requestid", request_id), *(extra or [])])
    body = b'{"message":"' + MESSAGES.get(status, "Error").encode() + b'"}'
    return web.Response(status=status, body=body, content_type=_JSON, headers=headers)


class Endpoint:
    """The live target of one running ``http`` source: its route, settings and in-flight
    count. ``serve`` never raises; ``drain`` waits for requests in progress."""

    def __init__(self, name: str, config: HttpSourceConfig, spec: RouteSpec, env: HubEnv) -> None:
        self.name = name
        self.config = config
        self.spec = spec
        self.function = config.function
        self.cors = config.cors
        self._env = env
        self._tokens = tuple(
            token.get_secret_value().encode()
            for token in (config.auth.tokens if config.auth else ())
        )
        self._build: Callable[..., dict[str, Any]] = (
            v1_event if config.payload_format == "1.0" else v2_event
        )
        self._v1 = config.payload_format == "1.0"
        self._counted: dict[int, Any] = {}
        self._tags = (("source", name),)
        self.in_flight = 0
        self.requests = 0
        self.errors = 0  # 5xx answers
        self.last_status: int | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def drain(self, within: float) -> bool:
        """Wait until no request is in progress; False when ``within`` seconds passed."""
        try:
            async with asyncio.timeout(within):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def serve(self, request: web.Request, params: dict[str, str] | None) -> web.Response:
        """Answer one matched request."""
        self.in_flight += 1
        self._idle.clear()
        request_id = _request_id()
        try:
            response = await self._serve(request, params, request_id)
        except Exception:  # noqa: BLE001 - the boundary: nothing unexpected reaches the client
            log.exception("http route failed", source=self.name, path=request.path)
            response = gateway_error(500, request_id)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()
        self.requests += 1
        self.last_status = response.status
        counter = self._counted.get(response.status)
        if counter is None:
            counter = self._env.metrics.http_requests.labels(self.name, str(response.status))
            self._counted[response.status] = counter
        counter.inc()
        if response.status >= 500:
            self.errors += 1
        if self.cors is not None:
            self._add_cors(request, response)
        return response

    async def _serve(
        self, request: web.Request, params: dict[str, str] | None, request_id: str
    ) -> web.Response:
        denied = self._authorize(request.headers)
        if denied:
            extra = [("WWW-Authenticate", "Bearer")] if denied == 401 else None
            return gateway_error(denied, request_id, extra)
        hub = self._env.loaded.config.hub
        try:
            body = await read_body(request, hub.max_sync_payload) if request.body_exists else b""
        except BodyTooLarge:
            return gateway_error(413, request_id, [("Connection", "close")])
        except BadBody:  # cut off, or a broken Content-Encoding
            return gateway_error(400, request_id, [("Connection", "close")])
        event = self._build(
            _http_request(request, self.spec, params, body, request_id), account_id=hub.account_id
        )
        if not self._v1:
            event["stageVariables"] = None  # present in AWS's documented 2.0 example
        tagged = invocation_tags.set(self._tags)  # START/END/REPORT name the route's source
        try:
            result = await self._env.invoker.invoke(self.function, event)
        except Throttled:  # API Gateway answers a rejected invoke with 500
            return gateway_error(500, request_id)
        except FunctionNotFound:
            log.warning("http route's function is gone", source=self.name, function=self.function)
            return gateway_error(500, request_id)
        finally:
            invocation_tags.reset(tagged)
        return self._response(result, request_id)

    def _authorize(self, headers: Mapping[str, str]) -> int:
        """0 when allowed, else 401 (no bearer token) or 403 (not an accepted one)."""
        if not self._tokens:
            return 0
        scheme, _, secret = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return 401
        offered = secret.strip().encode()
        if any(hmac.compare_digest(token, offered) for token in self._tokens):
            return 0
        return 403

    def _response(self, result: InvocationResult, request_id: str) -> web.Response:
        if result.outcome is Outcome.TIMEOUT:
            return gateway_error(504, request_id)
        if not result.ok:
            return gateway_error(502, request_id)
        if self._inferred(result.value):  # the common 2.0 case: no handler headers to check
            headers = CIMultiDict([("Content-Type", _JSON), ("apigw-requestid", request_id)])
            return web.Response(status=200, body=result.payload, headers=headers)
        try:
            mapped = self._map(result)
            headers = _checked_headers(mapped.headers)
        except MalformedProxyResponse as exc:
            log.warning(
                "Malformed Lambda proxy response",
                source=self.name,
                error=str(exc),
                request_id=result.request_id,
            )
            return gateway_error(502, request_id)
        headers.add("apigw-requestid", request_id)
        if "Content-Type" not in headers:
            headers["Content-Type"] = _JSON if self._v1 else "text/plain; charset=utf-8"
        body = b"" if mapped.status in (204, 304) else mapped.body
        return web.Response(status=mapped.status, body=body, headers=headers)

    def _inferred(self, value: Any) -> bool:
        """A 2.0 result that is not a structured response: sent as a 200 JSON body, which
        is the function's JSON payload exactly as the runtime encoded it."""
        return not (
            self._v1
            or isinstance(value, str)
            or (isinstance(value, Mapping) and "statusCode" in value)
        )

    def _map(self, result: InvocationResult) -> HttpResponse:
        return v1_response(result.value) if self._v1 else v2_response(result.value)

    def _add_cors(self, request: web.Request, response: web.Response) -> None:
        assert self.cors is not None  # noqa: S101 - checked by the caller
        for name in [n for n in response.headers if n.lower().startswith("access-control-")]:
            del response.headers[name]
        for name, value in http_cors.response_headers(self.cors, request.headers.get("Origin")):
            response.headers.add(name, value)


def _checked_headers(pairs: list[tuple[str, str]]) -> CIMultiDict[str]:
    """The handler's headers, minus hop-by-hop ones; a header that cannot be sent is a
    malformed response (502), never a broken connection."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in pairs:
        if not _TOKEN.match(name) or _BAD_VALUE.search(value):
            raise MalformedProxyResponse(f"header {name!r} cannot be sent")
        if name.lower() not in _HOP_BY_HOP:
            headers.add(name, value)
    return headers


def _http_request(
    request: web.Request,
    spec: RouteSpec,
    params: dict[str, str] | None,
    body: bytes,
    request_id: str,
) -> HttpRequest:
    url = request.rel_url
    version = request.version
    host = request.headers.get("Host", "")
    return HttpRequest(
        method=request.method,
        raw_path=url.raw_path,
        raw_query=url.raw_query_string,
        request_id=request_id,
        time=datetime.now(UTC),
        headers=[
            (name.decode("latin-1"), value.decode("utf-8", "replace"))
            for name, value in request.raw_headers
        ],
        body=body,
        source_ip=request.remote or "127.0.0.1",
        protocol=f"HTTP/{version.major}.{version.minor}",
        route_key=spec.route_key,
        resource=spec.template,
        path_parameters=params,
        domain_name=_hostname(host),
    )


def _hostname(host: str) -> str:
    """The Host header without its port (``localhost`` when absent)."""
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if ":" in host else (host or "localhost")
