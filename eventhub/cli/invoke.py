"""``eventhub invoke NAME``: through the daemon's Invoke API, or in-process with --local."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
from typing import Any

from eventhub.cli.common import CONFIG_HELP, CliError, base_url, load, load_client
from eventhub.cli.http import request

TYPES = {"sync": "RequestResponse", "async": "Event", "dry-run": "DryRun"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "invoke",
        help="invoke a function (through the running daemon, or in-process with --local)",
        description="Invoke a function like `aws lambda invoke` (`sam local invoke` with --local).",
    )
    parser.add_argument("name", help="function name")
    parser.add_argument("-c", "--config", help=CONFIG_HELP)
    parser.add_argument(
        "--payload", default="{}", help="event JSON, @FILE to read a file, or - for stdin"
    )
    parser.add_argument("--type", choices=sorted(TYPES), default="sync", help="invocation type")
    parser.add_argument("--local", action="store_true", help="run the handler in this process")
    parser.add_argument(
        "--log",
        action="store_true",
        help="print the invocation's log tail to stderr (--local always shows the log)",
    )
    parser.add_argument(
        "--token", default=os.environ.get("EVENTHUB_TOKEN"), help="bearer token ($EVENTHUB_TOKEN)"
    )
    parser.set_defaults(command=run)


def read_payload(spec: str) -> bytes:
    """JSON text, ``@file`` or ``-`` (stdin); must parse as JSON."""
    if spec == "-":
        data = sys.stdin.buffer.read()
    elif spec.startswith("@"):
        try:
            with open(spec[1:], "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise CliError(f"cannot read payload file: {exc}") from None
    else:
        data = spec.encode()
    try:
        json.loads(data or b"{}")
    except ValueError as exc:
        raise CliError(f"payload is not JSON: {exc}") from None
    return data


def run(args: argparse.Namespace) -> int:
    payload = read_payload(args.payload)
    if args.local:
        return _local(load(args.config), args.name, payload, args.type)
    hub = load_client(args.config)
    headers = {"X-Amz-Invocation-Type": TYPES[args.type], "Content-Type": "application/json"}
    if args.log:
        headers["X-Amz-Log-Type"] = "Tail"
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    url = f"{base_url(hub.listen)}/2015-03-31/functions/{args.name}/invocations"
    reply = request("POST", url, payload, headers)
    if reply.status >= 400:
        error = reply.json() or {}
        message = (
            error.get("message") or error.get("Message") or reply.body.decode(errors="replace")
        )
        raise CliError(f"{reply.headers.get('x-amzn-ErrorType', reply.status)}: {message}")
    if args.log and "X-Amz-Log-Result" in reply.headers:
        sys.stderr.write(
            base64.b64decode(reply.headers["X-Amz-Log-Result"]).decode(errors="replace")
        )
    return _print_result(
        reply.status,
        reply.body,
        reply.headers.get("X-Amz-Function-Error"),
        reply.headers.get("x-amzn-RequestId"),
    )


def _print_result(
    status: int, body: bytes, function_error: str | None, request_id: str | None
) -> int:
    if status == 202:
        print(json.dumps({"StatusCode": 202, "RequestId": request_id}))
        return 0
    if status == 204:
        print(json.dumps({"StatusCode": 204}))
        return 0
    sys.stdout.write(body.decode(errors="replace") + "\n")
    if function_error:
        error = _try_json(body)
        kind = error.get("errorType", "Error") if isinstance(error, dict) else "Error"
        print(f"eventhub: function error ({function_error}): {kind}", file=sys.stderr)
        return 1
    return 0


def _try_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _local(loaded: Any, name: str, payload: bytes, kind: str) -> int:
    """Run in this process, like ``sam local invoke``: the function log streams to stderr."""
    if kind == "async":
        raise CliError("--local runs sync and dry-run invocations; use the daemon for async")
    from eventhub.local import invoke_locally  # noqa: PLC0415 - imports the runtime only here

    result = asyncio.run(
        invoke_locally(loaded, name, json.loads(payload or b"{}"), dry_run=kind == "dry-run")
    )
    if result is None:
        print(json.dumps({"StatusCode": 204}))
        return 0
    code = _print_result(200, result.payload, result.function_error, result.request_id)
    from eventhub.runtime.exit import leave_stuck_threads  # noqa: PLC0415

    leave_stuck_threads(code)  # a timed-out handler's thread must not hold the command
    return code
