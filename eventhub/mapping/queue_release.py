"""Holding failed messages back before a broker that redelivers at once gets them.

RabbitMQ requeues a nacked message immediately; a message that always fails would spin
through the handler as fast as the broker can deliver it. The engine therefore releases
such messages after a short backoff (growing with the receive count), without holding a
concurrency slot meanwhile. On stop, everything held is released at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog

from eventhub.sources import QueueMessage, SourceUnavailable

log = structlog.get_logger("eventhub.mapping.queue")

Release = Callable[[Sequence[QueueMessage]], Awaitable[None]]


class DelayedReleases:
    """Timers that release messages later; ``flush`` releases whatever is still held."""

    def __init__(self, release: Release, source: str = "") -> None:
        self._release = release
        self._source = source  # for log lines
        self._waiting: dict[asyncio.Task[None], list[QueueMessage]] = {}
        self._releasing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return sum(len(messages) for messages in self._waiting.values())

    def later(self, messages: list[QueueMessage], delay: float) -> None:
        """Release ``messages`` after ``delay`` seconds."""
        task = asyncio.create_task(self._after(messages, delay), name="queue-release")
        self._waiting[task] = messages
        task.add_done_callback(self._done)

    async def _after(self, messages: list[QueueMessage], delay: float) -> None:
        await asyncio.sleep(delay)
        task = asyncio.current_task()
        if task is not None:  # from here on ``flush`` waits for it instead of cancelling it
            self._waiting.pop(task, None)
            self._releasing.add(task)
        await asyncio.shield(_release_quietly(self._release, messages, self._source))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._waiting.pop(task, None)
        self._releasing.discard(task)

    async def flush(self) -> None:
        """Release every held message now and wait for releases under way."""
        waiting = list(self._waiting.items())
        self._waiting.clear()
        for task, _ in waiting:
            task.cancel()
        pending = [m for _, messages in waiting for m in messages]
        if pending:
            await _release_quietly(self._release, pending, self._source)
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)


async def _release_quietly(release: Release, messages: Sequence[QueueMessage], source: str) -> None:
    try:
        await release(messages)
    except SourceUnavailable as exc:  # the broker requeues them itself when the channel closes
        log.info(
            "release skipped: broker unavailable",
            source=source,
            error=str(exc),
            messages=len(messages),
        )
