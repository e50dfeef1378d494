"""The queue engine: concurrent batches over any ``QueueSource`` (embedded queue, RabbitMQ).

One poller takes a concurrency slot, collects a batch (``batch_size`` messages, or what
arrived within ``batch_window`` seconds of the first one) and hands it to a batch task;
up to ``max_concurrency`` batches are in flight and a failing one never blocks the others.
Each batch is filtered (non-matching messages are deleted), split to stay under the 6 MB
invocation payload, invoked, and settled: successes deleted, failures released for
another try, and messages received ``max_receive_count`` times dead-lettered. Settling
runs under ``asyncio.shield``: a stop never interrupts a delete half way, and nothing is
deleted before its invocation succeeded (at-least-once).

FIFO queues: a batch waits at the ``GroupGate`` until none of its message groups is held
by another batch, and a failed message fails the rest of its group (``queue_outcome``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from eventhub.mapping.deliveries import DeliveryCounter
from eventhub.mapping.queue_format import QueueEventFormat
from eventhub.mapping.queue_groups import GroupGate
from eventhub.mapping.queue_outcome import Verdict, judge, retry_backoff, split_exhausted
from eventhub.mapping.queue_release import DelayedReleases
from eventhub.mapping.queue_stats import QueueCounters, QueueStatistics
from eventhub.runtime.funclog import tag_invocations
from eventhub.runtime.result import InvocationResult
from eventhub.sources import QueueMessage, QueueSource, SourceUnavailable

log = structlog.get_logger("eventhub.mapping.queue")

Invoke = Callable[[dict[str, Any]], Awaitable[InvocationResult]]
DeadLetterSink = Callable[[dict[str, Any]], Awaitable[bool]]
Pair = tuple[QueueMessage, dict[str, Any]]

UNAVAILABLE_PAUSE = 1.0


@dataclass(frozen=True, slots=True)
class QueueMappingSettings:
    """How one mapping batches and retries (validated by the config models)."""

    batch_size: int = 10
    batch_window: float = 0.0
    max_concurrency: int = 5
    report_batch_item_failures: bool = False
    max_receive_count: int | None = None
    visibility_timeout: float | None = None
    max_payload: int = 6_291_456
    long_poll: float = 20.0


class QueueMapping:
    """Runs one queue mapping until ``stop``; see the module docstring."""

    def __init__(
        self,
        source: QueueSource,
        fmt: QueueEventFormat,
        invoke: Invoke,
        settings: QueueMappingSettings,
        *,
        counters: QueueCounters | None = None,
        dead_letter_sink: DeadLetterSink | None = None,
        name: str = "queue",
    ) -> None:
        self.source = source
        self.settings = settings
        self._fmt = fmt
        self._invoke = invoke
        self._sink = dead_letter_sink
        self._name = name
        self.counters = counters or QueueCounters(name, None)
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._gate = GroupGate() if source.fifo else None
        self._deliveries = DeliveryCounter()
        self._later = DelayedReleases(source.release, name)
        self._stopping = asyncio.Event()
        self._grace = 0.0
        self._batches: set[asyncio.Task[None]] = set()
        self._done = asyncio.Event()
        self._running = False

    def statistics(self) -> QueueStatistics:
        return self.counters.snapshot()

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll and process until ``stop``; raises what made the mapping unable to go on."""
        self._running = True
        try:
            async with asyncio.TaskGroup() as tg:
                poller = tg.create_task(self._poll(tg), name=f"queue-poll:{self._name}")
                await self._stopping.wait()
                poller.cancel()
                await self._drain()
        except BaseExceptionGroup as group:
            first = group.exceptions[0]
            raise first from (None if len(group.exceptions) == 1 else group)
        finally:
            await self._later.flush()
            self._done.set()

    async def stop(self, grace: float) -> None:
        """Stop receiving, let batches in flight finish for up to ``grace`` seconds, abandon
        the rest (their messages come back at once), then return once ``run`` has."""
        self._grace = grace
        self._stopping.set()
        if self._running:
            await self._done.wait()

    async def _drain(self) -> None:
        if not self._batches:
            return
        _, pending = await asyncio.wait(set(self._batches), timeout=self._grace)
        for task in pending:
            task.cancel()

    # -- polling --------------------------------------------------------------------------

    async def _poll(self, tg: asyncio.TaskGroup) -> None:
        tag_invocations(source=self._name)  # batch tasks start from this task's context
        # The flag, not just cancellation, ends the loop: a connector that swallows a
        # cancellation (asyncio.wait_for on 3.11 can) must not keep the mapping alive.
        while not self._stopping.is_set():
            await self._slots.acquire()
            try:
                batch = await self._collect()
            except SourceUnavailable as exc:
                self._slots.release()
                log.debug("queue unavailable", source=self._name, error=str(exc))
                await asyncio.sleep(UNAVAILABLE_PAUSE)
                continue
            except BaseException:
                self._slots.release()
                raise
            if not batch:
                self._slots.release()
                continue
            groups = self._groups(batch)
            if self._gate is not None:
                try:
                    await _or_abandon(self._gate.acquire(groups), self.source, batch)
                except BaseException:
                    self._slots.release()
                    raise
            task = tg.create_task(self._run_batch(batch, groups), name=f"queue-batch:{self._name}")
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _collect(self) -> list[QueueMessage]:
        """One batch: what is there (waiting for the first message), or with a window, what
        arrives within ``batch_window`` seconds of the first, up to size and payload limits."""
        s = self.settings
        batch = await self.source.receive(s.batch_size, s.long_poll, s.visibility_timeout)
        if not batch or s.batch_window <= 0:
            return batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.batch_window
        size = sum(self._fmt.size(m) for m in batch)
        try:
            while len(batch) < s.batch_size and size < s.max_payload:
                left = deadline - loop.time()
                if left <= 0:
                    break
                more = await self.source.receive(
                    s.batch_size - len(batch), left, s.visibility_timeout
                )
                batch.extend(more)
                size += sum(self._fmt.size(m) for m in more)
        except SourceUnavailable:
            pass  # process what we have; acks on a lost channel are skipped
        except asyncio.CancelledError:
            await asyncio.shield(self.source.abandon(batch))
            raise
        return batch

    def _groups(self, batch: Sequence[QueueMessage]) -> set[str]:
        if self._gate is None:
            return set()
        return {m.group_id for m in batch if m.group_id is not None}

    # -- one batch ------------------------------------------------------------------------

    async def _run_batch(self, batch: list[QueueMessage], groups: set[str]) -> None:
        self._deliveries.observe(batch)
        redelivered = sum(1 for m in batch if m.receive_count > 1)
        self.counters.batch_started(len(batch), redelivered, max(m.receive_count for m in batch))
        unsettled = list(batch)
        try:
            pairs = [(m, self._fmt.record(m)) for m in batch]
            if self._fmt.filtering:
                pairs = await self._drop_filtered(pairs, unsettled)
            blocked: set[str | None] = set()
            for chunk in self._chunks(pairs):
                verdict = await self._invoke_chunk(chunk, blocked)
                try:
                    await _settled(self._settle(verdict, dict(_ids(chunk))))
                finally:
                    _forget(unsettled, (m for m, _ in chunk))
        except asyncio.CancelledError:
            if unsettled:
                await asyncio.shield(self.source.abandon(unsettled))
            raise
        finally:
            if self._gate is not None:
                self._gate.release(groups)
            self.counters.batch_ended(len(batch))
            self._slots.release()

    async def _drop_filtered(self, pairs: list[Pair], unsettled: list[QueueMessage]) -> list[Pair]:
        kept = [(m, r) for m, r in pairs if self._fmt.passes(r)]
        if len(kept) < len(pairs):
            keep = {id(m) for m, _ in kept}
            dropped = [m for m, _ in pairs if id(m) not in keep]
            await _settled(self._delete(dropped))
            self.counters.settled(filtered=len(dropped))
            _forget(unsettled, dropped)
        return kept

    def _chunks(self, pairs: list[Pair]) -> list[list[Pair]]:
        """Split so that each invocation stays under the payload limit (a message too large
        on its own gets a chunk of its own, which ``_invoke_chunk`` dead-letters)."""
        chunks: list[list[Pair]] = []
        size = 0
        for pair in pairs:
            weight = self._fmt.size(pair[0])
            if not chunks or size + weight > self.settings.max_payload:
                chunks.append([])
                size = 0
            chunks[-1].append(pair)
            size += weight
        return chunks

    async def _invoke_chunk(self, chunk: list[Pair], blocked: set[str | None]) -> Verdict:
        messages = [m for m, _ in chunk]
        if len(chunk) == 1 and self._fmt.size(messages[0]) > self.settings.max_payload:
            log.error(
                "message exceeds the invocation payload limit; dead-lettering it",
                source=self._name,
                message_id=messages[0].message_id,
                limit=self.settings.max_payload,
            )
            return Verdict(failed=messages, reason="payload too large", exhausted=True)
        held: list[QueueMessage] = []
        if blocked:  # FIFO: an earlier chunk failed these groups; keep their order
            held = [m for m in messages if m.group_id in blocked]
            chunk = [(m, r) for m, r in chunk if m.group_id not in blocked]
            if not chunk:
                return Verdict(failed=held, reason="an earlier message of the group failed")
        result = await self._invoke(self._fmt.event([r for _, r in chunk]))
        verdict = judge(
            result,
            [m for m, _ in chunk],
            self._fmt,
            report_failures=self.settings.report_batch_item_failures,
            fifo=self.source.fifo,
        )
        self.counters.invoked(result.ok, partial=bool(verdict.failed))
        verdict.failed.extend(held)
        if self.source.fifo:
            blocked.update(m.group_id for m in verdict.failed)
        if verdict.failed:
            log.warning(
                "batch failed",
                source=self._name,
                failed=len(verdict.failed),
                succeeded=len(verdict.succeeded),
                reason=verdict.reason,
            )
        return verdict

    # -- settling -------------------------------------------------------------------------

    async def _settle(self, verdict: Verdict, records: dict[int, dict[str, Any]]) -> None:
        if verdict.succeeded:
            await self._delete(verdict.succeeded)
            self._deliveries.forget(verdict.succeeded)
            self.counters.settled(deleted=len(verdict.succeeded))
        retry: list[QueueMessage]
        dead: list[QueueMessage]
        if verdict.exhausted:
            retry, dead = [], verdict.failed
        else:
            retry, dead = split_exhausted(verdict.failed, self.settings.max_receive_count)
        if dead:
            retry += await self._dead_letter(dead, records)
        if retry:
            await self._release(retry)

    async def _delete(self, messages: list[QueueMessage]) -> None:
        try:
            await self.source.delete(messages)
        except SourceUnavailable as exc:  # the broker redelivers them: at-least-once
            log.info("delete skipped: broker unavailable", source=self._name, error=str(exc))

    async def _release(self, messages: list[QueueMessage]) -> None:
        self.counters.settled(retried=len(messages))
        if self.source.redelivers_at_once:
            delay = retry_backoff(max(m.receive_count for m in messages))
            self._later.later(messages, delay)
            return
        try:
            await self.source.release(messages)
        except SourceUnavailable as exc:
            log.info("release skipped: broker unavailable", source=self._name, error=str(exc))

    async def _dead_letter(
        self, messages: list[QueueMessage], records: dict[int, dict[str, Any]]
    ) -> list[QueueMessage]:
        """Dead-letter ``messages``; returns those that could not be (retried instead)."""
        if self._sink is None:
            try:
                await self.source.dead_letter(messages)
            except SourceUnavailable:
                return messages
            self._after_dead_letter(messages)
            return []
        sent: list[QueueMessage] = []
        failed: list[QueueMessage] = []
        for message in messages:
            (sent if await self._sink(records[id(message)]) else failed).append(message)
        if sent:
            await self._delete(sent)
            self._after_dead_letter(sent)
        for _ in failed:
            self.counters.dead_letter_error()
        return failed

    def _after_dead_letter(self, messages: list[QueueMessage]) -> None:
        self._deliveries.forget(messages)
        self.counters.settled(dead=len(messages))
        log.warning(
            "messages dead-lettered",
            source=self._name,
            messages=len(messages),
            message_ids=[m.message_id for m in messages[:10]],
        )


def _ids(chunk: list[Pair]) -> list[tuple[int, dict[str, Any]]]:
    return [(id(m), r) for m, r in chunk]


def _forget(unsettled: list[QueueMessage], done: Any) -> None:
    gone = {id(m) for m in done}
    unsettled[:] = [m for m in unsettled if id(m) not in gone]


async def _settled(coro: Coroutine[Any, Any, None]) -> None:
    """Run a settling step to its end even if the caller is cancelled meanwhile."""
    task = asyncio.ensure_future(coro)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


async def _or_abandon(
    waiting: Coroutine[Any, Any, None], source: QueueSource, batch: list[QueueMessage]
) -> None:
    try:
        await waiting
    except asyncio.CancelledError:
        await asyncio.shield(source.abandon(batch))
        raise
