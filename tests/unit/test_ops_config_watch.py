"""ConfigWatch on a real directory: reloads on changed bytes only, stops when disabled."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from connectors.config_watch import ConfigWatch


async def _until(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_changed_bytes_reload_unchanged_and_neighbours_do_not(tmp_path: Path) -> None:
    path = tmp_path / "eventhub.yaml"
    path.write_text("version: 1\n")
    seen: list[str] = []

    async def on_change() -> None:
        seen.append(path.read_text())

    watch = ConfigWatch(path, "version: 1\n", on_change, debounce_ms=50)
    watch.set_enabled(True)
    await asyncio.sleep(0.3)  # let the watcher start; changes before it are not seen
    path.write_text("version: 1\n")  # same bytes
    (tmp_path / "other.yaml").write_text("x: 1\n")  # a neighbour
    await asyncio.sleep(0.5)  # more than a debounce period: a separate batch
    temporary = tmp_path / ".eventhub.yaml.tmp"
    temporary.write_text("version: 1\nfunctions: {}\n")
    os.replace(temporary, path)  # an editor's atomic save
    await _until(lambda: seen)
    assert seen == ["version: 1\nfunctions: {}\n"]
    await watch.aclose()
    assert not watch.enabled


async def test_a_configmap_style_swap_of_the_data_link_reloads(tmp_path: Path) -> None:
    """Kubernetes updates a ConfigMap volume by renaming a new ``..data`` symlink into
    place; the config file itself is a link through ``..data`` and gets no event."""
    first, second = tmp_path / "..2026_11_23_1", tmp_path / "..2026_11_23_2"
    first.mkdir()
    (first / "eventhub.yaml").write_text("version: 1\n")
    (tmp_path / "..data").symlink_to(first.name)
    path = tmp_path / "eventhub.yaml"
    path.symlink_to("..data/eventhub.yaml")
    seen: list[str] = []

    async def on_change() -> None:
        seen.append(path.read_text())

    watch = ConfigWatch(path, "version: 1\n", on_change, debounce_ms=50)
    watch.set_enabled(True)
    await asyncio.sleep(0.3)
    second.mkdir()
    (second / "eventhub.yaml").write_text("version: 1\nfunctions: {}\n")
    (tmp_path / "..data_tmp").symlink_to(second.name)
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    await _until(lambda: seen)
    assert seen == ["version: 1\nfunctions: {}\n"]
    await watch.aclose()


async def test_disabled_watch_ends_and_a_failing_callback_is_contained(tmp_path: Path) -> None:
    path = tmp_path / "eventhub.yaml"
    path.write_text("a\n")
    calls = 0

    async def on_change() -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("reload exploded")

    watch = ConfigWatch(path, "a\n", on_change, debounce_ms=50)
    watch.set_enabled(True)
    watch.set_enabled(True)  # idempotent
    await asyncio.sleep(0.3)
    path.write_text("b\n")
    await _until(lambda: calls == 1)
    path.write_text("c\n")  # still watching after a failed reload
    await _until(lambda: calls == 2)
    watch.set_enabled(False)
    await asyncio.wait_for(watch.aclose(), 5)


async def test_a_reload_by_other_means_is_not_repeated_by_the_watch(tmp_path: Path) -> None:
    """SIGHUP or POST /reload loaded the new text already: the file's change event that
    follows must not reload a second time; a later edit still does."""
    path = tmp_path / "eventhub.yaml"
    path.write_text("version: 1\n")
    seen: list[str] = []

    async def on_change() -> None:
        seen.append(path.read_text())

    watch = ConfigWatch(path, "version: 1\n", on_change, debounce_ms=50)
    watch.set_enabled(True)
    await asyncio.sleep(0.3)
    path.write_text("version: 1\nfunctions: {}\n")
    watch.saw("version: 1\nfunctions: {}\n")  # as the daemon's reload hook does
    await asyncio.sleep(0.5)
    assert seen == []
    path.write_text("version: 1\nsources: {}\n")
    await _until(lambda: seen)
    assert seen == ["version: 1\nsources: {}\n"]
    await watch.aclose()


def test_watching_the_config_file_is_on_by_default() -> None:
    """SPEC: "SIGHUP or a change of the config file: reload"."""
    from eventhub.config.models import HubConfig

    assert HubConfig().watch_config is True
