"""The embedded-streams service: tables, the Kinesis API on ``hub.listen``, retention.

Started by the hub before sources (``registry.SERVICES["streams"]``); on every reload it
creates the shards of new streams; every minute it deletes records older than each stream's
``retention_hours``. Readers are woken in-process by ``StreamLog`` after each put.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Final

import structlog

from connectors.kinesis_api import KinesisApi
from eventhub.hubenv import HubEnv
from eventhub.store.checkpoints import CheckpointStore
from eventhub.store.db import StoreClosed
from eventhub.store.streams import StreamLog

log = structlog.get_logger("eventhub.streams")

TRIM_EVERY: Final = 60.0


class EmbeddedStreams:
    """Hub-wide service of the embedded Kinesis-like streams."""

    def __init__(self) -> None:
        self._env: HubEnv | None = None
        self._log: StreamLog | None = None
        self._targets: list[str] = []
        self._trimmer: asyncio.Task[None] | None = None

    @property
    def stream_log(self) -> StreamLog:
        if self._log is None:
            raise RuntimeError("the embedded streams service is not started")
        return self._log

    async def start(self, env: HubEnv) -> None:
        self._env = env
        self._log = StreamLog.of(env.store)
        await self._log.open()
        await CheckpointStore(env.store).open()
        await self._create_streams(env)
        api = KinesisApi(self._log, lambda: env.loaded)
        for target, handler in api.targets().items():
            env.main.targets[target] = handler
            self._targets.append(target)
        loop = asyncio.get_running_loop()
        self._trimmer = loop.create_task(self._trim_loop(), name="streams:trim")

    async def reconfigure(self, env: HubEnv) -> None:
        self._env = env
        await self._create_streams(env)

    async def _create_streams(self, env: HubEnv) -> None:
        assert self._log is not None  # noqa: S101 - set in start
        for name, stream in env.loaded.config.streams.items():
            await self._log.ensure_stream(name, stream.shards)

    async def _trim_loop(self) -> None:
        while True:
            try:
                await self.trim()
            except StoreClosed:
                return
            except sqlite3.Error:
                log.exception("trimming streams failed; trying again later")
            await asyncio.sleep(TRIM_EVERY)

    async def trim(self) -> int:
        """Delete records past their stream's retention; returns how many."""
        if self._env is None or self._log is None:
            return 0
        deleted = 0
        now_ms = int(time.time() * 1000)
        for name, stream in self._env.loaded.config.streams.items():
            cutoff = now_ms - stream.retention_hours * 3_600_000
            for shard in self._log.shards(name):
                deleted += await self._log.trim(shard.sid, cutoff)
        if deleted:
            log.info("stream records past retention deleted", records=deleted)
        return deleted

    async def aclose(self) -> None:
        if self._trimmer is not None:
            self._trimmer.cancel()
            await asyncio.gather(self._trimmer, return_exceptions=True)  # ours propagates
            self._trimmer = None
        if self._env is not None:
            for target in self._targets:
                self._env.main.targets.pop(target, None)
        self._targets = []
