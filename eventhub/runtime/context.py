"""The ``context`` object handlers receive, with the attributes of Lambda's Python runtime."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(slots=True)
class CognitoIdentity:
    """``context.identity``: set only when a caller passes a Cognito identity."""

    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


@dataclass(slots=True)
class Client:
    """``context.client_context.client`` (mobile SDK client metadata)."""

    installation_id: str | None = None
    app_title: str | None = None
    app_version_name: str | None = None
    app_version_code: str | None = None
    app_package_name: str | None = None


@dataclass(slots=True)
class ClientContext:
    """``context.client_context``: from the X-Amz-Client-Context header of sync invokes."""

    client: Client | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClientContext:
        client = data.get("client")
        custom, env = data.get("custom"), data.get("env")
        known = Client.__slots__
        return cls(
            client=Client(**{k: v for k, v in client.items() if k in known})
            if isinstance(client, dict)
            else None,
            custom=custom if isinstance(custom, dict) else {},
            env=env if isinstance(env, dict) else {},
        )


@dataclass(frozen=True, slots=True)
class FunctionIdentity:
    """What does not change between invocations of one function."""

    function_name: str
    function_arn: str
    memory_limit_in_mb: str
    log_group_name: str
    function_version: str = "$LATEST"


def log_stream_name(version: str = "$LATEST") -> str:
    """``YYYY/MM/DD/[$LATEST]<32 hex>`` as Lambda names an environment's log stream."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


class LambdaContext:
    """The Lambda Python context: same attribute names and types as awslambdaric's.

    ``memory_limit_in_mb`` is a str, as in AWS's runtime; handlers call ``int()`` on it.
    """

    __slots__ = (
        "_deadline",
        "aws_request_id",
        "client_context",
        "function_name",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "tenant_id",
    )

    def __init__(
        self,
        function: FunctionIdentity,
        request_id: str,
        deadline: float,
        stream_name: str,
        client_context: ClientContext | None = None,
        identity: CognitoIdentity | None = None,
    ) -> None:
        self.function_name = function.function_name
        self.function_version = function.function_version
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = function.memory_limit_in_mb
        self.log_group_name = function.log_group_name
        self.log_stream_name = stream_name
        self.aws_request_id = request_id
        self.client_context = client_context
        self.identity = identity or CognitoIdentity()
        self.tenant_id: str | None = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out (never negative)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def log(self, msg: str) -> None:
        """Write to the function's log, as ``context.log`` does in Lambda."""
        import sys  # noqa: PLC0415 - resolved at call time so the capture proxy is used

        sys.stdout.write(msg if msg.endswith("\n") else msg + "\n")

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, "
            f"aws_request_id={self.aws_request_id!r})"
        )
