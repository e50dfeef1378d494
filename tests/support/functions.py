"""In-process function runtimes for unit tests of the runtime, the invoker and the API.

``Functions`` writes handler modules under unique names (modules live in one
interpreter-wide ``sys.modules``), builds ``FunctionRuntime``s on the inline
environment and undoes everything it touched afterwards. ``process_hooks`` puts the
per-function ``os.environ`` overlay, thread context inheritance and the logging capture
in place for one test only (the daemon installs them once for its process);
``capture_output`` the stdout/stderr proxies, which must be installed in the test's
call phase (pytest's own capture replaces ``sys.stdout`` between phases).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventhub.metrics import Metrics
from eventhub.runtime.concurrency import Limiter
from eventhub.runtime.context import FunctionIdentity
from eventhub.runtime.environ import OverlayEnviron, thread_bootstrap_inner, thread_start
from eventhub.runtime.environment import EnvironmentSpec
from eventhub.runtime.function import FunctionLimits, FunctionRuntime
from eventhub.runtime.inline import InlineEnvironment
from eventhub.runtime.logcapture import _CaptureHandler, _StreamProxy

REGION, ACCOUNT = "us-east-1", "123456789012"


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@contextlib.contextmanager
def process_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The daemon's process-wide hooks (environ overlay, output capture), for one test."""
    monkeypatch.setattr(os, "environ", OverlayEnviron(os.environ))
    monkeypatch.setattr(threading.Thread, "start", thread_start)
    monkeypatch.setattr(threading.Thread, "_bootstrap_inner", thread_bootstrap_inner)
    handler = _CaptureHandler()
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)


def capture_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route print() of invocations to their logs (idempotent)."""
    for name in ("stdout", "stderr"):
        if not isinstance(getattr(sys, name), _StreamProxy):
            monkeypatch.setattr(sys, name, _StreamProxy(getattr(sys, name), name))


class Functions:
    """Builds runtimes from handler source code; ``aclose`` releases them."""

    def __init__(
        self,
        tmp_path: Path,
        metrics: Metrics | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None,
    ) -> None:
        self.monkeypatch = monkeypatch
        self.code_dir = tmp_path / f"code_{uuid.uuid4().hex[:8]}"
        self.code_dir.mkdir()
        self.metrics = metrics or Metrics()
        self.modules: list[str] = []
        self.runtimes: list[FunctionRuntime] = []

    def module(self, source: str) -> str:
        """Write ``source`` as a new module; returns its (unique) name."""
        name = f"h_{uuid.uuid4().hex[:12]}"
        (self.code_dir / f"{name}.py").write_text(textwrap.dedent(source))
        self.modules.append(name)
        return name

    def runtime(
        self,
        source: str,
        *,
        name: str | None = None,
        attribute: str = "handler",
        timeout: float = 3.0,
        memory_mb: int = 128,
        reserved: int | None = None,
        variables: dict[str, str] | None = None,
        max_response: int = 6_291_456,
        limiter: Limiter | None = None,
    ) -> FunctionRuntime:
        """A runtime of a handler whose module is ``source``."""
        if self.monkeypatch is not None:
            capture_output(self.monkeypatch)
        module = self.module(source)
        name = name or f"fn-{module[2:8]}"
        if limiter is None:
            limiter = Limiter(1000 if reserved is None else reserved)
        spec = EnvironmentSpec(
            function=name,
            handler=f"{module}.{attribute}",
            module=module,
            attribute=attribute,
            code_dir=self.code_dir,
            variables=dict(variables or {}),
            timeout=timeout,
            memory_mb=memory_mb,
            max_concurrency=max(1, limiter.limit),
        )
        runtime = FunctionRuntime(
            FunctionIdentity(name, arn(name), str(memory_mb), f"/aws/lambda/{name}"),
            FunctionLimits(timeout, memory_mb, reserved, max_response),
            InlineEnvironment(spec),
            limiter,
            self.metrics,
        )
        self.runtimes.append(runtime)
        return runtime

    async def aclose(self) -> None:
        for runtime in self.runtimes:
            await runtime.environment.aclose()
        with contextlib.suppress(ValueError):
            sys.path.remove(str(self.code_dir.resolve()))
        for name in self.modules:
            sys.modules.pop(name, None)
