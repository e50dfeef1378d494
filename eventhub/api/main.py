"""The main listener: Invoke API, AWS JSON-protocol APIs (``X-Amz-Target``) and HTTP routes."""

from __future__ import annotations

import re

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from eventhub.api import functions
from eventhub.api.errors import BadBody, BodyTooLarge, aws_error, read_body
from eventhub.api.invoke import invoke_async_handler, invoke_handler
from eventhub.api.state import MAIN, MainContext
from eventhub.runtime.stats import request_id

log = structlog.get_logger("eventhub.api")

# An AWS JSON request is small; the largest is a PutRecords / SendMessageBatch.
MAX_TARGET_BODY = 16 * 1024 * 1024
# Lambda's REST APIs live under a version date: /2015-03-31/, /2017-10-31/, /2019-09-25/ ...
LAMBDA_API = re.compile(r"^/20\d\d-\d\d-\d\d/")


async def _dispatch_target(request: web.Request) -> web.StreamResponse:
    context = request.app[MAIN]
    target = request.headers.get("X-Amz-Target", "")
    handler = context.targets.get(target)
    if handler is None:
        service = target.partition(".")[0] or "unknown"
        return aws_json_error(
            400, "UnknownOperationException", f"{service}: operation {target!r} is not supported"
        )
    try:
        body = await read_body(request, MAX_TARGET_BODY)
    except BodyTooLarge:
        return aws_json_error(413, "RequestEntityTooLarge", "request body too large")
    except BadBody as exc:
        return aws_json_error(400, "SerializationException", str(exc))
    return await handler(request, body)


def aws_json_error(status: int, code: str, message: str) -> web.Response:
    """The error shape of AWS JSON-protocol services (Kinesis, SQS)."""
    return web.json_response(
        {"__type": code, "message": message},
        status=status,
        content_type="application/x-amz-json-1.1",
        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id()},
    )


async def _root(request: web.Request) -> web.StreamResponse:
    if "X-Amz-Target" in request.headers:
        return await _dispatch_target(request)
    return await _fallback(request)


async def _fallback(request: web.Request) -> web.StreamResponse:
    for fallback in request.app[MAIN].fallbacks:
        response = await fallback(request)
        if response is not None:
            return response
    if LAMBDA_API.match(request.path):  # e.g. GET on .../invocations: as Lambda answers
        return aws_error(
            404,
            "UnknownOperationException",
            f"Unknown operation: {request.method} {request.path}",
        )
    return web.json_response({"message": "Not Found"}, status=404)


def _no_tracebacks(handler: Handler) -> Handler:
    """Whatever fails, the client gets JSON and no traceback leaves the process.

    A wrapper per route rather than a middleware: aiohttp then calls handlers directly,
    which matters on the invoke path (a few microseconds per request)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400 and exc.content_type != "application/json":
                return web.json_response(
                    {"message": exc.reason}, status=exc.status, headers=exc.headers
                )
            raise
        except Exception:  # noqa: BLE001 - the boundary: log it, answer 500
            log.exception("request failed", method=request.method, path=request.path)
            return aws_error(500, "ServiceException", "An internal error occurred.", kind="Service")

    return guarded


def build_main_app(context: MainContext) -> web.Application:
    """The aiohttp application of ``hub.listen``."""
    app = web.Application(client_max_size=MAX_TARGET_BODY)
    app[MAIN] = context
    app.router.add_post("/2015-03-31/functions/{name}/invocations", _no_tracebacks(invoke_handler))
    for path in (
        "/2014-11-13/functions/{name}/invoke-async",
        "/2014-11-13/functions/{name}/invoke-async/",
    ):
        app.router.add_post(path, _no_tracebacks(invoke_async_handler))
    for path in ("/2015-03-31/functions", "/2015-03-31/functions/"):
        app.router.add_get(path, _no_tracebacks(functions.list_functions))
    app.router.add_get("/2015-03-31/functions/{name}", _no_tracebacks(functions.get_function))
    app.router.add_get(
        "/2015-03-31/functions/{name}/configuration",
        _no_tracebacks(functions.get_function_configuration),
    )
    app.router.add_route("*", "/", _no_tracebacks(_root))
    app.router.add_route("*", "/{tail:.*}", _no_tracebacks(_fallback))
    return app
