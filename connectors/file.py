"""``file:PATH`` destination: JSON lines appended to a file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventhub.config.destinations import DestinationRef
from eventhub.sources import DestinationError

if TYPE_CHECKING:
    from eventhub.invoke.destinations import DestinationContext


class FileDestination:
    """Appends each record as one JSON line. A line is written with one ``write`` call
    and flushed before ``send`` returns, so it survives the daemon being killed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    def from_ref(cls, ref: DestinationRef, context: DestinationContext) -> FileDestination:
        return cls(context.loaded.resolve(ref.target))

    async def send(self, record: Any) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        async with self._lock:
            try:
                await asyncio.to_thread(self._append, line)
            except OSError as exc:
                raise DestinationError(f"cannot append to {self.path}: {exc}") from exc

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)

    async def aclose(self) -> None:
        return None
