"""The bucket directory as S3 objects: keys, stats, ETags. Blocking; run it in a thread.

A key is the path relative to the bucket directory with ``/`` separators. A path is
never an object when any of its components matches an ignore pattern (hidden and
temporary files), when its name is not valid UTF-8, or when it is not a regular file.
A symbolic link is followed only when its target resolves to a regular file inside the
bucket directory; a link that points outside (or to a directory) is ignored, and
reported so the caller can log it. Nothing here ever opens a path outside the bucket.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat as st
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

CHUNK = 1 << 20
MAX_KEY_BYTES = 1024  # S3's limit on key length


class Stat(NamedTuple):
    """What identifies one version of a file: a change in any field is a new version."""

    size: int
    mtime_ns: int
    ino: int
    dev: int


@dataclass(frozen=True, slots=True)
class Escape:
    """A symbolic link that points outside the bucket (or at a directory): ignored."""

    key: str
    target: str


Observation = Stat | Escape | None  # None: no object under that key (absent or not a file)


class BucketFS:
    """Read-only view of ``directory`` as a bucket; see the module docstring."""

    def __init__(self, directory: Path, ignore: Iterable[str]) -> None:
        self.directory = directory
        self.real = Path(os.path.realpath(directory))
        self._patterns = tuple(ignore)
        # Keys last seen as symbolic links. A change to what a link leads to is reported
        # by the watcher under the target's path only, so links are looked at again
        # whenever anything changed (see ``connectors.files._expand``).
        self.links: set[str] = set()

    def ignored(self, key: str) -> bool:
        """Whether any component of ``key`` matches an ignore pattern."""
        return any(
            fnmatch.fnmatchcase(part, pattern)
            for part in key.split("/")
            for pattern in self._patterns
        )

    def key_of(self, path: str) -> str | None:
        """The key of an absolute path reported by the watcher, or None when it is not
        inside the bucket, is ignored or cannot be a key."""
        try:
            relative = Path(path).relative_to(self.directory)
        except ValueError:
            try:
                relative = Path(path).relative_to(self.real)
            except ValueError:
                return None
        key = relative.as_posix()
        return key if key != "." and self._valid(key) else None

    def _valid(self, key: str) -> bool:
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:  # undecodable bytes in a name (surrogate escapes)
            return False
        return size <= MAX_KEY_BYTES and not self.ignored(key)

    def observe(self, key: str) -> Observation:
        """The object under ``key`` now."""
        path = self.directory / key
        parent = key.rpartition("/")[0]
        real_parent = os.path.realpath(path.parent)
        if real_parent != str(self.real / parent if parent else self.real):
            # a symlinked directory on the way: outside the bucket, or an alias of a
            # directory that is watched under its own name
            inside = Path(real_parent).is_relative_to(self.real)
            return None if inside else Escape(key, real_parent)
        try:
            info = os.lstat(path)
        except OSError:
            self.links.discard(key)
            return None
        if st.S_ISLNK(info.st_mode):
            self.links.add(key)
            return self._follow(key, path)
        self.links.discard(key)
        if not st.S_ISREG(info.st_mode):
            return None
        return _stat(info)

    def _follow(self, key: str, path: Path) -> Observation:
        target = os.path.realpath(path)
        if not Path(target).is_relative_to(self.real):
            return Escape(key, target)
        try:
            info = os.stat(target)
        except OSError:
            return None  # dangling
        if not st.S_ISREG(info.st_mode):
            return Escape(key, target)
        return _stat(info)

    def is_dir(self, key: str) -> bool:
        """A real (not symlinked) directory inside the bucket."""
        path = self.directory / key if key else self.directory
        try:
            return st.S_ISDIR(os.lstat(path).st_mode)
        except OSError:
            return False

    def walk(self, prefix: str = "") -> Iterator[str]:
        """Every candidate key under directory ``prefix`` (``""``: the whole bucket).
        Symlinked directories are not descended into (no loops, no escapes)."""
        stack = [prefix]
        while stack:
            current = stack.pop()
            try:
                with os.scandir(self.directory / current if current else self.directory) as it:
                    entries = list(it)
            except OSError:
                continue
            for entry in entries:
                key = f"{current}/{entry.name}" if current else entry.name
                if not self._valid(key):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(key)
                else:
                    yield key

    def md5(self, key: str, expected: Stat) -> str | None:
        """Hex MD5 of the object's content (its S3 ETag), or None when the file changed
        or vanished while it was read (the caller waits for it to settle again)."""
        observed = self.observe(key)
        if observed != expected:
            return None
        path = os.path.realpath(self.directory / key)
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with open(path, "rb") as handle:  # noqa: PTH123 - plain open is clearer here
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
        except OSError:
            return None
        if self.observe(key) != expected:
            return None
        return digest.hexdigest()


def _stat(info: os.stat_result) -> Stat:
    ino = info.st_ino if info.st_ino < 2**63 else info.st_ino - 2**64  # SQLite INTEGER range
    return Stat(info.st_size, info.st_mtime_ns, ino, info.st_dev)
