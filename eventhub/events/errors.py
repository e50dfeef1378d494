"""Error documents as the AWS Python runtime (awslambdaric) produces them."""

from __future__ import annotations

import os
import traceback
from datetime import datetime
from typing import Any

from eventhub.events._common import iso_ms

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep


def _is_eventhub_frame(filename: str) -> bool:
    return os.path.realpath(filename).startswith(_PACKAGE_DIR)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the original error
        return f"<unprintable {type(exc).__name__} object>"


def stack_trace(exc: BaseException) -> list[str]:
    """``traceback.format_list`` of ``exc``'s traceback without eventhub's own frames.

    Frames whose file lies inside the ``eventhub`` package directory are dropped wherever they
    are, so users see only their code (and the libraries it called).
    """
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not _is_eventhub_frame(f.filename)
    ]
    return traceback.format_list(frames)


def error_document(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The document a handler exception produces: ``errorMessage`` (``str(exc)``),
    ``errorType`` (the class name), ``requestId`` and ``stackTrace`` (see :func:`stack_trace`).
    """
    return {
        "errorMessage": _message(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": stack_trace(exc),
    }


def runtime_error(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    """A runtime-level error document (``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound``,
    ``Runtime.MarshalError``, ``Runtime.ExitError``, ``Sandbox.Timedout`` ...): same keys as
    :func:`error_document` with an empty ``stackTrace``.
    """
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": [],
    }


def timeout_error(request_id: str, timeout_seconds: float, at: datetime) -> dict[str, Any]:
    """The timeout payload in the form of ``events/invoke-error-payload.json``:
    ``{"errorMessage": "<ISO ms Z> <id> Task timed out after 3.00 seconds",
    "errorType": "Sandbox.Timedout"}`` (no ``requestId``/``stackTrace`` keys).
    """
    return {
        "errorMessage": (
            f"{iso_ms(at)} {request_id} Task timed out after {timeout_seconds:.2f} seconds"
        ),
        "errorType": "Sandbox.Timedout",
    }
