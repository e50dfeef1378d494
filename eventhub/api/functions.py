"""Read-only Lambda function APIs: GetFunction, GetFunctionConfiguration, ListFunctions.

Deployment tools and tests often ask whether a function exists before invoking it;
these answer from the configuration, in the shapes boto3's Lambda client parses.
"""

from __future__ import annotations

import fnmatch
import math
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from eventhub.api.errors import aws_error
from eventhub.api.invoke import InvokeError, authorize, function_name, not_found
from eventhub.api.state import MAIN
from eventhub.config.models import FunctionConfig, HubConfig
from eventhub.runtime.stats import request_id

_STARTED = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def configuration(name: str, function: FunctionConfig, hub: HubConfig) -> dict[str, Any]:
    """Lambda's FunctionConfiguration of ``name``."""
    arn = f"arn:aws:lambda:{hub.region}:{hub.account_id}:function:{name}"
    return {
        "FunctionName": name,
        "FunctionArn": arn,
        "Runtime": "python3.11",
        "Role": f"arn:aws:iam::{hub.account_id}:role/eventhub",
        "Handler": function.handler,
        "CodeSize": 0,
        "Description": function.description,
        "Timeout": math.ceil(function.timeout),  # whole seconds in the API
        "MemorySize": function.memory_mb,
        "LastModified": _STARTED,
        "Version": "$LATEST",
        "Environment": {"Variables": dict(function.environment)},
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
    }


def _lookup(request: web.Request) -> tuple[str, FunctionConfig, HubConfig]:
    context = request.app[MAIN]
    hub = context.hub()
    name, _ = function_name(request)
    authorize(request, hub, name)
    function = context.functions().get(name)
    if function is None:
        raise not_found(request, name)
    return name, function, hub


def _answer(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, headers={"x-amzn-RequestId": request_id()})


async def get_function(request: web.Request) -> web.Response:
    try:
        name, function, hub = _lookup(request)
    except InvokeError as error:
        return error.response
    body: dict[str, Any] = {
        "Configuration": configuration(name, function, hub),
        "Code": {"RepositoryType": "S3", "Location": ""},
    }
    if function.reserved_concurrency is not None:
        body["Concurrency"] = {"ReservedConcurrentExecutions": function.reserved_concurrency}
    return _answer(body)


async def get_function_configuration(request: web.Request) -> web.Response:
    try:
        return _answer(configuration(*_lookup(request)))
    except InvokeError as error:
        return error.response


# ListFunctions answers at most 50 functions a page, as Lambda does.
PAGE_LIMIT = 50


async def list_functions(request: web.Request) -> web.Response:
    context = request.app[MAIN]
    hub = context.hub()
    visible = _visible_to(request, hub)
    names = [name for name in sorted(context.functions()) if visible(name)]
    try:
        limit = int(request.query.get("MaxItems", PAGE_LIMIT))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 10000:
        return aws_error(
            400,
            "InvalidParameterValueException",
            "MaxItems must be a whole number between 1 and 10000",
        )
    start = 0
    marker = request.query.get("Marker")
    if marker is not None:
        if not marker.isdigit() or int(marker) > len(names):
            return aws_error(400, "InvalidParameterValueException", "Invalid marker")
        start = int(marker)
    end = start + min(limit, PAGE_LIMIT)
    functions = context.functions()
    body: dict[str, Any] = {
        "Functions": [configuration(name, functions[name], hub) for name in names[start:end]]
    }
    if end < len(names):
        body["NextMarker"] = str(end)
    return _answer(body)


def _visible_to(request: web.Request, hub: HubConfig) -> Any:
    """Which names the caller may see: all without auth, else its token's globs."""
    if hub.auth is None or not hub.auth.tokens:
        return lambda name: True
    secret = request.headers.get("Authorization", "").partition(" ")[2].strip()
    for token in hub.auth.tokens.values():
        if token.secret.get_secret_value() == secret:
            return lambda name: any(fnmatch.fnmatchcase(name, g) for g in token.may_invoke)
    return lambda name: False
