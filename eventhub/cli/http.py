"""A tiny synchronous HTTP client for CLI commands that talk to the running daemon."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from eventhub.cli.common import CliError


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 930,
) -> Reply:
    """Send one request; HTTP errors are replies, an unreachable daemon is a CliError."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 - http(s) URL built from config
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers.items()), exc.read())
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        base = url.split("/", 3)[:3]
        raise CliError(
            f"cannot reach the daemon at {'/'.join(base)}: {reason} (is `eventhub run` running?)"
        ) from None


def aws_json(url: str, target: str, payload: dict[str, Any], version: str = "1.1") -> Any:
    """Call an AWS JSON-protocol operation (``X-Amz-Target``); errors become CliError."""
    reply = request(
        "POST",
        url,
        json.dumps(payload).encode(),
        {"X-Amz-Target": target, "Content-Type": f"application/x-amz-json-{version}"},
    )
    data = reply.json() if reply.body else {}
    if reply.status >= 400:
        message = data.get("message") or data.get("Message") or reply.body.decode(errors="replace")
        raise CliError(f"{data.get('__type', reply.status)}: {message}")
    return data
