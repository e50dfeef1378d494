"""AWS-style JSON error responses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from eventhub.runtime.stats import request_id


def aws_error(
    status: int,
    code: str,
    message: str,
    *,
    kind: str = "User",
    message_key: str = "message",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """``{"Type": ..., "message": ...}`` with ``x-amzn-ErrorType: code``, as Lambda answers."""
    body: dict[str, Any] = {"Type": kind, message_key: message, **extra}
    all_headers = {"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id(), **(headers or {})}
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=all_headers,
    )


def json_error(status: int, error_type: str, message: str) -> web.Response:
    """The admin API's error shape: ``{"__type": ..., "message": ...}``."""
    return web.json_response({"__type": error_type, "message": message}, status=status)


class BodyTooLarge(Exception):  # noqa: N818 - a condition, mapped to 413
    """The request body exceeds the limit that applies to it."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} > {limit}")
        self.size = size
        self.limit = limit


# A client that declares a body and stops sending it must not hold a connection forever.
BODY_TIMEOUT = 30.0


class BadBody(Exception):  # noqa: N818 - a condition, mapped to 400
    """The request body could not be read: cut off, or a broken Content-Encoding."""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole (decoded) body; BodyTooLarge as soon as it exceeds ``limit`` bytes,
    BadBody when it cannot be read or stops arriving for ``BODY_TIMEOUT`` seconds."""
    declared = request.content_length
    try:
        if declared is not None and request.content.total_bytes >= declared:
            return await _read_body(request, limit)  # all here already: no timer needed
        async with asyncio.timeout(BODY_TIMEOUT):
            return await _read_body(request, limit)
    except TimeoutError:
        raise BadBody(f"the request body did not arrive within {BODY_TIMEOUT:.0f} s") from None
    except (
        HttpProcessingError,
        ClientPayloadError,
        RequestPayloadError,
        ConnectionError,
        EOFError,
    ) as exc:
        raise BadBody(f"the request body could not be read: {exc}") from None


async def _read_body(request: web.Request, limit: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(declared, limit)
    encoded = request.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
    if declared is not None and not encoded:  # the common case: one read of a known length
        return await request.content.readexactly(declared) if declared else b""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)
