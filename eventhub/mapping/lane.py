"""One lane of a shard: takes batches in order, invokes, and settles each batch.

A shard has one lane, or ``parallelization_factor`` lanes that split its records by
partition key (order is kept per key). A lane has one batch in flight. A failing batch
blocks the lane: it is retried with capped exponential backoff, bisected, or given up on
(on-failure record, then the lane moves on), per ``RetryPolicy``. Records whose invocation
succeeded, were filtered out or were given up on are *finished*; the shard checkpoints up
to its first unfinished record.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import structlog

from eventhub.mapping.retry import Decision, split_point
from eventhub.mapping.stream_format import ARRIVAL, POSITION, RECORD, SIZE, Entry, GiveUp, Window
from eventhub.mapping.stream_settings import ENVELOPE
from eventhub.mapping.verdict import Verdict, judge
from eventhub.mapping.windows import TumblingWindows
from eventhub.runtime.funclog import tag_invocations
from eventhub.runtime.result import InvocationResult

if TYPE_CHECKING:
    from eventhub.mapping.shard import ShardWorker

log = structlog.get_logger("eventhub.mapping.stream")

WINDOW_CHECK: Final = 1.0  # an idle lane with an open window looks at the clock this often


class Lane:
    """Batches of one lane, processed strictly one after the other."""

    def __init__(self, worker: ShardWorker, index: int) -> None:
        self._worker = worker
        self._index = index
        settings = worker.core.settings
        self._settings = settings
        self._policy = settings.retry
        self.pending: deque[Entry] = deque()
        self._pending_matched = 0
        self._pending_bytes = 0
        self._splits: list[tuple[list[Entry], int]] = []  # bisected halves, earliest last
        self.inflight: list[Entry] | None = None
        self.wake = asyncio.Event()
        window = settings.tumbling_window
        self.windows = TumblingWindows(window) if window else None
        self._blocked = False
        self._last_request_id: str | None = None
        self._last_function_error: str | None = None
        self._last_error: str | None = None

    # -- intake (called by the shard worker) --------------------------------------------

    def extend(self, entries: list[Entry]) -> None:
        self.pending.extend(entries)
        self._pending_matched += sum(1 for entry in entries if entry[RECORD] is not None)
        self._pending_bytes += sum(entry[SIZE] for entry in entries)
        self.wake.set()

    def append(self, entry: Entry) -> None:
        self.pending.append(entry)
        if entry[RECORD] is not None:
            self._pending_matched += 1
        self._pending_bytes += entry[SIZE]
        self.wake.set()

    def first_unfinished(self) -> int | None:
        """Position of this lane's earliest record not finished yet (None: all finished)."""
        window = self.windows.current if self.windows is not None else None
        if window is not None:
            return window.first_position
        if self.inflight:
            return self.inflight[0][POSITION]
        if self._splits:
            return self._splits[-1][0][0][POSITION]
        if self.pending:
            return self.pending[0][POSITION]
        return None

    def unfinished(self) -> int:
        """How many records of this lane are not finished yet."""
        count = len(self.pending) + len(self.inflight or ())
        return count + sum(len(entries) for entries, _ in self._splits)

    @property
    def idle(self) -> bool:
        return not (self.pending or self.inflight or self._splits)

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Process batches until the shard worker stops."""
        worker = self._worker
        tag_invocations(source=worker.core.name, shard=worker.info.id)  # this task's context
        while not worker.stopping:
            if self._splits:
                entries, retries = self._splits.pop()
                await self._process(entries, retries)
            elif self._window_must_close():
                await self._close_window()
            elif not self.pending:
                await self._wait(self._window_wait())
            else:
                if self._settings.batch_window > 0:
                    await self._gather()
                entries = self._take()
                if entries and not await self._too_large(entries):
                    await self._process(entries, 0)

    async def _wait(self, seconds: float | None) -> None:
        self.wake.clear()
        if self._worker.stopping:
            return
        try:
            async with asyncio.timeout(seconds):
                await self.wake.wait()
        except TimeoutError:
            return

    async def _gather(self) -> None:
        """Wait up to the batch window for a full batch (count or payload)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.batch_window
        limit = self._settings.max_payload
        while not self._worker.stopping:
            if self._pending_matched >= self._settings.batch_size or self._pending_bytes >= limit:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await self._wait(remaining)

    def _take(self) -> list[Entry]:
        """Pop the next batch: up to batch_size invocable records within the payload cap,
        never across a tumbling-window boundary; filtered entries ride along."""
        pending, windows = self.pending, self.windows
        batch_size = self._settings.batch_size
        cap = self._settings.max_payload - ENVELOPE
        batch: list[Entry] = []
        matched = size = taken_bytes = 0
        while pending:
            entry = pending[0]
            if entry[RECORD] is not None:
                if matched >= batch_size or (matched and size + entry[SIZE] > cap):
                    break
                if windows is not None:
                    if not windows.belongs(entry[ARRIVAL]):
                        break
                    windows.open_for(entry[ARRIVAL], entry[POSITION])
                matched += 1
                size += entry[SIZE]
            taken_bytes += entry[SIZE]
            batch.append(pending.popleft())
        self._pending_matched -= matched
        self._pending_bytes -= taken_bytes
        self._worker.taken(len(batch), taken_bytes)
        return batch

    # -- one batch ----------------------------------------------------------------------

    async def _process(self, entries: list[Entry], retries: int) -> None:
        """Settle ``entries``: return once they are finished, or when the worker stops
        (then they stay unfinished and are read again after a restart)."""
        self.inflight = entries
        invocations = 0
        retrying = False
        while await self._expire(invocations):
            entries = self.inflight
            records = [entry[RECORD] for entry in entries if entry[RECORD] is not None]
            if not records:
                self._finish(entries, "filtered")
                return
            result = await self._invoke(records, self._open_window(), retrying)
            retrying = False
            if result is None:  # not invoked (function missing): retry, no quota used
                if not await self._backoff(retries + 1):
                    return
                continue
            invocations += 1
            decision = self._settle(result, records, retries)
            if decision is None:
                return
            if decision is Decision.SPLIT:  # a part of the batch, at once, no quota used
                invocations = 0  # counted per part: the on-failure record is the part's
                continue
            if decision is Decision.GIVE_UP:
                if await self._give_up(self.inflight, "RetryAttemptsExhausted", invocations):
                    self._finish(self.inflight, "given_up")
                return
            retries += 1
            retrying = True
            if not await self._backoff(retries):
                return

    async def _too_large(self, entries: list[Entry]) -> bool:
        """A lone record larger than any invocation can carry (Kafka allows them) is given
        up on without invoking, as Lambda does (``MaximumPayloadSizeExceeded``). True when
        the entries are settled (or the worker stops meanwhile)."""
        condition = self._worker.core.format.oversize_condition
        if condition is None:
            return False
        lone: Entry | None = None
        for entry in entries:  # stops at the second invocable record: the usual batch
            if entry[RECORD] is not None:
                if lone is not None:
                    return False
                lone = entry
        if lone is None or lone[SIZE] <= self._settings.max_payload:
            return False
        self.inflight = entries
        if await self._give_up(entries, condition, 0):
            self._finish(entries, "given_up")
        return True

    def _open_window(self) -> Window | None:
        window = self.windows.current if self.windows is not None else None
        return window.event_window(final=False) if window is not None else None

    def _settle(
        self, result: InvocationResult, records: list[dict[str, Any]], retries: int
    ) -> Decision | None:
        """Finish the batch on success (None); else what to do with what failed."""
        verdict = self._judge(result, records)
        if verdict.ok:
            self._keep_state(verdict)
            self._finish(self.inflight or [], "success")
            return None
        return self._after_failure(verdict, records, retries)

    def _judge(self, result: InvocationResult, records: list[dict[str, Any]]) -> Verdict:
        self._last_request_id = result.request_id
        self._last_function_error = result.function_error
        verdict = judge(
            result,
            records,
            self._worker.core.format.item_key,
            partial=self._settings.report_batch_item_failures,
            window=self.windows is not None,
        )
        if not verdict.ok:
            self._last_error = verdict.reason
            self._worker.core.note_failure(verdict.reason)
            # the invocation succeeded, but its answer fails the batch
            if result.ok and verdict.failed_from == 0:
                log.warning(
                    "the handler's response fails the whole batch",
                    source=self._worker.core.name,
                    shard=self._worker.info.id,
                    reason=verdict.reason,
                    request_id=result.request_id,
                )
        return verdict

    def _after_failure(self, verdict: Verdict, records: list[Any], retries: int) -> Decision:
        """Settle the succeeded prefix of a partial failure; then what to do with the rest."""
        self._set_blocked(True)
        first = verdict.failed_from or 0
        if first == 0:  # the invocation failed as a whole (a partial failure is not an error)
            self._worker.stats.failed_batches += 1
            decision = self._policy.decide(len(records), retries)
            if decision is Decision.BISECT:  # the first half now, the second one after it
                entries = self.inflight or []
                cut = split_point(entries)
                self._splits.append((entries[cut:], retries))
                self.inflight = entries[:cut]
                return Decision.SPLIT
            return decision
        self._keep_state(verdict)
        failed = records[first]
        entries = self.inflight or []
        cut = next(i for i, entry in enumerate(entries) if entry[RECORD] is failed)
        self.inflight = entries[cut:]
        self._finish_part(entries[:cut], "partial")
        if self._policy.bisect:  # as Lambda: the batch is split at the returned item
            return Decision.SPLIT
        limit = self._policy.max_retry_attempts
        return Decision.GIVE_UP if limit != -1 and retries >= limit else Decision.RETRY

    def _keep_state(self, verdict: Verdict) -> None:
        if self.windows is not None and verdict.state is not None:
            self.windows.keep(verdict.state)

    async def _expire(self, invocations: int) -> bool:
        """Give up on leading records older than max_record_age (after ``invocations``
        invocations of the batch they lead); False if stopping."""
        entries = self.inflight or []
        count = self._policy.expired(entries, self._worker.core.ports.now_ms())
        if not count:
            return True
        expired, self.inflight = entries[:count], entries[count:]
        if not await self._give_up(expired, "RecordAgeExceeded", invocations):
            self.inflight = expired + self.inflight
            return False
        self._finish_part(expired, "given_up")
        return True

    async def _invoke(
        self, records: list[dict[str, Any]], window: Window | None, retry: bool = False
    ) -> InvocationResult | None:
        worker = self._worker
        core = worker.core
        if retry:  # counted only now: max_record_age may have ended the retrying first
            self._note_retry()
        event = core.format.event(worker.info, records, window)
        if self.inflight:
            worker.observe_age(core.ports.now_ms() - self.inflight[-1][ARRIVAL])
        worker.stats.in_flight += 1
        try:
            return await core.ports.invoke(event)
        except LookupError as exc:
            self._last_error = str(exc)
            core.note_failure(str(exc))
            log.warning(
                "function not found; retrying",
                source=core.name,
                shard=worker.info.id,
                error=str(exc),
            )
            return None
        finally:
            worker.stats.in_flight -= 1

    async def _give_up(self, entries: list[Entry], condition: str, invocations: int) -> bool:
        """Hand the records to on_failure (until it takes them); False if stopping first."""
        records = [entry[RECORD] for entry in entries if entry[RECORD] is not None]
        core = self._worker.core
        deliver = core.ports.deliver_failure
        if not records:
            return True
        log.warning(
            "records given up on" if deliver else "records given up on (no on_failure destination)",
            source=core.name,
            shard=self._worker.info.id,
            condition=condition,
            records=len(records),
            first=entries[0][POSITION],
            last=entries[-1][POSITION],
        )
        if deliver is None:
            return True
        info = GiveUp(
            condition=condition,
            request_id=self._last_request_id or _new_request_id(),
            invoke_count=invocations,
            function_error=self._last_function_error if invocations else None,
            timestamp=datetime.now(UTC),
        )
        failure = core.format.failure_record(self._worker.info, records, info)
        attempt = 0
        while not await deliver(failure):
            attempt += 1
            core.metrics.dead_letter_error()
            if not await self._backoff(attempt):
                return False
        return True

    async def _close_window(self) -> None:
        """The final invocation of the open window (no records); retried like a batch."""
        windows = self.windows
        assert windows is not None  # noqa: S101 - _window_must_close checked both
        assert windows.current is not None  # noqa: S101
        if await self._final_invoke(windows.current.event_window(final=True)):
            windows.closed()
            self._set_blocked(False)
            self._worker.progress()

    async def _final_invoke(self, window: Window) -> bool:
        """True once the final invocation succeeded or was given up on; False if stopping."""
        retries = 0
        while True:
            result = await self._invoke([], window)
            if result is not None:
                self._last_request_id = result.request_id
                if result.ok:
                    return True
                self._set_blocked(True)
                if self._policy.decide(0, retries) is Decision.GIVE_UP:
                    log.warning(
                        "final window invocation given up",
                        source=self._worker.core.name,
                        shard=self._worker.info.id,
                    )
                    return True
                retries += 1
                self._note_retry()
            if not await self._backoff(retries + 1):
                return False

    def _window_must_close(self) -> bool:
        windows = self.windows
        if windows is None or windows.current is None:
            return False
        if windows.current.terminated_early:
            return True
        head = next((entry for entry in self.pending if entry[RECORD] is not None), None)
        if head is not None:
            return not windows.belongs(head[ARRIVAL])
        return not self.pending and windows.due(self._worker.core.ports.now_ms())

    def _window_wait(self) -> float | None:
        """Seconds until the open window's end (when the lane must wake to close it)."""
        if self.windows is None or self.windows.current is None:
            return None
        remaining = self.windows.current.end_ms - self._worker.core.ports.now_ms()
        return min(WINDOW_CHECK, max(0.0, remaining / 1000) + 0.001)

    async def _backoff(self, retry: int) -> bool:
        """Sleep before retry ``retry``; False when the worker is stopping."""
        return await self._worker.sleep(self._policy.delay(retry))

    # -- settling -----------------------------------------------------------------------

    def _finish(self, entries: list[Entry], result: str) -> None:
        self.inflight = None
        self._finish_part(entries, result)
        self._set_blocked(False)

    def _finish_part(self, entries: list[Entry], result: str) -> None:
        matched = sum(1 for entry in entries if entry[RECORD] is not None)
        self._worker.finished(entries, matched, result)

    def _note_retry(self) -> None:
        self._worker.stats.retries += 1
        self._worker.core.metrics.retry()

    def _set_blocked(self, blocked: bool) -> None:
        if blocked != self._blocked:
            self._blocked = blocked
            self._worker.stats.blocked_lanes += 1 if blocked else -1
            self._worker.core.blocked_changed()


def _new_request_id() -> str:
    import uuid  # noqa: PLC0415

    return str(uuid.uuid4())
