"""hub.watch_config: editing the config file reloads the daemon like SIGHUP does."""

from __future__ import annotations

import os

import pytest
import yaml

from tests.support.daemon import wait_until

pytestmark = pytest.mark.e2e

ECHO = "def handler(event, context):\n    return {'echo': event}\n"


def _functions(daemon) -> set[str]:
    status, body = daemon.admin("GET", "/functions")
    assert status == 200
    return {f["name"] for f in body["functions"]}


def _save(daemon, config: dict | str) -> None:
    """Save as editors do: write a temporary file, rename it over the config."""
    text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
    temporary = daemon.config_path.with_name(".eventhub.yaml.swp")
    temporary.write_text(text)
    os.replace(temporary, daemon.config_path)


def _events(daemon, name: str) -> list[dict]:
    return [e for e in daemon.log_events() if e.get("event") == name]


def test_valid_edit_reloads_invalid_edit_is_rejected(daemon_factory, write_functions):
    write_functions({"echo": ECHO})
    fn = {"handler": "echo:handler", "code_dir": "functions"}
    daemon = daemon_factory({"hub": {"watch_config": True}, "functions": {"one": fn}})
    wait_until(lambda: _events(daemon, "watching the config file for changes"))

    config = daemon.config
    config["functions"]["two"] = fn
    _save(daemon, config)
    wait_until(lambda: _functions(daemon) == {"one", "two"}, message="function two")
    assert daemon.invoke("two", {"n": 2})[2] == {"echo": {"n": 2}}

    broken = yaml.safe_dump(config, sort_keys=False).replace("code_dir: functions", "cod_dir: x")
    _save(daemon, broken)
    rejected = wait_until(
        lambda: _events(
            daemon, "reload rejected: the new configuration is invalid; the running one is kept"
        ),
        message="rejection logged",
    )
    assert any("functions.one.cod_dir" in error for error in rejected[0]["errors"])
    assert _functions(daemon) == {"one", "two"}
    assert daemon.invoke("one", {"n": 1})[:3:2] == (200, {"echo": {"n": 1}})

    config["functions"]["three"] = fn
    _save(daemon, config)
    wait_until(lambda: _functions(daemon) == {"one", "two", "three"}, message="function three")
    assert len(_events(daemon, "configuration reloaded")) == 2
    assert daemon.stop() == 0


def test_turning_watch_off_by_reload_stops_watching(daemon_factory, write_functions):
    write_functions({"echo": ECHO})
    fn = {"handler": "echo:handler", "code_dir": "functions"}
    daemon = daemon_factory({"hub": {"watch_config": True}, "functions": {"one": fn}})
    wait_until(lambda: _events(daemon, "watching the config file for changes"))
    config = daemon.config
    config["hub"]["watch_config"] = False
    _save(daemon, config)
    wait_until(lambda: _events(daemon, "no longer watching the config file"))
    assert daemon.stop() == 0


def test_watch_is_off_by_default(daemon_factory, write_functions):
    write_functions({"echo": ECHO})
    daemon = daemon_factory(
        {"functions": {"one": {"handler": "echo:handler", "code_dir": "functions"}}}
    )
    assert daemon.stop() == 0
    assert not _events(daemon, "watching the config file for changes")
