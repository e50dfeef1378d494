"""boto3's Lambda client pointed at the daemon: every answer parses into the modeled
response or the modeled exception class."""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support.daemon import Daemon, read_jsonl, wait_until

pytestmark = pytest.mark.e2e

HANDLER = """
def handler(event, context):
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError("payment declined")
    print("handled", event)
    cc = context.client_context
    return {"event": event, "custom": cc.custom if cc else None,
            "arn": context.invoked_function_arn}
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("boto3")
    (workdir / "functions").mkdir()
    (workdir / "functions" / "b3_orders.py").write_text(textwrap.dedent(HANDLER))
    function = {"handler": "b3_orders:handler", "code_dir": "functions"}
    config: dict[str, Any] = {
        "hub": {"max_sync_payload": 8192, "max_async_payload": 4096},
        "functions": {
            "orders": {**function, "async": {"on_success": "file:out/ok.jsonl"}},
            "frozen": {**function, "reserved_concurrency": 0},
        },
    }
    running = Daemon(workdir, config)
    running.start()
    yield running
    running.kill()


@pytest.fixture(scope="module")
def lam(daemon: Daemon) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=daemon.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_request_response(lam: Any) -> None:
    response = lam.invoke(FunctionName="orders", Payload=json.dumps({"id": 1}))
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert "LogResult" not in response
    body = json.loads(response["Payload"].read())
    assert body["event"] == {"id": 1}
    assert body["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:orders"


def test_function_error(lam: Any) -> None:
    response = lam.invoke(FunctionName="orders", Payload=b'{"fail": true}')
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "payment declined"
    assert error["requestId"] == response["ResponseMetadata"]["RequestId"]


def test_log_type_tail(lam: Any) -> None:
    response = lam.invoke(FunctionName="orders", Payload=b'{"id": 2}', LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    assert "START RequestId: " in log
    assert "handled {'id': 2}" in log
    assert "REPORT RequestId: " in log


def test_event_and_dry_run(lam: Any, daemon: Daemon) -> None:
    response = lam.invoke(FunctionName="orders", InvocationType="Event", Payload=b'{"id": 3}')
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    records = wait_until(
        lambda: [
            r
            for r in read_jsonl(daemon.workdir / "out" / "ok.jsonl")
            if r["requestPayload"] == {"id": 3}
        ],
        message="the Event invocation's on_success record",
    )
    assert records[0]["requestContext"]["condition"] == "Success"
    response = lam.invoke(FunctionName="orders", InvocationType="DryRun")
    assert response["StatusCode"] == 204
    assert response["ResponseMetadata"]["RequestId"]


def test_legacy_invoke_async(lam: Any, daemon: Daemon) -> None:
    response = lam.invoke_async(FunctionName="orders", InvokeArgs=b'{"id": "legacy"}')
    assert response["Status"] == 202
    wait_until(
        lambda: [
            r
            for r in read_jsonl(daemon.workdir / "out" / "ok.jsonl")
            if r["requestPayload"] == {"id": "legacy"}
        ],
        message="the InvokeAsync event's on_success record",
    )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke_async(FunctionName="nope", InvokeArgs=b"{}")


def test_client_context_and_arn_names(lam: Any) -> None:
    context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    response = lam.invoke(
        FunctionName="arn:aws:lambda:us-east-1:000000000000:function:orders",
        ClientContext=context,
        Payload=b"{}",
    )
    assert json.loads(response["Payload"].read())["custom"] == {"k": "v"}
    response = lam.invoke(FunctionName="000000000000:function:orders", Qualifier="$LATEST")
    assert response["StatusCode"] == 200


def test_resource_not_found(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as raised:
        lam.invoke(FunctionName="nope")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert "function:nope" in raised.value.response["Error"]["Message"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="orders", Qualifier="prod")


def test_too_many_requests(lam: Any) -> None:
    with pytest.raises(lam.exceptions.TooManyRequestsException) as raised:
        lam.invoke(FunctionName="frozen", Payload=b"{}")
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert response["Error"]["Message"]


@pytest.mark.parametrize(("kind", "size"), [("RequestResponse", 9000), ("Event", 5000)])
def test_request_too_large(lam: Any, kind: str, size: int) -> None:
    payload = json.dumps("x" * size).encode()
    with pytest.raises(lam.exceptions.RequestTooLargeException) as raised:
        lam.invoke(FunctionName="orders", InvocationType=kind, Payload=payload)
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert f"for the {kind} invocation type" in response["Error"]["Message"]


def test_invalid_request_content(lam: Any) -> None:
    with pytest.raises(lam.exceptions.InvalidRequestContentException) as raised:
        lam.invoke(FunctionName="orders", Payload=b"{not json")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Could not parse request body into json" in raised.value.response["Error"]["Message"]


def test_default_six_mb_limit(tmp_path: Path) -> None:
    """The default sync limit (6 MB) with a real client: 413 as the modeled exception."""
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "b3_big.py").write_text("def handler(e, c):\n    return len(e)\n")
    running = Daemon(
        tmp_path,
        {"functions": {"big": {"handler": "b3_big:handler", "code_dir": "functions"}}},
    ).start()
    try:
        client = boto3.client(
            "lambda",
            endpoint_url=running.url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"total_max_attempts": 1}),
        )
        fits = b'"' + b"x" * (6_291_456 - 2) + b'"'
        assert json.loads(client.invoke(FunctionName="big", Payload=fits)["Payload"].read()) == (
            6_291_454
        )
        with pytest.raises(client.exceptions.RequestTooLargeException):
            client.invoke(FunctionName="big", Payload=fits[:-1] + b'x"')
    finally:
        running.kill()


def test_get_and_list_functions(lam: Any) -> None:
    got = lam.get_function(FunctionName="orders")["Configuration"]
    assert got["FunctionName"] == "orders"
    assert got["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:orders"
    assert (got["Handler"], got["Timeout"], got["MemorySize"]) == ("b3_orders:handler", 3, 128)
    assert lam.get_function_configuration(FunctionName="frozen")["Version"] == "$LATEST"
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert names == ["frozen", "orders"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as missing:
        lam.get_function(FunctionName="nope")
    assert missing.value.response["ResponseMetadata"]["RequestId"]
    frozen = lam.get_function(FunctionName="frozen")
    assert frozen["Concurrency"] == {"ReservedConcurrentExecutions": 0}
    assert frozen["ResponseMetadata"]["RequestId"]
    assert "Concurrency" not in lam.get_function(FunctionName="orders")


def test_list_functions_pages(lam: Any) -> None:
    first = lam.list_functions(MaxItems=1)
    assert [f["FunctionName"] for f in first["Functions"]] == ["frozen"]
    second = lam.list_functions(MaxItems=1, Marker=first["NextMarker"])
    assert [f["FunctionName"] for f in second["Functions"]] == ["orders"]
    assert "NextMarker" not in second
    paged = lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1})
    assert [f["FunctionName"] for page in paged for f in page["Functions"]] == ["frozen", "orders"]
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.list_functions(Marker="not-a-marker")


def test_invalid_function_name_is_a_validation_error(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ClientError) as caught:
        lam.invoke(FunctionName="my function", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
