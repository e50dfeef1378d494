"""CORS for ``http`` sources, as API Gateway HTTP APIs answer it.

Pure logic over header mappings. With a ``cors`` setting on a route, the hub answers
preflight ``OPTIONS`` requests itself (204, no function invocation, no auth), adds
``Access-Control-Allow-Origin`` (and the exposed headers / credentials flag) to the
responses of allowed origins, and drops any ``Access-Control-*`` headers the handler
returned, since API Gateway ignores the integration's CORS headers when CORS is
configured.
"""

from __future__ import annotations

from collections.abc import Mapping

from eventhub.config.sources import HttpCors

_REQUEST_METHOD = "Access-Control-Request-Method"


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    """An ``OPTIONS`` request with ``Origin`` and ``Access-Control-Request-Method``."""
    return method == "OPTIONS" and "Origin" in headers and _REQUEST_METHOD in headers


def requested_method(headers: Mapping[str, str]) -> str:
    """The method a preflight asks about, upper-cased."""
    return headers.get(_REQUEST_METHOD, "").strip().upper()


def _allowed_origin(cors: HttpCors, origin: str) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for ``origin``, or None if not allowed."""
    if "*" in cors.allow_origins:
        return origin if cors.allow_credentials else "*"
    return origin if origin in cors.allow_origins else None


def _method_allowed(cors: HttpCors, method: str) -> bool:
    return "*" in cors.allow_methods or method in {m.upper() for m in cors.allow_methods}


def preflight_headers(cors: HttpCors, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """Headers of the 204 answer to a preflight; empty when origin or method is not allowed
    (the browser then blocks the request, as with API Gateway)."""
    origin = _allowed_origin(cors, headers.get("Origin", ""))
    method = requested_method(headers)
    if origin is None or not _method_allowed(cors, method):
        return []
    out = [("Access-Control-Allow-Origin", origin)]
    if "*" in cors.allow_methods:
        out.append(("Access-Control-Allow-Methods", method))
    else:
        out.append(
            ("Access-Control-Allow-Methods", ",".join(m.upper() for m in cors.allow_methods))
        )
    requested_headers = headers.get("Access-Control-Request-Headers", "").strip()
    if "*" in cors.allow_headers and requested_headers:
        out.append(("Access-Control-Allow-Headers", requested_headers))
    elif cors.allow_headers:
        out.append(("Access-Control-Allow-Headers", ",".join(cors.allow_headers)))
    if cors.max_age is not None:
        out.append(("Access-Control-Max-Age", str(cors.max_age)))
    if cors.allow_credentials:
        out.append(("Access-Control-Allow-Credentials", "true"))
    if origin != "*":
        out.append(("Vary", "Origin"))
    return out


def response_headers(cors: HttpCors, origin: str | None) -> list[tuple[str, str]]:
    """CORS headers added to an actual (non-preflight) response for ``origin``."""
    if origin is None:
        return []
    allowed = _allowed_origin(cors, origin)
    if allowed is None:
        return []
    out = [("Access-Control-Allow-Origin", allowed)]
    if cors.expose_headers:
        out.append(("Access-Control-Expose-Headers", ",".join(cors.expose_headers)))
    if cors.allow_credentials:
        out.append(("Access-Control-Allow-Credentials", "true"))
    if allowed != "*":
        out.append(("Vary", "Origin"))
    return out
