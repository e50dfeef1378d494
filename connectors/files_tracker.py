"""Deciding what changed in a bucket: settle, Put / Copy / Delete, sequencers. Pure logic.

The tracker holds the manifest (what was announced) and the keys waiting to settle.
A key the watcher (or a scan) reported is re-observed; it becomes an announcement
only once it differs from the manifest and its write is complete: its stat (size,
mtime, inode) stayed the same for ``settle`` seconds, or its mtime is already older
than ``settle`` (a file renamed into place, or changed while the hub was down).

``ObjectCreated:Copy`` rule: the new version has the same size and MD5 as another
object of the bucket and is either a hard link of it (same device and inode) or has
the same modification time (``cp -p``, ``cp -a``, ``rsync -t``, a rename). A rename
inside the bucket is therefore announced as Copy of the new key plus Delete of the
old one, which is what ``aws s3 mv`` does. Everything else new or changed is ``Put``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from connectors.files_scan import Stat
from eventhub.store.files_manifest import ManifestEntry

Kind = Literal["ObjectCreated:Put", "ObjectCreated:Copy", "ObjectRemoved:Delete"]


@dataclass(frozen=True, slots=True)
class Change:
    """One announcement: the event name, the key, the new version (None for a delete)."""

    kind: Kind
    key: str
    entry: ManifestEntry | None
    sequencer: int
    mtime_ns: int | None = None


@dataclass(slots=True)
class _Pending:
    seen: Stat | None  # last observation (None: not observed yet)
    since: float  # monotonic time ``seen`` was first observed


class Tracker:
    """See the module docstring. Times: ``now`` is monotonic seconds, ``wall_ns`` is
    ``time.time_ns()`` (compared with mtimes)."""

    def __init__(
        self,
        manifest: dict[str, ManifestEntry],
        settle: float,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.manifest = manifest
        self.settle = settle
        self._clock_ns = clock_ns
        self._pending: dict[str, _Pending] = {}
        self._by_etag: dict[str, set[str]] = {}
        for key, entry in manifest.items():
            self._by_etag.setdefault(entry.etag, set()).add(key)
        self._sequencer = max((e.sequencer for e in manifest.values()), default=0)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def mark(self, keys: Iterable[str], now: float) -> None:
        """These keys may have changed: look at them in the next round."""
        for key in keys:
            if key not in self._pending:
                self._pending[key] = _Pending(None, now)

    def keys_under(self, prefix: str) -> list[str]:
        """Announced keys inside directory ``prefix`` (for a directory that vanished)."""
        start = prefix + "/"
        return [key for key in self.manifest if key.startswith(start)]

    def waiting(self) -> list[str]:
        """Keys to observe in the next round."""
        return list(self._pending)

    def evaluate(
        self, observed: dict[str, Stat | None], now: float, wall_ns: int
    ) -> tuple[list[tuple[str, Stat]], list[str]]:
        """Given fresh observations of waiting keys: ``(stable keys to hash, deleted keys)``.
        Keys that match the manifest are done; the others keep waiting."""
        ready: list[tuple[str, Stat]] = []
        deleted: list[str] = []
        for key, seen in observed.items():
            pending = self._pending.get(key)
            if pending is None:
                continue
            if seen is None or seen == self._announced(key):
                del self._pending[key]
                if seen is None and key in self.manifest:
                    deleted.append(key)
                continue
            quiet = (wall_ns - seen.mtime_ns) / 1e9 >= self.settle
            if (pending.seen == seen and now - pending.since >= self.settle) or quiet:
                del self._pending[key]
                ready.append((key, seen))
            elif pending.seen != seen:
                pending.seen, pending.since = seen, now
        return ready, deleted

    def retry(self, key: str, now: float) -> None:
        """The key changed while it was read: wait for it to settle again."""
        self._pending[key] = _Pending(None, now)

    def next_deadline(self) -> float | None:
        """When the earliest waiting key may have settled (monotonic), if any waits."""
        if not self._pending:
            return None
        return min(p.since for p in self._pending.values()) + self.settle

    def _announced(self, key: str) -> Stat | None:
        entry = self.manifest.get(key)
        if entry is None:
            return None
        return Stat(entry.size, entry.mtime_ns, entry.ino, entry.dev)

    def next_sequencer(self) -> int:
        """Greater than every sequencer given before, in this run or an earlier one (it
        follows the wall clock in nanoseconds, and never goes back)."""
        self._sequencer = max(self._sequencer + 1, self._clock_ns())
        return self._sequencer

    def created(self, key: str, seen: Stat, etag: str) -> Change:
        """The announcement of a new version of ``key``: Copy or Put (module docstring)."""
        entry = ManifestEntry(
            key, seen.size, seen.mtime_ns, seen.ino, seen.dev, etag, self.next_sequencer()
        )
        kind: Kind = "ObjectCreated:Copy" if self._is_copy(key, seen, etag) else "ObjectCreated:Put"
        return Change(kind, key, entry, entry.sequencer, seen.mtime_ns)

    def _is_copy(self, key: str, seen: Stat, etag: str) -> bool:
        for other in self._by_etag.get(etag, ()):
            if other == key:
                continue
            source = self.manifest[other]
            if source.size != seen.size:
                continue
            if (source.ino, source.dev) == (seen.ino, seen.dev) or source.mtime_ns == seen.mtime_ns:
                return True
        return False

    def removed(self, key: str) -> Change:
        """The announcement that ``key`` was deleted."""
        return Change("ObjectRemoved:Delete", key, None, self.next_sequencer())

    def commit(self, change: Change) -> None:
        """The change is durable: make it the manifest's state."""
        old = self.manifest.pop(change.key, None)
        if old is not None:
            keys = self._by_etag.get(old.etag)
            if keys is not None:
                keys.discard(change.key)
                if not keys:
                    del self._by_etag[old.etag]
        if change.entry is not None:
            self.manifest[change.key] = change.entry
            self._by_etag.setdefault(change.entry.etag, set()).add(change.key)
