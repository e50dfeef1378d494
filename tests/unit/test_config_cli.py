"""``eventhub validate``: exit status and output, run as the user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def validate(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventhub", "validate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_valid_file_exits_0_with_a_summary(tmp_path: Path) -> None:
    file = tmp_path / "eventhub.yaml"
    file.write_text(
        "queues: {jobs: {}}\n"
        "functions: {f: {handler: f:handler}, g: {handler: g:handler}}\n"
        "sources: {work: {type: queue, queue: jobs, function: f}}\n"
    )
    for module in ("f", "g"):
        (tmp_path / f"{module}.py").write_text("def handler(e, c): pass\n")
    result = validate("-c", str(file), cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"{file.resolve()}: valid (2 functions, 1 sources, 0 streams, 1 queues)\n"
    )


def test_code_that_is_not_there_is_a_warning_not_an_error(tmp_path: Path) -> None:
    file = tmp_path / "eventhub.yaml"
    file.write_text(
        "functions:\n  f: {handler: f:handler}\n  g: {handler: nomod:handler, code_dir: nodir}\n"
    )
    result = validate("-c", str(file), cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"warning: functions.f.handler: no module 'f' in {tmp_path.resolve()} "
        "(it must then be importable from the daemon's environment)",
        f"warning: functions.g.code_dir: no directory {tmp_path.resolve() / 'nodir'}",
    ]


def test_invalid_file_exits_1_and_prints_every_problem(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text(
        "version: 1\n"
        "functions:\n"
        "  f:\n"
        "    handler: f:handler\n"
        "    timeout: 901\n"
        "    tmeout: 3\n"
        "sources:\n"
        "  orders:\n"
        "    type: stream\n"
        "    stream: clicks\n"
        "    function: f\n"
        "    batch_size: 10001\n"
    )
    result = validate("-c", "broken.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "broken.yaml:5: functions.f.timeout: must be <= 900",
        "broken.yaml:6: functions.f.tmeout: unknown key (did you mean 'timeout'?)",
        "broken.yaml:10: sources.orders.stream: stream 'clicks' is not defined under streams",
        "broken.yaml:12: sources.orders.batch_size: must be <= 10000",
        "eventhub: configuration invalid (4 problems)",
    ]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("version: 1\nhub:\n  listen: [127.0.0.1:8080\n")
    result = validate("-c", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("bad.yaml:4: YAML syntax: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["missing.yaml", "."])
def test_unreadable_file_is_one_clear_line(tmp_path: Path, name: str) -> None:
    result = validate("-c", name, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] in (f"{name}: no such file", f"{name}: is a directory, not a file")
    assert lines[1:] == ["eventhub: configuration invalid (1 problem)"]


def test_config_is_found_through_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "env.yaml"
    file.write_text("version: 1\n")
    result = validate(cwd=tmp_path, env={"EVENTHUB_CONFIG": str(file), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{file.resolve()}: valid (0 functions")


def test_no_file_found_by_default_names_the_places_looked_at(tmp_path: Path) -> None:
    result = validate(cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr == (
        "eventhub: no configuration file: neither ./eventhub.yaml nor config/eventhub.yaml "
        "exists here; give one with -c FILE or $EVENTHUB_CONFIG\n"
    )
