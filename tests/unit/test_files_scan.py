"""The bucket view of a directory: keys, ignore patterns, symlinks, ETags."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from connectors.files_scan import BucketFS, Escape, Stat

IGNORE = [".*", "*~", "*.tmp", "*.swp", "*.part"]


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    root = tmp_path / "bucket"
    (root / "dir x" / "été").mkdir(parents=True)
    (root / "a.txt").write_text("hello")
    (root / "dir x" / "été" / "b c.txt").write_text("nested")
    (root / ".hidden").write_text("x")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("x")
    (root / "upload.part").write_text("x")
    (tmp_path / "outside.txt").write_text("secret")
    return root


def test_walk_lists_objects_only(bucket: Path) -> None:
    fs = BucketFS(bucket, IGNORE)
    assert sorted(fs.walk()) == ["a.txt", "dir x/été/b c.txt"]


def test_key_of_watcher_paths(bucket: Path) -> None:
    fs = BucketFS(bucket, IGNORE)
    assert fs.key_of(str(bucket / "dir x" / "été" / "b c.txt")) == "dir x/été/b c.txt"
    assert fs.key_of(str(bucket / ".git" / "config")) is None
    assert fs.key_of(str(bucket / "x.tmp")) is None
    assert fs.key_of(str(bucket)) is None
    assert fs.key_of(str(bucket.parent / "outside.txt")) is None
    assert fs.key_of(str(bucket / os.fsdecode(b"bad\xffname"))) is None


def test_observe_and_md5(bucket: Path) -> None:
    fs = BucketFS(bucket, IGNORE)
    seen = fs.observe("a.txt")
    assert isinstance(seen, Stat)
    assert seen.size == 5
    assert fs.md5("a.txt", seen) == hashlib.md5(b"hello", usedforsecurity=False).hexdigest()
    assert fs.observe("missing") is None
    assert fs.observe("dir x") is None  # a directory is not an object


def test_md5_refuses_a_file_that_changed(bucket: Path) -> None:
    fs = BucketFS(bucket, IGNORE)
    seen = fs.observe("a.txt")
    assert isinstance(seen, Stat)
    (bucket / "a.txt").write_text("hello, longer")
    assert fs.md5("a.txt", seen) is None


def test_symlinks_inside_are_followed_and_outside_are_escapes(bucket: Path) -> None:
    fs = BucketFS(bucket, IGNORE)
    (bucket / "inside-link").symlink_to(bucket / "a.txt")
    (bucket / "escape").symlink_to(bucket.parent / "outside.txt")
    (bucket / "dir-link").symlink_to(bucket / "dir x")
    (bucket / "outside-dir").symlink_to(bucket.parent)
    (bucket / "dangling").symlink_to(bucket / "nothing")
    inside = fs.observe("inside-link")
    assert isinstance(inside, Stat)
    assert inside.size == 5
    escape = fs.observe("escape")
    assert isinstance(escape, Escape)
    assert escape.target == str((bucket.parent / "outside.txt").resolve())
    assert isinstance(fs.observe("dir-link"), Escape)  # a directory is never an object
    assert fs.observe("dangling") is None
    # paths through symlinked directories: never objects; outside ones are escapes
    assert fs.observe("dir-link/été/b c.txt") is None
    assert isinstance(fs.observe("outside-dir/outside.txt"), Escape)
    assert "outside-dir/outside.txt" not in set(fs.walk())
    assert fs.md5("escape", Stat(6, 0, 0, 0)) is None
