"""``http(s)://...`` destination: each record POSTed as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp

from eventhub.config.destinations import DestinationRef
from eventhub.sources import DestinationError

if TYPE_CHECKING:
    from eventhub.invoke.destinations import DestinationContext

TIMEOUT = aiohttp.ClientTimeout(total=10)


class HttpDestination:
    """POSTs each record as ``application/json``; any 2xx answer is delivery."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_ref(cls, ref: DestinationRef, context: DestinationContext) -> HttpDestination:
        return cls(ref.target)

    async def send(self, record: Any) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        try:
            async with self._session.post(self.url, json=record) as response:
                if response.status // 100 != 2:
                    raise DestinationError(f"POST {self.url} answered {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DestinationError(f"POST {self.url} failed: {exc!r}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
