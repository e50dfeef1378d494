"""Reading ``{"batchItemFailures": [{"itemIdentifier": ...}]}`` partial batch responses.

Lambda's rules, for streams and queues alike: a response that is null, not an object,
or has an empty or null ``batchItemFailures`` means full success; an item whose
``itemIdentifier`` is missing, empty, null or not in the batch, or a response of the
wrong shape, makes the whole batch count as failed. An exception is always a failure.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import Any


class MalformedPartialResponse(ValueError):
    """The handler's partial response is unusable: the whole batch failed."""


def failed_items(response: Any, batch_ids: Collection[Hashable]) -> list[Any]:
    """The identifiers the handler reported as failed, in the order given.

    An empty list is full success. Raises MalformedPartialResponse when the batch
    must be treated as failed as a whole.
    """
    if not isinstance(response, dict):
        return []
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        raise MalformedPartialResponse("batchItemFailures must be a list")
    found: list[Any] = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if identifier is None or identifier == "":
            raise MalformedPartialResponse("an item has no itemIdentifier")
        key = identifier_key(identifier)
        if key not in batch_ids:
            raise MalformedPartialResponse(f"itemIdentifier {identifier!r} is not in the batch")
        found.append(identifier)
    return found


def identifier_key(identifier: Any) -> Hashable:
    """The comparable form of an identifier; engines build their batch ids with it too.

    Kafka identifiers are objects ``{"partition": "t-0", "offset": 5}``, compared by value.
    """
    if isinstance(identifier, dict):
        return tuple(sorted((str(k), str(v)) for k, v in identifier.items()))
    if isinstance(identifier, list):
        return tuple(identifier)
    return identifier  # type: ignore[no-any-return]
