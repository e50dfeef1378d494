"""The files tracker: settling, Put / Copy / Delete, sequencers."""

from __future__ import annotations

from connectors.files_scan import Stat
from connectors.files_tracker import Tracker
from eventhub.store.files_manifest import ManifestEntry

SEC = 1_000_000_000
WALL = 1_800_000_000 * SEC  # "now" on the wall clock, in ns


def stat(size: int = 10, mtime: float = 0.0, ino: int = 1) -> Stat:
    return Stat(size, WALL + int(mtime * SEC), ino, 7)


def entry(key: str, seen: Stat, etag: str = "e1", sequencer: int = 5) -> ManifestEntry:
    return ManifestEntry(key, seen.size, seen.mtime_ns, seen.ino, seen.dev, etag, sequencer)


def test_a_fresh_file_waits_until_its_stat_is_stable_for_settle_seconds() -> None:
    tracker = Tracker({}, settle=0.5, clock_ns=lambda: WALL)
    tracker.mark(["a"], now=100.0)
    written = stat(mtime=0.0)  # modified "now": not quiet yet
    assert tracker.evaluate({"a": written}, 100.0, WALL) == ([], [])
    assert tracker.next_deadline() == 100.5
    grown = stat(size=20, mtime=0.1)
    assert tracker.evaluate({"a": grown}, 100.3, WALL + SEC // 10) == ([], [])
    assert tracker.evaluate({"a": grown}, 100.7, WALL + SEC // 10) == ([], [])
    assert tracker.evaluate({"a": grown}, 100.9, WALL + SEC // 10) == ([("a", grown)], [])
    assert tracker.pending == 0


def test_a_file_untouched_for_settle_seconds_is_ready_at_once() -> None:
    tracker = Tracker({}, settle=0.5, clock_ns=lambda: WALL)
    tracker.mark(["old"], now=1.0)
    old = stat(mtime=-10)
    assert tracker.evaluate({"old": old}, 1.0, WALL) == ([("old", old)], [])


def test_unchanged_and_vanished_keys() -> None:
    known = stat(mtime=-100)
    tracker = Tracker({"same": entry("same", known)}, settle=0.05)
    tracker.mark(["same", "temp"], now=1.0)
    assert tracker.evaluate({"same": known, "temp": None}, 1.0, WALL) == ([], [])
    assert tracker.pending == 0


def test_deleted_key_in_the_manifest() -> None:
    known = stat(mtime=-100)
    tracker = Tracker({"gone": entry("gone", known)}, settle=0.05)
    tracker.mark(["gone"], now=1.0)
    assert tracker.evaluate({"gone": None}, 1.0, WALL) == ([], ["gone"])
    change = tracker.removed("gone")
    assert change.kind == "ObjectRemoved:Delete"
    assert change.entry is None
    tracker.commit(change)
    assert tracker.manifest == {}


def test_new_and_overwritten_objects_are_put() -> None:
    tracker = Tracker({"a": entry("a", stat(mtime=-100))}, settle=0.05)
    assert tracker.created("a", stat(size=11, mtime=-1, ino=9), "e2").kind == "ObjectCreated:Put"
    assert tracker.created("b", stat(size=3, mtime=-1, ino=3), "e3").kind == "ObjectCreated:Put"


def test_copy_is_a_hard_link_or_same_content_and_mtime() -> None:
    original = stat(mtime=-100, ino=1)
    tracker = Tracker({"a": entry("a", original, etag="md5")}, settle=0.05)
    hard_link = stat(mtime=-100, ino=1)
    assert tracker.created("link", hard_link, "md5").kind == "ObjectCreated:Copy"
    preserved = stat(mtime=-100, ino=2)
    assert tracker.created("cp-p", preserved, "md5").kind == "ObjectCreated:Copy"
    plain_cp = stat(mtime=-1, ino=3)
    assert tracker.created("cp", plain_cp, "md5").kind == "ObjectCreated:Put"
    other_content = stat(mtime=-100, ino=4)
    assert tracker.created("x", other_content, "other").kind == "ObjectCreated:Put"


def test_commit_keeps_the_copy_index_current() -> None:
    original = stat(mtime=-100, ino=1)
    tracker = Tracker({"a": entry("a", original, etag="md5")}, settle=0.05)
    tracker.commit(tracker.removed("a"))
    assert tracker.created("b", original, "md5").kind == "ObjectCreated:Put"


def test_sequencers_grow_across_runs_and_with_the_clock() -> None:
    now = [WALL]
    tracker = Tracker({}, settle=0.05, clock_ns=lambda: now[0])
    first = tracker.next_sequencer()
    second = tracker.next_sequencer()  # same clock reading: still greater
    assert WALL == first < second
    restarted = Tracker({"k": entry("k", stat(), sequencer=second)}, 0.05, lambda: WALL - SEC)
    assert restarted.next_sequencer() > second  # even with a clock that went back


def test_key_that_changes_while_hashed_waits_again() -> None:
    tracker = Tracker({}, settle=0.5)
    tracker.retry("a", now=3.0)
    assert tracker.waiting() == ["a"]
    assert tracker.next_deadline() == 3.5


def test_keys_under_a_vanished_directory() -> None:
    seen = stat()
    manifest = {k: entry(k, seen) for k in ("d/a", "d/sub/b", "dx/c", "e")}
    assert sorted(Tracker(manifest, 0.05).keys_under("d")) == ["d/a", "d/sub/b"]
