"""The wire between the hub and a process-runtime worker, and the context as plain data.

A frame is ``>II`` (header length, body length), a JSON header, then raw body bytes.
The body carries what is already JSON (the event, the handler's response) so it is
encoded once and never escaped inside another JSON document.

Hub to worker: ``hello`` (first frame: what to import, limits), then ``invoke`` frames
(``id``, ``context``; body = event JSON). Worker to hub, for the running request:
``log`` lines (``id``, ``stream``, ``text``), ``init`` (``ms``) once after the cold
start, then one terminal frame: ``ok`` (body = response, ``raw`` for bytes),
``error`` (handler exception: ``doc``, ``trace``), ``fail`` (``type``, ``msg``: marshal
or unmarshal errors), ``init_error`` (``type``, ``msg``) or ``oom``. Terminal frames
carry ``mem``, the worker's max RSS in MB, and ``mark``: whether ``RAW_MARK`` and the
request id were written to fd 2 after the invocation's raw output.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import struct
import threading
import time
from typing import Any

from eventhub.runtime.context import (
    ClientContext,
    CognitoIdentity,
    FunctionIdentity,
    LambdaContext,
)

_PREFIX = struct.Struct(">II")
# Written by the worker on fd 2 after an invocation's raw output, before its answer.
RAW_MARK = b"\x1eeventhub-raw-end\x1e"
MAX_HEADER = 16 * 1024 * 1024
MAX_BODY = 1024 * 1024 * 1024

Header = dict[str, Any]


def encode_frame(header: Header, body: bytes = b"") -> bytes:
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    return _PREFIX.pack(len(head), len(body)) + head + body


def _decode_header(data: bytes) -> Header:
    header = json.loads(data)
    if not isinstance(header, dict) or not isinstance(header.get("t"), str):
        raise ValueError("malformed frame header")  # noqa: TRY004 - like bad JSON: a corrupt frame
    return header


def _check_sizes(head: int, body: int) -> None:
    if head > MAX_HEADER or body > MAX_BODY:
        raise ValueError(f"frame too large ({head} + {body} bytes)")


async def read_frame(reader: asyncio.StreamReader) -> tuple[Header, bytes]:
    """Read one frame. Raises IncompleteReadError at EOF, ValueError on a malformed frame."""
    head_len, body_len = _PREFIX.unpack(await reader.readexactly(_PREFIX.size))
    _check_sizes(head_len, body_len)
    header = _decode_header(await reader.readexactly(head_len))
    body = await reader.readexactly(body_len) if body_len else b""
    return header, body


class Channel:
    """The worker's end: blocking frame I/O on two private file descriptors.

    ``send`` is thread-safe (handler threads print too); ``receive`` returns None at EOF.
    """

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._lock = threading.Lock()

    def send(self, header: Header, body: bytes = b"") -> None:
        data = memoryview(encode_frame(header, body))
        with self._lock:
            while data:
                data = data[os.write(self._write_fd, data) :]

    def receive(self) -> tuple[Header, bytes] | None:
        prefix = self._read_exactly(_PREFIX.size)
        if prefix is None:
            return None
        head_len, body_len = _PREFIX.unpack(prefix)
        _check_sizes(head_len, body_len)
        head = self._read_exactly(head_len)
        body = self._read_exactly(body_len) if body_len else b""
        if head is None or body is None:
            return None
        return _decode_header(head), body

    def _read_exactly(self, size: int) -> bytes | None:
        chunks: list[bytes] = []
        while size:
            chunk = os.read(self._read_fd, min(size, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


def context_data(context: LambdaContext, budget: float) -> dict[str, Any]:
    """The context as JSON-ready data; ``remaining`` is the handler's budget in seconds."""
    client_context = context.client_context
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "tenant_id": context.tenant_id,
        "client_context": None
        if client_context is None
        else {
            "client": dataclasses.asdict(client_context.client) if client_context.client else None,
            "custom": client_context.custom,
            "env": client_context.env,
        },
        "identity": dataclasses.asdict(context.identity),
        "remaining": budget,
    }


def context_from_data(request_id: str, data: dict[str, Any], remaining: float) -> LambdaContext:
    """Rebuild the context in the worker; its deadline is ``remaining`` seconds from now."""
    function = FunctionIdentity(
        function_name=data["function_name"],
        function_arn=data["invoked_function_arn"],
        memory_limit_in_mb=data["memory_limit_in_mb"],
        log_group_name=data["log_group_name"],
        function_version=data["function_version"],
    )
    client_context = data.get("client_context")
    identity = data.get("identity") or {}
    context = LambdaContext(
        function,
        request_id,
        time.monotonic() + remaining,
        data["log_stream_name"],
        ClientContext.from_json(client_context) if isinstance(client_context, dict) else None,
        CognitoIdentity(
            cognito_identity_id=identity.get("cognito_identity_id"),
            cognito_identity_pool_id=identity.get("cognito_identity_pool_id"),
        ),
    )
    context.tenant_id = data.get("tenant_id")
    return context
