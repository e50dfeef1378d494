"""What a stream mapping does after a failed batch: retry, bisect or give up.

Lambda's rules for Kinesis (and Kafka in provisioned mode): a failing batch blocks its shard
and is retried until it succeeds, ``MaximumRetryAttempts`` is used up (-1: never) or its
records are older than ``MaximumRecordAgeInSeconds`` (-1: never). With
``BisectBatchOnFunctionError`` a failing batch of two or more records is split in two and
the halves are retried on their own; splitting does not use the retry quota.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass

from eventhub.mapping.stream_format import ARRIVAL, RECORD, Entry


class Decision(enum.Enum):
    """The one thing to do after a failed invocation."""

    RETRY = "retry"
    BISECT = "bisect"
    SPLIT = "split"  # a partial failure under bisect: the rest from the failed item, no quota
    GIVE_UP = "give_up"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry limits and capped exponential backoff of one mapping.

    ``max_retry_attempts`` -1 retries forever; ``max_record_age`` (seconds) -1 keeps records
    forever. Backoff before retry n is ``base_delay * 2**(n-1)`` capped at ``max_delay``,
    with +-10 % jitter so many blocked shards do not retry in lockstep.
    """

    max_retry_attempts: int = -1
    max_record_age: int = -1
    bisect: bool = False
    base_delay: float = 0.5
    max_delay: float = 30.0

    def decide(self, matched: int, retries: int) -> Decision:
        """After a failed invocation of a batch of ``matched`` records that had already been
        retried ``retries`` times."""
        if self.bisect and matched > 1:
            return Decision.BISECT
        if self.max_retry_attempts != -1 and retries >= self.max_retry_attempts:
            return Decision.GIVE_UP
        return Decision.RETRY

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if self.base_delay <= 0:
            return 0.0
        delay = min(self.max_delay, self.base_delay * 2.0 ** min(retry - 1, 30))
        return delay * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not crypto

    def expired(self, entries: Sequence[Entry], now_ms: int) -> int:
        """How many leading entries (up to the last expired invocable record) are too old.

        Filtered entries between expired records go with them; the count stops before the
        first record that is young enough.
        """
        if self.max_record_age == -1:
            return 0
        cutoff = now_ms - self.max_record_age * 1000
        count = 0
        for index, entry in enumerate(entries):
            if entry[RECORD] is None:
                continue
            if entry[ARRIVAL] >= cutoff:
                break
            count = index + 1
        return count


def split_point(entries: Sequence[Entry]) -> int:
    """The index that splits ``entries`` into halves with equally many invocable records
    (the first half gets the smaller share when odd)."""
    matched = [index for index, entry in enumerate(entries) if entry[RECORD] is not None]
    return matched[len(matched) // 2]
