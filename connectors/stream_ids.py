"""Names of embedded stream shards and their Kinesis-like sequence numbers.

A sequence number is 56 decimal digits, like Kinesis's: ``49``, the shard number on six
digits, then the shard's record counter on 48 digits. Within a shard they grow with the
counter (numerically and as strings); the engine works with the counter itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from eventhub.events.kinesis import shard_id
from eventhub.sources import ShardInfo

SEQUENCE_WIDTH = 48


def sequence_prefix(index: int) -> str:
    return f"49{index:06d}"


def shard_info(stream: str, index: int) -> ShardInfo:
    """The engine's view of shard ``index`` of embedded stream ``stream``."""
    return ShardInfo(shard_id(index), stream, index, sequence_prefix(index), SEQUENCE_WIDTH)


@functools.cache
def sequence_formatter(index: int) -> Callable[[int], str]:
    """``counter -> sequence number`` of shard ``index``."""
    return shard_info("", index).sequence_formatter()


def sequence_number(index: int, counter: int) -> str:
    return sequence_formatter(index)(counter)


def shard_index(shard: str) -> int | None:
    """The number in ``shardId-000000000003``; None when malformed."""
    prefix, _, digits = shard.partition("-")
    if prefix != "shardId" or not digits.isdigit():
        return None
    return int(digits)
