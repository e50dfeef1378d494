"""Queue-level operations of the SQS API: URLs, listing, attributes, purge and redrive."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from connectors.queue_service import EmbeddedQueues, QueueNotFound
from connectors.sqs_params import SqsError, integer, invalid, str_list, string

# Attribute names SQS accepts; those without a value here (no policy, no KMS) are
# simply left out of the answer, as SQS does for unset attributes.
_KNOWN_ATTRIBUTES = frozenset(
    {
        "Policy", "CreatedTimestamp", "LastModifiedTimestamp", "RedrivePolicy", "FifoQueue",
        "ContentBasedDeduplication", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
        "DeduplicationScope", "FifoThroughputLimit",
    }
)  # fmt: skip


# Attributes that describe the queue's contents or history, not its settings.
_COUNTERS = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "CreatedTimestamp",
        "LastModifiedTimestamp",
        "QueueArn",
    }
)


def _same(key: str, value: Any) -> Any:
    """An attribute value in a form that compares as SQS does (JSON policies parsed)."""
    if key in ("RedrivePolicy", "RedriveAllowPolicy") and isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, dict):
            return {k: str(v) for k, v in parsed.items()}
    return str(value).lower() if key in ("FifoQueue", "ContentBasedDeduplication") else str(value)


class QueueOperations:
    """Operations on queues; each takes the parsed request and returns the response members."""

    def __init__(self, queues: EmbeddedQueues) -> None:
        self.queues = queues
        self.tasks: dict[str, list[dict[str, Any]]] = {}

    # -- helpers -----------------------------------------------------------------------

    def url(self, request: web.Request, name: str) -> str:
        return f"{request.scheme}://{request.host}/{self.queues.account_id}/{name}"

    def queue(self, payload: dict[str, Any]) -> str:
        """The queue a ``QueueUrl`` names (a bare name is accepted too)."""
        url = string(payload, "QueueUrl") or ""
        parts = [p for p in urlsplit(url).path.split("/") if p] if "/" in url else [url]
        name = parts[-1] if parts else ""
        if len(parts) > 1 and parts[-2] != self.queues.account_id:
            raise QueueNotFound(name)
        self.queues.config(name)
        return name

    # -- operations --------------------------------------------------------------------

    async def get_queue_url(self, request: web.Request, payload: dict[str, Any]) -> dict[str, Any]:
        name = string(payload, "QueueName") or ""
        owner = string(payload, "QueueOwnerAWSAccountId", required=False)
        if owner and owner != self.queues.account_id:  # a queue of another account
            raise QueueNotFound(name)
        self.queues.config(name)
        return {"QueueUrl": self.url(request, name)}

    async def create_queue(self, request: web.Request, payload: dict[str, Any]) -> dict[str, Any]:
        name = string(payload, "QueueName") or ""
        try:
            self.queues.config(name)
        except QueueNotFound:
            raise SqsError(
                "UnsupportedOperation",
                f"Queue {name!r} is not configured; eventhub's queues are defined under "
                "`queues:` in its configuration file.",
            ) from None
        current = await self._attributes(name)
        current.setdefault("FifoQueue", "false")
        asked = payload.get("Attributes") or {}
        if not isinstance(asked, dict):
            raise invalid("Attributes", asked, "must be a map of attribute names to values.")
        for key, value in asked.items():
            if (
                key in current
                and key not in _COUNTERS
                and _same(key, value) != _same(key, current[key])
            ):
                raise SqsError(
                    "QueueNameExists",
                    f"A queue already exists with the same name and a different value for "
                    f"attribute {key}",
                )
        return {"QueueUrl": self.url(request, name)}

    async def list_queues(self, request: web.Request, payload: dict[str, Any]) -> dict[str, Any]:
        prefix = string(payload, "QueueNamePrefix", required=False) or ""
        limit = integer(payload, "MaxResults", 1, 1000)
        token = string(payload, "NextToken", required=False)
        names = sorted(n for n in self.queues.names() if n.startswith(prefix))
        start = int(token) if token and token.isdigit() else 0
        end = len(names) if limit is None else start + limit
        out: dict[str, Any] = {}
        if names[start:end]:  # as SQS: no QueueUrls key at all when nothing matches
            out["QueueUrls"] = [self.url(request, n) for n in names[start:end]]
        if limit is not None and end < len(names):
            out["NextToken"] = str(end)
        return out

    async def get_queue_attributes(
        self, request: web.Request, payload: dict[str, Any]
    ) -> dict[str, Any]:
        name = self.queue(payload)
        wanted = set(str_list(payload, "AttributeNames"))
        values = await self._attributes(name)
        if "All" in wanted:
            return {"Attributes": values}
        unknown = wanted - set(values) - _KNOWN_ATTRIBUTES
        if unknown:
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {sorted(unknown)[0]}.")
        return {"Attributes": {k: v for k, v in values.items() if k in wanted}}

    async def _attributes(self, name: str) -> dict[str, str]:
        """Every attribute of queue ``name``, as GetQueueAttributes ``All`` shows them."""
        config = self.queues.config(name)
        depth = await self.queues.depth(name)
        created, modified = self.queues.timestamps(name)
        values = {
            "QueueArn": self.queues.arn(name),
            "ApproximateNumberOfMessages": str(depth.visible),
            "ApproximateNumberOfMessagesNotVisible": str(depth.in_flight),
            "ApproximateNumberOfMessagesDelayed": str(depth.delayed),
            "VisibilityTimeout": str(config.visibility_timeout),
            "DelaySeconds": str(config.delay_seconds),
            "MessageRetentionPeriod": str(config.retention_seconds),
            "MaximumMessageSize": str(config.max_message_size),
            "ReceiveMessageWaitTimeSeconds": "0",
            "RedriveAllowPolicy": '{"redrivePermission":"allowAll"}',
            "SqsManagedSseEnabled": "false",
            "CreatedTimestamp": str(created),
            "LastModifiedTimestamp": str(modified),
        }
        if config.fifo:
            values["FifoQueue"] = "true"
            values["ContentBasedDeduplication"] = str(config.content_based_deduplication).lower()
            values["DeduplicationScope"] = "queue"
            values["FifoThroughputLimit"] = "perQueue"
        if config.redrive is not None:
            values["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": self.queues.arn(config.redrive.dead_letter_queue),
                    "maxReceiveCount": config.redrive.max_receive_count,
                },
                separators=(",", ":"),  # compact, as SQS writes it
            )
        return values

    async def purge_queue(self, request: web.Request, payload: dict[str, Any]) -> dict[str, Any]:
        await self.queues.purge(self.queue(payload))
        return {}

    async def start_message_move_task(
        self, request: web.Request, payload: dict[str, Any]
    ) -> dict[str, Any]:
        source_arn = string(payload, "SourceArn") or ""
        source = self._arn_queue("SourceArn", source_arn)
        queues = self.queues.env.loaded.config.queues.values()
        if not any(q.redrive and q.redrive.dead_letter_queue == source for q in queues):
            raise invalid(
                "SourceArn", source_arn, "Source queue must be configured as a Dead Letter Queue."
            )
        destination_arn = string(payload, "DestinationArn", required=False)
        destination = None
        if destination_arn is not None:
            destination = self._arn_queue("DestinationArn", destination_arn)
            if destination == source:
                raise invalid(
                    "DestinationArn",
                    destination_arn,
                    "The source and destination queues must be different.",
                )
            if self.queues.config(destination).fifo != self.queues.config(source).fifo:
                raise invalid(
                    "DestinationArn",
                    destination_arn,
                    "The source and destination queues must be of the same type.",
                )
        moved, left = await self.queues.move(source, destination)
        handle = str(uuid.uuid4())
        task = {
            "TaskHandle": handle,
            "Status": "COMPLETED",
            "SourceArn": source_arn,
            "ApproximateNumberOfMessagesMoved": moved,
            "ApproximateNumberOfMessagesToMove": moved,
            "StartedTimestamp": int(time.time() * 1000),
        }
        if destination_arn is not None:
            task["DestinationArn"] = destination_arn
        if left:
            task["FailureReason"] = f"{left} message(s) in flight or without a source queue stayed"
        self.tasks.setdefault(source, []).insert(0, task)
        del self.tasks[source][10:]
        return {"TaskHandle": handle}

    async def list_message_move_tasks(
        self, request: web.Request, payload: dict[str, Any]
    ) -> dict[str, Any]:
        source = self._arn_queue("SourceArn", string(payload, "SourceArn") or "")
        limit = integer(payload, "MaxResults", 1, 10) or 1
        return {"Results": self.tasks.get(source, [])[:limit]}

    def _arn_queue(self, member: str, arn: str) -> str:
        try:
            return self.queues.name_of_arn(arn)
        except QueueNotFound:
            raise SqsError(
                "ResourceNotFoundException", f"{member} {arn!r} is not a queue of this hub."
            ) from None
