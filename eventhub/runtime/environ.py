"""Per-function environment variables for handlers that share one process.

Inline functions run in the daemon's interpreter, yet each must see its own
``environment:`` (and Lambda's ``AWS_LAMBDA_*`` variables) through ``os.environ`` and
``os.getenv``. ``os.environ`` is replaced once by a mapping that consults a per-context
overlay first; the overlay is set around imports and invocations (threads get a copy of
the context). Writes from a handler land in its own overlay. Child processes started
by a handler see only the real process environment.

Threads a handler starts itself (``threading.Thread``, its own thread pools) run in a
copy of the invocation's context, so they see the function's variables too (and their
output is captured with the request id); threads started outside invocations are
untouched.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Iterator, MutableMapping
from contextvars import ContextVar

current_overlay: ContextVar[dict[str, str] | None] = ContextVar("eventhub_environ", default=None)


class OverlayEnviron(MutableMapping[str, str]):
    """``os.environ`` seen through the running function's overlay."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base

    def __getitem__(self, key: str) -> str:
        overlay = current_overlay.get()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = current_overlay.get()
        if overlay is None:
            self.base[key] = value
        else:
            overlay[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = current_overlay.get()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self.base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = current_overlay.get()
        if overlay is None:
            return iter(self.base)
        return iter({**dict.fromkeys(self.base), **dict.fromkeys(overlay)})

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)

    def __repr__(self) -> str:
        return f"environ({dict(self)!r})"


_thread_start = threading.Thread.start
_thread_bootstrap_inner = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]


def thread_start(thread: threading.Thread) -> None:
    """``Thread.start`` that hands the thread the invocation's context, if any."""
    if current_overlay.get() is not None:
        thread._eventhub_context = contextvars.copy_context()  # type: ignore[attr-defined]
    _thread_start(thread)


def thread_bootstrap_inner(thread: threading.Thread) -> None:
    """Runs the thread's body inside the context ``thread_start`` gave it."""
    context: contextvars.Context | None = getattr(thread, "_eventhub_context", None)
    if context is None:
        _thread_bootstrap_inner(thread)
    else:
        context.run(_thread_bootstrap_inner, thread)


def install_environ() -> None:
    """Make ``os.environ`` overlay-aware, and threads inherit it; idempotent."""
    if not isinstance(os.environ, OverlayEnviron):
        os.environ = OverlayEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003 - we keep the real one inside
    threading.Thread.start = thread_start  # type: ignore[method-assign, assignment]
    threading.Thread._bootstrap_inner = thread_bootstrap_inner  # type: ignore[attr-defined]
