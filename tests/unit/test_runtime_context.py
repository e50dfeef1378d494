"""The ``context`` object: the attributes and types of Lambda's Python runtime."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eventhub.runtime import context as context_module
from eventhub.runtime.context import (
    Client,
    ClientContext,
    CognitoIdentity,
    FunctionIdentity,
    LambdaContext,
    log_stream_name,
)
from tests.support.functions import Functions, arn

STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


def _identity(name: str = "orders") -> FunctionIdentity:
    return FunctionIdentity(name, arn(name), "256", f"/aws/lambda/{name}")


class FakeMonotonic:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_attributes_have_lambdas_names_and_types() -> None:
    request_id = str(uuid.uuid4())
    ctx = LambdaContext(_identity(), request_id, 0.0, log_stream_name())
    assert ctx.function_name == "orders"
    assert ctx.function_version == "$LATEST"
    assert ctx.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:orders"
    assert ctx.memory_limit_in_mb == "256"
    assert isinstance(ctx.memory_limit_in_mb, str)  # awslambdaric's type; handlers int() it
    assert int(ctx.memory_limit_in_mb) == 256
    assert ctx.aws_request_id == request_id
    assert ctx.log_group_name == "/aws/lambda/orders"
    assert STREAM.match(ctx.log_stream_name), ctx.log_stream_name
    assert ctx.client_context is None
    assert ctx.tenant_id is None


def test_identity_is_always_an_object_with_cognito_fields() -> None:
    ctx = LambdaContext(_identity(), "r", 0.0, "s")
    assert isinstance(ctx.identity, CognitoIdentity)
    assert ctx.identity.cognito_identity_id is None
    assert ctx.identity.cognito_identity_pool_id is None
    given = CognitoIdentity("us-east-1:abc", "us-east-1:pool")
    assert LambdaContext(_identity(), "r", 0.0, "s", identity=given).identity is given


def test_client_context_from_the_header_json() -> None:
    data = {
        "client": {"installation_id": "i-1", "app_title": "shop", "unknown_key": "dropped"},
        "custom": {"tenant": "acme"},
        "env": {"platform": "android"},
    }
    client_context = ClientContext.from_json(data)
    ctx = LambdaContext(_identity(), "r", 0.0, "s", client_context=client_context)
    assert ctx.client_context is not None
    assert isinstance(ctx.client_context.client, Client)
    assert ctx.client_context.client.installation_id == "i-1"
    assert ctx.client_context.client.app_title == "shop"
    assert ctx.client_context.client.app_package_name is None
    assert ctx.client_context.custom == {"tenant": "acme"}
    assert ctx.client_context.env == {"platform": "android"}


def test_client_context_tolerates_missing_or_wrong_parts() -> None:
    client_context = ClientContext.from_json({"client": "nope", "custom": [1], "env": None})
    assert client_context.client is None
    assert client_context.custom == {}
    assert client_context.env == {}


def test_remaining_time_decreases_and_is_never_negative(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeMonotonic(100.0)
    monkeypatch.setattr(context_module.time, "monotonic", clock)
    ctx = LambdaContext(_identity(), "r", 103.0, "s")
    first = ctx.get_remaining_time_in_millis()
    assert first == 3000
    assert isinstance(first, int)
    clock.now = 101.5
    second = ctx.get_remaining_time_in_millis()
    assert second == 1500
    clock.now = 110.0
    assert ctx.get_remaining_time_in_millis() == 0


def test_context_log_writes_a_line_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    LambdaContext(_identity(), "r", 0.0, "s").log("hello")
    assert capsys.readouterr().out == "hello\n"


def test_log_stream_name_is_unique_per_environment() -> None:
    assert log_stream_name() != log_stream_name()
    assert STREAM.match(log_stream_name())


@pytest.fixture
async def functions(tmp_path: Path) -> AsyncIterator[Functions]:
    made = Functions(tmp_path)
    yield made
    await made.aclose()


@pytest.mark.parametrize("kind", ["def", "async def"])
async def test_handler_sees_the_context(functions: Functions, kind: str) -> None:
    runtime = functions.runtime(
        f"""
        {kind} handler(event, context):
            return {{
                "name": context.function_name,
                "version": context.function_version,
                "arn": context.invoked_function_arn,
                "memory": context.memory_limit_in_mb,
                "request_id": context.aws_request_id,
                "group": context.log_group_name,
                "stream": context.log_stream_name,
                "identity": context.identity.cognito_identity_id,
                "client_context": context.client_context,
                "remaining": context.get_remaining_time_in_millis(),
            }}
        """,
        name="ctx-fn",
        timeout=5,
        memory_mb=512,
    )
    result = await runtime.invoke({}, request_id="req-1")
    assert result.ok, result.value
    seen = result.value
    assert seen["name"] == "ctx-fn"
    assert seen["version"] == "$LATEST"
    assert seen["arn"] == arn("ctx-fn")
    assert seen["memory"] == "512"
    assert seen["request_id"] == "req-1"
    assert seen["group"] == "/aws/lambda/ctx-fn"
    assert STREAM.match(seen["stream"])
    assert seen["identity"] is None
    assert seen["client_context"] is None
    assert 0 < seen["remaining"] <= 5000


async def test_handler_gets_the_callers_client_context(functions: Functions) -> None:
    runtime = functions.runtime(
        """
        def handler(event, context):
            cc = context.client_context
            return {"custom": cc.custom, "title": cc.client.app_title}
        """
    )
    client_context = ClientContext.from_json({"client": {"app_title": "t"}, "custom": {"k": 1}})
    result = await runtime.invoke({}, client_context=client_context)
    assert result.value == {"custom": {"k": 1}, "title": "t"}


async def test_each_invocation_gets_a_fresh_uuid_request_id(functions: Functions) -> None:
    runtime = functions.runtime("def handler(event, context):\n    return context.aws_request_id\n")
    first, second = await runtime.invoke({}), await runtime.invoke({})
    assert first.value == first.request_id
    assert first.request_id != second.request_id
    assert uuid.UUID(first.request_id).version == 4
