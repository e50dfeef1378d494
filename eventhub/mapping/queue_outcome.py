"""What a finished invocation means for each message of its batch (pure functions).

Lambda's rules for queues: an error (exception, timeout) fails the whole batch; with
``report_batch_item_failures`` only the listed ``messageId``s fail and the others are
deleted, while a malformed response (an identifier missing, empty or not in the batch)
fails the whole batch. For FIFO queues a failed message also fails every later message of
its group in the batch, so a group is retried in order (Lambda asks handlers to report
those themselves; we make it impossible to get wrong).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eventhub.mapping.partial import MalformedPartialResponse, failed_items, identifier_key
from eventhub.mapping.queue_format import QueueEventFormat
from eventhub.runtime.result import InvocationResult
from eventhub.sources import QueueMessage


@dataclass(slots=True)
class Verdict:
    """The batch split by outcome; ``reason`` says why anything failed. ``exhausted``
    failures cannot succeed on a retry and go straight to the dead letter."""

    succeeded: list[QueueMessage] = field(default_factory=list)
    failed: list[QueueMessage] = field(default_factory=list)
    reason: str | None = None
    exhausted: bool = False


def judge(
    result: InvocationResult,
    messages: Sequence[QueueMessage],
    fmt: QueueEventFormat,
    *,
    report_failures: bool,
    fifo: bool,
) -> Verdict:
    """Split ``messages`` (the invoked batch, in order) into succeeded and failed."""
    if not result.ok:
        return Verdict([], list(messages), f"function error: {describe_error(result)}")
    if not report_failures:
        return Verdict(list(messages), [], None)
    identifiers = [fmt.identifier(m) for m in messages]
    keys = {identifier_key(i) for i in identifiers if i is not None}
    try:
        reported = failed_items(result.value, keys)
    except MalformedPartialResponse as exc:
        return Verdict([], list(messages), f"malformed partial batch response: {exc}")
    if not reported:
        return Verdict(list(messages), [], None)
    failing = {identifier_key(i) for i in reported}
    verdict = Verdict(reason=f"{len(failing)} item(s) reported failed")
    blocked: set[str | None] = set()
    for message, identifier in zip(messages, identifiers, strict=True):
        failed = identifier is not None and identifier_key(identifier) in failing
        if fifo and message.group_id in blocked:
            failed = True
        if failed:
            verdict.failed.append(message)
            if fifo:
                blocked.add(message.group_id)
        else:
            verdict.succeeded.append(message)
    return verdict


def describe_error(result: InvocationResult, limit: int = 300) -> str:
    """``errorType: errorMessage`` of a failed invocation, shortened for logs and status."""
    error = result.error_type or result.outcome.value
    message = result.value.get("errorMessage") if isinstance(result.value, dict) else None
    text = f"{error}: {message}" if isinstance(message, str) and message else error
    return text if len(text) <= limit else text[: limit - 3] + "..."


def split_exhausted(
    failed: Sequence[QueueMessage], max_receive_count: int | None
) -> tuple[list[QueueMessage], list[QueueMessage]]:
    """``(retry, dead_letter)``: messages received ``max_receive_count`` times go to the dead
    letter; the others come back for another try. None: retry forever (or the queue's own
    redrive policy decides, as for the embedded queue)."""
    if max_receive_count is None:
        return list(failed), []
    retry: list[QueueMessage] = []
    dead: list[QueueMessage] = []
    for message in failed:
        (dead if message.receive_count >= max_receive_count else retry).append(message)
    return retry, dead


def retry_backoff(receive_count: int, base: float = 0.1, cap: float = 5.0) -> float:
    """Seconds to hold a failed message before a broker that redelivers at once gets it back."""
    return float(min(cap, base * 2 ** max(0, receive_count - 1)))
