"""The embedded SQS-like queues of one hub: a ``Service`` over ``eventhub.store.queues``.

It reads the ``queues:`` section live (reloads apply at once), serves the SQS JSON API on
``hub.listen`` (``connectors.sqs_api``), and wakes receivers the moment a message can be
received: on every send, release and redrive an in-process signal fires, and a receiver
that found nothing sleeps until that signal or until the next hidden message becomes
visible, whichever is first. Idle receivers do not poll.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Sequence
from typing import Any

import structlog

from eventhub.config.models import QueueConfig
from eventhub.events.sqs import queue_arn
from eventhub.hubenv import HubEnv
from eventhub.store.db import Store
from eventhub.store.queues import Depth, NewMessage, QueueStore, Received, Redrive, Sent
from eventhub.store.queues import StoredMessage as StoredMessage

log = structlog.get_logger("eventhub.queues")

SWEEP_INTERVAL = 60.0
Receipt = tuple[int, int]

# Destinations only get the store (DestinationContext); they find the service through it.
_BY_STORE: weakref.WeakKeyDictionary[Store, EmbeddedQueues] = weakref.WeakKeyDictionary()


class QueueNotFound(LookupError):  # noqa: N818 - mirrors SQS's QueueDoesNotExist
    """No embedded queue of that name is configured."""

    def __init__(self, name: str) -> None:
        super().__init__(f"The specified queue {name!r} does not exist.")
        self.name = name


def now_ms() -> int:
    return int(time.time() * 1000)


class _Signal:
    """Wakes every receiver of one queue. ``version`` moves on each notify, so a receiver
    that read it before looking at the store cannot miss a send that landed meanwhile."""

    def __init__(self) -> None:
        self.version = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        self.version += 1
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, within: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(within):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


class EmbeddedQueues:
    """``registry.SERVICES["queues"]``: every embedded queue of the hub."""

    def __init__(self) -> None:
        self._env: HubEnv | None = None
        self._store: QueueStore | None = None
        self._signals: dict[str, _Signal] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._cleanups: set[asyncio.Future[Any]] = set()
        # queue -> (its config, first served, last changed), epoch seconds, for SQS's
        # CreatedTimestamp / LastModifiedTimestamp (queues come from the config file)
        self._served: dict[str, tuple[QueueConfig, int, int]] = {}

    @staticmethod
    def of(store: Store) -> EmbeddedQueues | None:
        """The running service of the hub that owns ``store``."""
        return _BY_STORE.get(store)

    # -- Service -----------------------------------------------------------------------

    async def start(self, env: HubEnv) -> None:
        from connectors.sqs_api import targets  # noqa: PLC0415 - api imports this module

        self._env = env
        self._note_served()
        self._store = QueueStore(env.store)
        await self._store.open()
        env.main.targets.update(targets(self))
        _BY_STORE[env.store] = self
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="queues-sweeper")

    async def reconfigure(self, env: HubEnv) -> None:
        self._env = env
        self._note_served()
        for signal in self._signals.values():
            signal.notify()  # receivers re-read visibility timeouts and redrive policies

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)  # ours propagates
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
        if self._env is not None:
            _BY_STORE.pop(self._env.store, None)

    # -- configuration -----------------------------------------------------------------

    @property
    def env(self) -> HubEnv:
        if self._env is None:
            raise RuntimeError("the embedded queues are not started")
        return self._env

    @property
    def store(self) -> QueueStore:
        if self._store is None:
            raise RuntimeError("the embedded queues are not started")
        return self._store

    def names(self) -> list[str]:
        return list(self.env.loaded.config.queues)

    def config(self, name: str) -> QueueConfig:
        """The queue's settings; raises QueueNotFound."""
        queue = self.env.loaded.config.queues.get(name)
        if queue is None:
            raise QueueNotFound(name)
        return queue

    def _note_served(self) -> None:
        now = int(time.time())
        served = {}
        for name, queue in self.env.loaded.config.queues.items():
            old = self._served.get(name)
            if old is None:
                served[name] = (queue, now, now)
            else:
                served[name] = (queue, old[1], old[2] if old[0] == queue else now)
        self._served = served

    def timestamps(self, name: str) -> tuple[int, int]:
        """(created, last modified) in epoch seconds: when this hub started serving the
        queue, and when a reload last changed its settings."""
        _, created, modified = self._served[name]
        return created, modified

    def arn(self, name: str) -> str:
        hub = self.env.loaded.config.hub
        return queue_arn(hub.region, hub.account_id, name)

    def name_of_arn(self, arn: str) -> str:
        """The queue an ARN names; raises QueueNotFound when it is not one of ours."""
        prefix = self.arn("")
        name = arn[len(prefix) :] if arn.startswith(prefix) else ""
        self.config(name)
        return name

    @property
    def account_id(self) -> str:
        return self.env.loaded.config.hub.account_id

    def redrive(self, name: str) -> Redrive | None:
        policy = self.config(name).redrive
        if policy is None:
            return None
        return Redrive(policy.max_receive_count, policy.dead_letter_queue, self.arn(name))

    def _signal(self, name: str) -> _Signal:
        signal = self._signals.get(name)
        if signal is None:
            signal = self._signals[name] = _Signal()
        return signal

    def notify(self, name: str) -> None:
        self._signal(name).notify()

    # -- operations --------------------------------------------------------------------

    async def send(self, name: str, messages: Sequence[NewMessage]) -> list[Sent]:
        """Store messages (durable on return) and wake the queue's receivers."""
        config = self.config(name)
        sent = await self.store.send(name, messages, now_ms(), fifo=config.fifo)
        self.notify(name)
        return sent

    async def receive(
        self, name: str, limit: int, wait: float, visibility: float | None = None
    ) -> list[StoredMessage]:
        """Up to ``limit`` messages, waiting up to ``wait`` seconds for the first. Hidden for
        the queue's visibility timeout, or ``visibility`` seconds if given. Raises
        QueueNotFound. Cancel-safe: messages taken by a cancelled receive are made visible."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        signal = self._signal(name)
        while True:
            version = signal.version
            got = await self._receive_once(name, limit, visibility)
            if got.messages:
                return got.messages
            left = deadline - loop.time()
            if left <= 0:
                return []
            if signal.version != version:
                continue
            if got.next_visible is not None:
                left = min(left, max(0.0, got.next_visible / 1000 - time.time()) + 0.001)
            await signal.wait(left)

    async def _receive_once(self, name: str, limit: int, visibility: float | None) -> Received:
        config = self.config(name)
        hidden = config.visibility_timeout if visibility is None else visibility
        task = asyncio.ensure_future(
            self.store.receive(
                name,
                limit,
                now_ms(),
                int(hidden * 1000),
                fifo=config.fifo,
                redrive=self.redrive(name),
            )
        )
        try:
            got = await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda done: self._unhide(name, done))
            raise
        if got.dead_lettered and config.redrive is not None:
            log.warning(
                "messages moved to the dead-letter queue (maxReceiveCount reached)",
                queue=name,
                dead_letter_queue=config.redrive.dead_letter_queue,
                messages=got.dead_lettered,
            )
            self.notify(config.redrive.dead_letter_queue)
        return got

    def _unhide(self, name: str, done: asyncio.Future[Received]) -> None:
        if done.cancelled() or done.exception() is not None or not done.result().messages:
            return
        receipts = [(m.seq, m.token) for m in done.result().messages]
        task = asyncio.ensure_future(self.change_visibility(name, receipts, 0))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def delete(self, name: str, receipts: Sequence[Receipt]) -> int:
        self.config(name)
        deleted = await self.store.delete(name, receipts)
        if deleted and self.config(name).fifo:
            self.notify(name)  # a group may be free now
        return deleted

    async def change_visibility(
        self, name: str, receipts: Sequence[Receipt], seconds: float
    ) -> list[bool]:
        """Hide in-flight messages for ``seconds`` more seconds (0: visible now)."""
        self.config(name)
        now = now_ms()
        done = await self.store.change_visibility(name, receipts, now + int(seconds * 1000), now)
        if seconds == 0 and any(done):
            self.notify(name)
        return done

    async def dead_letter(self, name: str, receipts: Sequence[Receipt]) -> int:
        """Move received messages to the queue's dead-letter queue now (0 without one)."""
        redrive = self.redrive(name)
        if redrive is None:
            return 0
        moved = await self.store.dead_letter(name, receipts, redrive, now_ms())
        if moved:
            log.warning(
                "messages moved to the dead-letter queue",
                queue=name,
                dead_letter_queue=redrive.dead_letter_queue,
                messages=moved,
            )
        self.notify(redrive.dead_letter_queue)
        self.notify(name)
        return moved

    async def purge(self, name: str) -> int:
        self.config(name)
        return await self.store.purge(name)

    async def depth(self, name: str) -> Depth:
        self.config(name)
        return await self.store.depth(name, now_ms())

    async def move(self, source: str, destination: str | None) -> tuple[int, int]:
        """Redrive: move what is not in flight from ``source`` to ``destination`` (None:
        back where each message was dead-lettered from). Returns ``(moved, left)``."""
        self.config(source)
        if destination is not None:
            self.config(destination)
        moved = await self.store.move(source, destination, now_ms())
        for name in [destination] if destination is not None else self.names():
            self.notify(name)
        return moved

    async def _sweep_forever(self) -> None:
        while True:
            retention = {
                name: queue.retention_seconds * 1000
                for name, queue in self.env.loaded.config.queues.items()
            }
            try:
                removed = await self.store.sweep(retention, now_ms())
            except Exception:  # noqa: BLE001 - retry at the next sweep
                log.exception("queue retention sweep failed")
            else:
                if removed:
                    log.info("expired queue messages removed", messages=removed)
            await asyncio.sleep(SWEEP_INTERVAL)


def system_attributes(message: StoredMessage, sender: str) -> dict[str, str]:
    """SQS system attributes of a received message except ApproximateReceiveCount, in the
    order AWS writes them."""
    out = {
        "SentTimestamp": str(message.sent_at),
        "SenderId": sender,
        "ApproximateFirstReceiveTimestamp": str(message.first_receive_at or message.sent_at),
    }
    if message.group_id is not None:
        out["SequenceNumber"] = f"{message.seq:020d}"
        out["MessageGroupId"] = message.group_id
        if message.dedup_id is not None:
            out["MessageDeduplicationId"] = message.dedup_id
    if message.system:
        out.update(json.loads(message.system))
    return out
