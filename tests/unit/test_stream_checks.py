"""The e2e checker itself must catch a skipped or reordered record."""

from __future__ import annotations

import pytest

from tests.support.stream_checks import check_runs


def lines(pid: int, shard: str, seqs: list[int]) -> list[dict[str, object]]:
    return [{"pid": pid, "shard": shard, "seq": s} for s in seqs]


def test_a_replayed_tail_is_fine():
    check_runs(lines(1, "a", [0, 1, 2, 3]) + lines(2, "a", [2, 3, 4]), {"a": 5})


def test_a_skip_across_a_restart_is_caught():
    with pytest.raises(AssertionError, match="skipped"):
        check_runs(lines(1, "a", [0, 1]) + lines(2, "a", [3, 4]), {"a": 5})


def test_disorder_within_a_run_is_caught():
    with pytest.raises(AssertionError):
        check_runs(lines(1, "a", [0, 2, 1]), {"a": 3})


def test_a_missing_end_is_caught():
    with pytest.raises(AssertionError):
        check_runs(lines(1, "a", [0, 1]), {"a": 3})
