"""``files`` sources: a directory watched as an S3 bucket, announced as S3 event
notifications to the function (asynchronous invocation: retries and destinations apply).

watchfiles reports paths that changed; each round re-observes the waiting keys,
lets the :class:`~connectors.files_tracker.Tracker` decide which changes are complete,
hashes them (ETag) off the loop and enqueues one notification per change. The
manifest row of a change is written by the same store transaction as its durable
async event (``enqueue(also=...)``): a kill -9 never loses an announcement and never
repeats one. At start the whole bucket is compared with the manifest, so changes made
while the hub was down (or before its first start) are announced once.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import structlog
from watchfiles import awatch

from connectors.files_scan import BucketFS, Escape, Stat
from connectors.files_tracker import Change, Tracker
from eventhub.config.sources import FilesSourceConfig
from eventhub.events.s3 import s3_event, s3_record, sequencer
from eventhub.hubenv import HubEnv
from eventhub.sources import SourceStatus
from eventhub.store.files_manifest import FilesManifest, Operation

log = structlog.get_logger("eventhub.files")

STEP_MS = 10  # quiet time after which watchfiles hands over a batch of changes
DEBOUNCE_MS = 200  # longest it gathers a continuous burst before handing over


class FilesSource:
    """One ``files`` source (a :class:`eventhub.sources.ManagedSource`)."""

    def __init__(self, name: str, config: FilesSourceConfig, env: HubEnv) -> None:
        self.name = name
        self.config = config
        self._env = env
        self._stopping = asyncio.Event()
        self._watch_stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._dirty: set[str] = set()
        self._warned: set[str] = set()
        self._tracker: Tracker | None = None
        self._connected = False
        self._announced = 0
        self._last: str | None = None
        self._directory: Path | None = None
        self._started = False

    async def run(self) -> None:
        """Watch and announce until ``stop``."""
        self._started = True
        try:
            directory = self.config.bucket_directory(self._env.loaded.resolve(self.config.root))
            await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
            self._directory = directory
            fs = BucketFS(directory, self.config.ignore)
            manifest = FilesManifest(self._env.store, self.name)
            entries, known = await manifest.load(str(fs.real))
            self._tracker = Tracker(entries, self.config.settle)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._watch(directory), name=f"files-watch:{self.name}")
                await asyncio.sleep(0)  # the watcher registers its watches before we scan
                self._connected = True
                log.info(
                    "bucket watched",
                    source=self.name,
                    directory=str(directory),
                    objects=len(entries),
                    first_start=not known,
                )
                await self._loop(fs, manifest, self._tracker)
                self._watch_stop.set()
        finally:
            self._connected = False
            self._watch_stop.set()
            self._done.set()

    async def stop(self, grace: float) -> None:
        """Stop watching; the change being announced finishes, the rest waits for the next
        start (the manifest knows what was announced)."""
        self._stopping.set()
        if not self._started:
            return
        self._wake.set()
        try:
            async with asyncio.timeout(grace):
                await self._done.wait()
        except TimeoutError:
            log.warning("files source still busy after grace", source=self.name)

    async def _watch(self, directory: Path) -> None:
        async for changes in awatch(
            directory,
            watch_filter=None,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self._watch_stop,
            recursive=True,
            ignore_permission_denied=True,
        ):
            self._dirty.update(path for _, path in changes)
            self._wake.set()

    async def _loop(self, fs: BucketFS, manifest: FilesManifest, tracker: Tracker) -> None:
        initial = await asyncio.to_thread(lambda: list(fs.walk()))
        tracker.mark([*initial, *tracker.manifest], time.monotonic())
        while not self._stopping.is_set():
            paths, self._dirty = self._dirty, set()
            if paths:
                keys = await asyncio.to_thread(_expand, fs, tracker, paths)
                tracker.mark(keys, time.monotonic())
            await self._round(fs, manifest, tracker)
            await self._sleep(tracker.next_deadline())

    async def _sleep(self, deadline: float | None) -> None:
        self._wake.clear()
        if self._dirty or self._stopping.is_set():
            return
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _round(self, fs: BucketFS, manifest: FilesManifest, tracker: Tracker) -> None:
        waiting = tracker.waiting()
        if not waiting:
            return
        observed = await asyncio.to_thread(_observe, fs, waiting)
        self._warn_escapes(observed)
        clean = {k: v if isinstance(v, Stat) else None for k, v in observed.items()}
        ready, deleted = tracker.evaluate(clean, time.monotonic(), time.time_ns())
        hashed = await asyncio.to_thread(_hash, fs, ready) if ready else []
        changes: list[Change] = []
        for key, seen, etag in hashed:
            if etag is None:
                tracker.retry(key, time.monotonic())
            else:
                changes.append(tracker.created(key, seen, etag))
        changes.extend(tracker.removed(key) for key in deleted)
        await self._announce(changes, manifest, tracker)

    def _warn_escapes(self, observed: dict[str, Stat | Escape | None]) -> None:
        for key, seen in observed.items():
            if isinstance(seen, Escape) and key not in self._warned:
                self._warned.add(key)
                log.warning(
                    "symbolic link leads outside the bucket (or to a directory); ignored",
                    source=self.name,
                    key=key,
                    target=seen.target,
                )

    async def _announce(
        self, changes: list[Change], manifest: FilesManifest, tracker: Tracker
    ) -> None:
        silent: list[tuple[Change, Operation]] = []
        for change in changes:
            if self._stopping.is_set():
                return  # not recorded: found again at the next start
            op = (
                manifest.put_op(change.entry)
                if change.entry is not None
                else manifest.delete_op(change.key)
            )
            if not self._wanted(change):
                silent.append((change, op))
                continue
            payload = json.dumps(s3_event([self._record(change)])).encode()
            await asyncio.shield(self._env.invoker.enqueue(self.config.function, payload, also=op))
            tracker.commit(change)
            self._env.metrics.files_events.labels(self.name, change.kind).inc()
            self._announced += 1
            self._last = f"{change.kind} {change.key}"
        if silent:
            await asyncio.shield(manifest.write([op for _, op in silent]))
            for change, _ in silent:
                tracker.commit(change)

    def _wanted(self, change: Change) -> bool:
        """S3 notification filtering: event type, then prefix and suffix of the raw key."""
        config = self.config
        family = change.kind.split(":")[0]
        name = f"s3:{change.kind}"
        if name not in config.events and f"s3:{family}:*" not in config.events:
            return False
        return change.key.startswith(config.prefix) and change.key.endswith(config.suffix)

    def _record(self, change: Change) -> dict[str, object]:
        hub = self._env.loaded.config.hub
        entry = change.entry
        when = (
            datetime.fromtimestamp(change.mtime_ns / 1e9, UTC)
            if change.mtime_ns is not None
            else datetime.now(UTC)
        )
        return s3_record(
            event_name=change.kind,
            bucket=self.config.bucket,
            key=change.key,
            size=entry.size if entry is not None else None,
            etag=entry.etag if entry is not None else None,
            sequencer=sequencer(change.sequencer),
            event_time=when,
            region=hub.region,
            principal_id=f"AWS:{hub.account_id}",
            owner_id=hub.account_id,
            configuration_id=self.config.configuration_id,
            request_id=os.urandom(8).hex().upper(),
        )

    def status(self) -> SourceStatus:
        tracker = self._tracker
        return SourceStatus(
            name=self.name,
            type="files",
            function=self.config.function,
            state="running" if self._connected else "starting",
            connected=self._connected,
            last_result=self._last,
            detail={
                "directory": str(self._directory) if self._directory else None,
                "objects": len(tracker.manifest) if tracker else 0,
                "settling": tracker.pending if tracker else 0,
                "announced": self._announced,
            },
        )


def _expand(fs: BucketFS, tracker: Tracker, paths: set[str]) -> list[str]:
    """Keys to look at for the paths the watcher reported (directories expand to their
    contents; a vanished directory to the announced keys that were inside it), and every
    symbolic link, whose target may be what changed."""
    keys: list[str] = list(fs.links)
    for path in paths:
        key = fs.key_of(path)
        if key is None:
            continue
        if fs.is_dir(key):
            keys.extend(fs.walk(key))
        else:
            keys.append(key)
            keys.extend(tracker.keys_under(key))
    return keys


def _observe(fs: BucketFS, keys: list[str]) -> dict[str, Stat | Escape | None]:
    return {key: fs.observe(key) for key in keys}


def _hash(fs: BucketFS, ready: list[tuple[str, Stat]]) -> list[tuple[str, Stat, str | None]]:
    return [(key, seen, fs.md5(key, seen)) for key, seen in ready]
