"""The Lambda Invoke API: ``POST /2015-03-31/functions/{name}/invocations``."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import hmac
import json
import re
from typing import Any

from aiohttp import web

from eventhub.api.errors import BadBody, BodyTooLarge, aws_error, read_body
from eventhub.api.state import MAIN
from eventhub.config.models import HubConfig
from eventhub.invoke.invoker import FunctionNotFound
from eventhub.runtime.context import ClientContext
from eventhub.runtime.errors import Throttled
from eventhub.runtime.result import InvocationResult
from eventhub.runtime.stats import request_id as new_request_id

_ARN = re.compile(
    r"^(?:arn:aws[a-z-]*:lambda:(?P<region>[a-z0-9-]+):)?(?:(?P<account>\d{12}):)?(?:function:)?"
    r"(?P<name>[A-Za-z0-9_.-]{1,64})(?::(?P<qualifier>[A-Za-z0-9$_-]+))?$"
)

# Lambda's limit on X-Amz-Client-Context: up to 3,583 bytes of base64 (API_Invoke).
MAX_CLIENT_CONTEXT = 3583


class InvokeError(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


@functools.lru_cache(maxsize=4096)
def _parse_name(raw: str) -> tuple[str, str | None, str | None, str | None] | None:
    """(name, qualifier, region, account) of a name, a partial or a full ARN."""
    match = _ARN.match(raw)
    if match is None:
        return None
    return match.group("name"), match.group("qualifier"), match["region"], match["account"]


def function_name(request: web.Request) -> tuple[str, str]:
    """Accepts a name, ``name:qualifier``, a partial or a full ARN. Returns (name, arn-ish)."""
    raw = request.match_info["name"]
    parsed = _parse_name(raw)
    if parsed is None:
        raise InvokeError(
            aws_error(
                400,
                "ValidationException",
                f"1 validation error detected: Value '{raw}' at 'functionName' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?"
                r"(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?",
            )
        )
    name, qualifier, region, account = parsed
    if request.query_string:
        qualifier = request.query.get("Qualifier") or qualifier
    if qualifier not in (None, "$LATEST"):
        raise not_found(request, f"{name}:{qualifier}")
    if region is not None or account is not None:  # an ARN: it must name this hub
        hub = request.app[MAIN].hub()
        if region not in (None, hub.region) or account not in (None, hub.account_id):
            arn = f"arn:aws:lambda:{region or hub.region}:{account or hub.account_id}"
            raise not_found(request, name, arn=arn)
    return name, raw


def not_found(request: web.Request, name: str, *, arn: str | None = None) -> InvokeError:
    """ResourceNotFoundException for function ``name`` (of this hub unless ``arn`` names
    the region and account it was asked for in)."""
    hub = request.app[MAIN].hub()
    arn = f"{arn or f'arn:aws:lambda:{hub.region}:{hub.account_id}'}:function:{name}"
    return InvokeError(
        aws_error(
            404, "ResourceNotFoundException", f"Function not found: {arn}", message_key="Message"
        )
    )


def authorize(request: web.Request, hub: HubConfig, name: str) -> None:
    if hub.auth is None or not hub.auth.tokens:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() == "bearer" and secret:
        for token in hub.auth.tokens.values():
            if hmac.compare_digest(
                token.secret.get_secret_value().encode(), secret.strip().encode()
            ):
                if any(fnmatch.fnmatchcase(name, glob) for glob in token.may_invoke):
                    return
                raise InvokeError(
                    aws_error(
                        403,
                        "AccessDeniedException",
                        f"The token is not authorized to perform: lambda:InvokeFunction on {name}",
                    )
                )
    raise InvokeError(
        aws_error(
            403, "AccessDeniedException", "A valid bearer token is required to invoke functions"
        )
    )


def _client_context(request: web.Request) -> ClientContext | None:
    header = request.headers.get("X-Amz-Client-Context")
    if not header:
        return None
    if len(header) > MAX_CLIENT_CONTEXT:
        raise InvokeError(
            aws_error(
                400,
                "ValidationException",
                "1 validation error detected: Value at 'clientContext' failed to satisfy "
                f"constraint: Member must have length less than or equal to {MAX_CLIENT_CONTEXT}",
            )
        )
    try:
        data = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise InvokeError(
            aws_error(
                400,
                "InvalidRequestContentException",
                "Client context must be a valid Base64-encoded JSON object.",
            )
        )
    return ClientContext.from_json(data)


def _parse_event(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise InvokeError(
            aws_error(
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}",
            )
        ) from None


async def _read(request: web.Request, limit: int, kind: str) -> bytes:
    try:
        return await read_body(request, limit)
    except BadBody as exc:
        raise InvokeError(aws_error(400, "InvalidRequestContentException", str(exc))) from None
    except BodyTooLarge as exc:
        raise InvokeError(
            aws_error(
                413,
                "RequestTooLargeException",
                f"{exc.size} byte payload is too large for the {kind} invocation type "
                f"(limit {limit} bytes)",
            )
        ) from None


async def invoke_handler(request: web.Request) -> web.StreamResponse:
    """Handle one Invoke call; every failure is an AWS-shaped JSON error."""
    try:
        return await _invoke(request)
    except InvokeError as error:
        return error.response


async def _invoke(request: web.Request) -> web.StreamResponse:
    context = request.app[MAIN]
    hub = context.hub()
    name, _ = function_name(request)
    kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if kind not in ("RequestResponse", "Event", "DryRun"):
        raise InvokeError(
            aws_error(400, "InvalidParameterValueException", f"Unsupported invocation type: {kind}")
        )
    log_type = request.headers.get("X-Amz-Log-Type", "None")
    if log_type not in ("None", "Tail"):
        raise InvokeError(
            aws_error(400, "InvalidParameterValueException", f"Unsupported log type: {log_type}")
        )
    authorize(request, hub, name)
    try:
        context.invoker.get(name)
    except FunctionNotFound:
        raise not_found(request, name) from None
    limit = hub.max_async_payload if kind == "Event" else hub.max_sync_payload
    body = await _read(request, limit, kind)
    if kind == "DryRun":
        return web.Response(status=204, headers={"x-amzn-RequestId": new_request_id()})
    event = _parse_event(body)
    if kind == "Event":
        request_id = await context.invoker.enqueue(name, body if body.strip() else b"{}")
        return web.Response(status=202, headers={"x-amzn-RequestId": request_id})
    client_context = _client_context(request)
    try:
        result = await context.invoker.invoke(name, event, client_context=client_context)
    except Throttled as throttled:
        raise InvokeError(
            aws_error(
                429,
                "TooManyRequestsException",
                "Rate Exceeded.",
                headers={"Retry-After": "1"},
                Reason=throttled.reason,
            )
        ) from None
    except FunctionNotFound:
        raise not_found(request, name) from None
    return _result_response(result, tail=log_type == "Tail")


# The legacy InvokeAsync API keeps its old limit (reference B1).
INVOKE_ASYNC_LIMIT = 262_144


async def invoke_async_handler(request: web.Request) -> web.StreamResponse:
    """Legacy ``POST /2014-11-13/functions/{name}/invoke-async/``: an Event invoke that
    answers ``202 {"Status": 202}``, as Lambda still does."""
    try:
        context = request.app[MAIN]
        name, _ = function_name(request)
        authorize(request, context.hub(), name)
        try:
            context.invoker.get(name)
        except FunctionNotFound:
            raise not_found(request, name) from None
        body = await _read(request, INVOKE_ASYNC_LIMIT, "Event")
        _parse_event(body)
        request_id = await context.invoker.enqueue(name, body if body.strip() else b"{}")
    except InvokeError as error:
        return error.response
    return web.json_response({"Status": 202}, status=202, headers={"x-amzn-RequestId": request_id})


def _result_response(result: InvocationResult, *, tail: bool) -> web.Response:
    headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": result.request_id}
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if tail:
        headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail.encode()).decode()
    return web.Response(
        status=200, body=result.payload, content_type="application/json", headers=headers
    )
