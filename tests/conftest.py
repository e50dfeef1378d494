"""Fixtures shared by every test suite."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import Daemon


@pytest.fixture
def write_functions(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write handler modules ``{"name": source}`` into ``tmp_path/functions``."""

    def write(modules: dict[str, str]) -> Path:
        code = tmp_path / "functions"
        code.mkdir(exist_ok=True)
        for name, source in modules.items():
            (code / f"{name}.py").write_text(textwrap.dedent(source))
        return code

    return write


@pytest.fixture
def daemon_factory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Daemon]]:
    """Start daemons as processes; every one is killed at the end, its log shown on failure."""
    started: list[Daemon] = []

    def make(
        config: dict[str, Any], *, start: bool = True, env: dict[str, str] | None = None
    ) -> Daemon:
        daemon = Daemon(tmp_path, config, env)
        started.append(daemon)
        if start:
            daemon.start()
        return daemon

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for daemon in started:
        daemon.kill()
        if failed:
            print(f"\n--- daemon log ({daemon.log_path}) ---\n{daemon.log_text()[-20000:]}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
