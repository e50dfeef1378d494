"""The SQS JSON API (``X-Amz-Target: AmazonSQS.*``, AWS JSON 1.0) of the embedded queues.

boto3's SQS client with ``endpoint_url`` pointed at ``hub.listen`` works against it.
Queue URLs are ``http://HOST:PORT/ACCOUNT/NAME`` with the host the client used. Requests
are not authenticated (SigV4 signatures are accepted unchecked). Queues come from the
configuration file: CreateQueue answers the URL of a configured queue and refuses others.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from connectors.queue_service import EmbeddedQueues, QueueNotFound, system_attributes
from connectors.sqs_params import (
    SqsError,
    batch_entries,
    decode_receipt,
    encode_receipt,
    integer,
    message_id,
    missing,
    new_message,
    str_list,
    string,
)
from connectors.sqs_queue_ops import QueueOperations
from eventhub.api.state import TargetHandler
from eventhub.events.sqs import md5_of_message_attributes
from eventhub.store.queues import StoredMessage

JSON_10 = "application/x-amz-json-1.0"
MAX_BATCH_BYTES = 1_048_576

Operation = Callable[["SqsApi", web.Request, dict[str, Any]], Awaitable[dict[str, Any]]]


def reply(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": JSON_10, "x-amzn-RequestId": message_id()},
    )


def error_reply(error: SqsError) -> web.Response:
    body = {"__type": f"com.amazonaws.sqs#{error.code}", "message": error.message}
    response = reply(body, error.status)
    response.headers["x-amzn-query-error"] = f"{error.query_code};Sender"
    return response


class SqsApi(QueueOperations):
    """Every operation; the message-level ones are here."""

    async def send_message(self, request: web.Request, payload: dict[str, Any]) -> dict[str, Any]:
        name = self.queue(payload)
        message, _ = new_message(payload, self.queues.config(name))
        sent = (await self.queues.send(name, [message]))[0]
        return _sent(
            message.md5,
            message.md5_attributes,
            message.system,
            sent.message_id,
            sent.seq if message.group_id is not None else None,
        )

    async def send_message_batch(
        self, request: web.Request, payload: dict[str, Any]
    ) -> dict[str, Any]:
        name = self.queue(payload)
        config = self.queues.config(name)
        entries = batch_entries(payload)
        ok: list[tuple[str, Any]] = []
        failed: list[dict[str, Any]] = []
        total = 0
        for entry in entries:
            try:
                message, size = new_message(entry, config)
            except SqsError as exc:
                failed.append(_failure(entry["Id"], exc))
                continue
            total += size
            ok.append((entry["Id"], message))
        if total > MAX_BATCH_BYTES:
            raise SqsError(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. "
                f"You have sent {total} bytes.",
            )
        sent = await self.queues.send(name, [m for _, m in ok]) if ok else []
        successful = [
            {
                "Id": entry_id,
                **_sent(
                    m.md5,
                    m.md5_attributes,
                    m.system,
                    s.message_id,
                    s.seq if m.group_id is not None else None,
                ),
            }
            for (entry_id, m), s in zip(ok, sent, strict=True)
        ]
        return {"Successful": successful, "Failed": failed}

    async def receive_message(
        self, request: web.Request, payload: dict[str, Any]
    ) -> dict[str, Any]:
        name = self.queue(payload)
        limit = integer(payload, "MaxNumberOfMessages", 1, 10) or 1
        visibility = integer(payload, "VisibilityTimeout", 0, 43200)
        wait = integer(payload, "WaitTimeSeconds", 0, 20) or 0
        system = set(str_list(payload, "AttributeNames")) | set(
            str_list(payload, "MessageSystemAttributeNames")
        )
        names = str_list(payload, "MessageAttributeNames")
        got = await self.queues.receive(name, limit, wait, visibility)
        messages = [self._message(m, system, names) for m in got]
        return {"Messages": messages} if messages else {}

    def _message(self, m: StoredMessage, system: set[str], names: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MessageId": m.message_id,
            "ReceiptHandle": encode_receipt(m.seq, m.token),
            "MD5OfBody": m.md5,
            "Body": m.body,
        }
        if system:
            values = {
                "ApproximateReceiveCount": str(m.receive_count),
                **system_attributes(m, self.queues.account_id),
            }
            out["Attributes"] = {k: v for k, v in values.items() if "All" in system or k in system}
        if m.attributes and names:
            stored: dict[str, Any] = json.loads(m.attributes)
            chosen = {k: v for k, v in stored.items() if _wanted(k, names)}
            if chosen:
                out["MessageAttributes"] = chosen
                out["MD5OfMessageAttributes"] = md5_of_message_attributes(chosen)
        return out

    async def delete_message(self, request: web.Request, payload: dict[str, Any]) -> dict[str, Any]:
        name = self.queue(payload)
        receipt = decode_receipt(string(payload, "ReceiptHandle"))
        await self.queues.delete(name, [receipt])
        return {}

    async def delete_message_batch(
        self, request: web.Request, payload: dict[str, Any]
    ) -> dict[str, Any]:
        name = self.queue(payload)
        good, failed = _receipts(batch_entries(payload))
        if good:
            await self.queues.delete(name, [r for _, r in good])
        return {"Successful": [{"Id": i} for i, _ in good], "Failed": failed}

    async def change_message_visibility(
        self, request: web.Request, payload: dict[str, Any]
    ) -> dict[str, Any]:
        name = self.queue(payload)
        receipt = decode_receipt(string(payload, "ReceiptHandle"))
        timeout = _visibility(payload)
        done = await self.queues.change_visibility(name, [receipt], timeout)
        if not done[0]:
            raise _not_in_flight()
        return {}

    async def change_message_visibility_batch(
        self, request: web.Request, payload: dict[str, Any]
    ) -> dict[str, Any]:
        name = self.queue(payload)
        successful: list[dict[str, str]] = []
        failed: list[dict[str, Any]] = []
        for entry in batch_entries(payload):
            try:
                receipt = decode_receipt(string(entry, "ReceiptHandle"))
                done = await self.queues.change_visibility(name, [receipt], _visibility(entry))
                if not done[0]:
                    raise _not_in_flight()
            except SqsError as exc:
                failed.append(_failure(entry["Id"], exc))
            else:
                successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}


def _sent(
    md5: str, md5_attributes: str | None, system: str | None, message_id: str, seq: int | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"MD5OfMessageBody": md5, "MessageId": message_id}
    if md5_attributes is not None:
        out["MD5OfMessageAttributes"] = md5_attributes
    if system is not None:
        trace = json.loads(system)["AWSTraceHeader"]
        out["MD5OfMessageSystemAttributes"] = md5_of_message_attributes(
            {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}}
        )
    if seq is not None:
        out["SequenceNumber"] = f"{seq:020d}"
    return out


def _failure(entry_id: str, error: SqsError) -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": True, "Code": error.code, "Message": error.message}


def _receipts(entries: list[dict[str, Any]]) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    good: list[tuple[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry in entries:
        try:
            good.append((entry["Id"], decode_receipt(string(entry, "ReceiptHandle"))))
        except SqsError as exc:
            failed.append(_failure(entry["Id"], exc))
    return good, failed


def _visibility(payload: dict[str, Any]) -> int:
    value = integer(payload, "VisibilityTimeout", 0, 43200)
    if value is None:
        raise missing("VisibilityTimeout")
    return value


def _not_in_flight() -> SqsError:
    return SqsError("MessageNotInflight", "The message referred to isn't in flight.")


def _wanted(name: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern in ("All", ".*") or pattern == name:
            return True
        if pattern.endswith(".*") and name.startswith(pattern[:-1]):
            return True
    return False


_OPERATIONS: dict[str, Operation] = {
    "GetQueueUrl": SqsApi.get_queue_url,
    "CreateQueue": SqsApi.create_queue,
    "ListQueues": SqsApi.list_queues,
    "GetQueueAttributes": SqsApi.get_queue_attributes,
    "SendMessage": SqsApi.send_message,
    "SendMessageBatch": SqsApi.send_message_batch,
    "ReceiveMessage": SqsApi.receive_message,
    "DeleteMessage": SqsApi.delete_message,
    "DeleteMessageBatch": SqsApi.delete_message_batch,
    "ChangeMessageVisibility": SqsApi.change_message_visibility,
    "ChangeMessageVisibilityBatch": SqsApi.change_message_visibility_batch,
    "PurgeQueue": SqsApi.purge_queue,
    "StartMessageMoveTask": SqsApi.start_message_move_task,
    "ListMessageMoveTasks": SqsApi.list_message_move_tasks,
}


def targets(queues: EmbeddedQueues) -> dict[str, TargetHandler]:
    """``X-Amz-Target`` handlers to install in ``env.main.targets``."""
    api = SqsApi(queues)

    def bind(operation: Operation) -> TargetHandler:
        async def handle(request: web.Request, body: bytes) -> web.StreamResponse:
            try:
                payload = json.loads(body) if body else {}
            except (ValueError, RecursionError):  # RecursionError: nested too deep
                return _serialization_error("the request body is not valid JSON")
            if not isinstance(payload, dict):
                return _serialization_error("the request body must be a JSON object")
            try:
                return reply(await operation(api, request, payload))
            except SqsError as exc:
                return error_reply(exc)
            except QueueNotFound as exc:
                return error_reply(SqsError("QueueDoesNotExist", str(exc)))

        return handle

    return {f"AmazonSQS.{name}": bind(op) for name, op in _OPERATIONS.items()}


def _serialization_error(message: str) -> web.Response:
    return reply(
        {"__type": "com.amazon.coral.service#SerializationException", "message": message}, 400
    )
