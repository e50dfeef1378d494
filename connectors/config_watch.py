"""``hub.watch_config: true``: reload when the bytes of the config file change.

The file's directory is watched (not the file: editors and deploy tools replace a
file by writing a temporary one and renaming it over the original, which a watch on
the old inode would miss). After a burst of changes settles, the file is read again
and the reload runs only if its text differs from the text last seen, so touching
the file, saving it unchanged or writing other files nearby does nothing.

A config file that is a symlink changes without any event on its own name: a Kubernetes
ConfigMap volume links ``eventhub.yaml`` to ``..data/eventhub.yaml`` and updates by
renaming a new ``..data`` link into place. For such a file every change in the directory
makes it read again (the comparison of the text still decides).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from watchfiles import Change, awatch

log = structlog.get_logger("eventhub.config_watch")

DEBOUNCE_MS = 300


class ConfigWatch:
    """Watches ``path`` while enabled and awaits ``on_change()`` after each change.

    ``on_change`` is the daemon's reload (the same as on SIGHUP): it validates the new
    file and keeps the running configuration when it is invalid; it must not raise.
    Changes during a reload are seen afterwards (one reload at a time).
    """

    def __init__(
        self,
        path: Path,
        text: str,
        on_change: Callable[[], Awaitable[None]],
        *,
        debounce_ms: int = DEBOUNCE_MS,
    ) -> None:
        self.path = path
        self._linked = path.is_symlink()
        self._seen = text
        self._on_change = on_change
        self._debounce_ms = debounce_ms
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def saw(self, text: str) -> None:
        """The daemon loaded ``text`` (a reload by SIGHUP or ``POST /reload`` too): a later
        change event that finds this text is not a change."""
        self._seen = text

    @property
    def enabled(self) -> bool:
        return self._stop is not None

    def set_enabled(self, enabled: bool) -> None:
        """Start or stop watching (idempotent); call on the event loop."""
        if enabled and self._stop is None:
            self._stop = asyncio.Event()
            task = asyncio.get_running_loop().create_task(
                self._watch(self._stop), name="config-watch"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            log.info("watching the config file for changes", path=str(self.path))
        elif not enabled and self._stop is not None:
            self._stop.set()  # the watch ends within one step; no cancel mid-reload
            self._stop = None
            log.info("no longer watching the config file", path=str(self.path))

    async def aclose(self) -> None:
        """Stop watching and wait for the watch to end (a reload under way finishes)."""
        if self._stop is not None:
            self._stop.set()
            self._stop = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _relevant(self, _: Change, path: str) -> bool:
        return self._linked or Path(path).name == self.path.name

    async def _watch(self, stop: asyncio.Event) -> None:
        try:
            async for _ in awatch(
                self.path.parent,
                watch_filter=self._relevant,
                recursive=False,
                debounce=self._debounce_ms,
                step=50,
                stop_event=stop,
            ):
                if stop.is_set():
                    return
                text = await asyncio.to_thread(self._read)
                if text == self._seen:
                    continue
                self._seen = text
                await self._reload()
        except Exception:  # noqa: BLE001 - a broken watch must not take the daemon down
            log.exception("watching the config file failed; reload with SIGHUP instead")

    async def _reload(self) -> None:
        log.info("config file changed; reloading", path=str(self.path))
        try:
            await self._on_change()
        except Exception:  # noqa: BLE001 - one failed reload must not end the watch
            log.exception("reload after a config file change failed")

    def _read(self) -> str:
        # A missing or unreadable file is a change too: the reload says what is wrong.
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return self.path.read_text(encoding="utf-8")
        return ""
