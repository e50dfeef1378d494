"""``stream:NAME`` destination: each record is put into an embedded stream as JSON.

The partition key is the record's ``requestContext.requestId`` when it has one (on-success /
on-failure records), else a random UUID, so records spread over the shards.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import TYPE_CHECKING, Any

from eventhub.config.destinations import DestinationRef
from eventhub.sources import DestinationError
from eventhub.store.db import StoreClosed
from eventhub.store.streams import StreamLog, hash_key, shard_for, starting_hash_keys

if TYPE_CHECKING:
    from eventhub.invoke.destinations import DestinationContext


class StreamDestination:
    """Appends records to an embedded stream; ``send`` returns once committed."""

    def __init__(self, context: DestinationContext, stream: str) -> None:
        self._context = context
        self._stream = stream

    @classmethod
    def from_ref(cls, ref: DestinationRef, context: DestinationContext) -> StreamDestination:
        return cls(context, ref.target)

    async def send(self, record: Any) -> None:
        config = self._context.loaded.config.streams.get(self._stream)
        if config is None:
            raise DestinationError(f"stream {self._stream!r} is not defined under streams")
        key = _partition_key(record)
        data = json.dumps(record, separators=(",", ":"), default=str).encode()
        shard = shard_for(hash_key(key), starting_hash_keys(config.shards))
        log = StreamLog.of(self._context.store)
        try:
            await log.open()
            await log.ensure_stream(self._stream, config.shards)
            await log.append(self._stream, [(shard, key.encode(), data)])
        except (sqlite3.Error, StoreClosed) as exc:
            raise DestinationError(f"cannot put into stream {self._stream!r}: {exc}") from exc

    async def aclose(self) -> None:
        return None


def _partition_key(record: Any) -> str:
    if isinstance(record, dict):
        context = record.get("requestContext")
        if isinstance(context, dict) and isinstance(context.get("requestId"), str):
            return context["requestId"][:256] or str(uuid.uuid4())
    return str(uuid.uuid4())
