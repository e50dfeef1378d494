"""Shard iterator tokens: round trip, malformed tokens, expiry, the 10 MiB response cut."""

from __future__ import annotations

import pytest

from connectors import kinesis_iterators as iterators


def test_round_trip_keeps_stream_names_with_the_separator() -> None:
    token = iterators.encode("a|b", 3, 42, now_ms=1_000)
    assert iterators.decode(token, now_ms=2_000) == ("a|b", 3, 42)


@pytest.mark.parametrize("token", [None, "", "not base64!", "YWJj", "YXxifGN8ZA=="])
def test_malformed_tokens_are_value_errors(token: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the API maps any of them to one answer
        iterators.decode(token)


def test_an_iterator_expires_after_five_minutes() -> None:
    token = iterators.encode("s", 0, 0, now_ms=0)
    assert iterators.decode(token, now_ms=iterators.LIFETIME_MS) == ("s", 0, 0)
    with pytest.raises(iterators.ExpiredIterator, match="tolerated delay of 300000"):
        iterators.decode(token, now_ms=iterators.LIFETIME_MS + 1)


def test_response_stops_before_ten_mib_but_never_returns_nothing() -> None:
    mib = b"x" * 1_048_576
    rows = [(seq, b"k", mib, 0) for seq in range(12)]
    assert len(iterators.within_response_limit(rows)) == 9  # 9 x (1 MiB + 1) fits, 10 does not
    huge = [(0, b"k", mib * 11, 0), (1, b"k", b"", 0)]
    assert len(iterators.within_response_limit(huge)) == 1
