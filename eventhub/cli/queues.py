"""``eventhub send QUEUE BODY`` and ``eventhub redrive DLQ --to QUEUE``: the embedded queues
through the daemon's SQS API (the same requests boto3 sends)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from eventhub.cli.common import CONFIG_HELP, CliError, base_url, load_client
from eventhub.cli.http import aws_json
from eventhub.config.models import HubConfig
from eventhub.events.sqs import queue_arn


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``send`` and ``redrive``."""
    send = sub.add_parser(
        "send",
        help="send a message to an embedded queue",
        description="Send one message to an embedded queue of the running daemon "
        "(SQS SendMessage). Prints the message id.",
    )
    send.add_argument("queue", help="queue name")
    send.add_argument("body", help="message body, @FILE to read a file, or - for stdin")
    _config(send)
    send.add_argument("--group-id", help="MessageGroupId (FIFO queues)")
    send.add_argument("--dedup-id", help="MessageDeduplicationId (FIFO queues)")
    send.add_argument("--delay", type=int, help="DelaySeconds (standard queues, 0..900)")
    send.add_argument(
        "--attribute",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a String message attribute (repeatable)",
    )
    send.set_defaults(command=run_send)
    redrive = sub.add_parser(
        "redrive",
        help="move messages from a dead-letter queue back",
        description="Move every message that is not in flight from a dead-letter queue to "
        "QUEUE, or with no --to back to the queue each was dead-lettered from "
        "(SQS StartMessageMoveTask).",
    )
    redrive.add_argument("dlq", help="dead-letter queue name")
    redrive.add_argument("--to", dest="to", help="destination queue (default: the source queues)")
    _config(redrive)
    redrive.set_defaults(command=run_redrive)


def _config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", help=CONFIG_HELP)


def _endpoint(hub: HubConfig) -> str:
    return base_url(hub.listen) + "/"


def _queue_url(hub: HubConfig, name: str) -> str:
    return f"{base_url(hub.listen)}/{hub.account_id}/{name}"


def _read_body(spec: str) -> str:
    if spec == "-":
        return sys.stdin.read()
    if spec.startswith("@"):
        try:
            with open(spec[1:], encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read message body: {exc}") from None
    return spec


def _sqs(hub: HubConfig, operation: str, payload: dict[str, Any]) -> Any:
    try:
        return aws_json(_endpoint(hub), f"AmazonSQS.{operation}", payload, version="1.0")
    except CliError as exc:  # "com.amazonaws.sqs#MissingParameter: ..." reads as the error
        text = str(exc).split("#", 1)[-1] if str(exc).startswith("com.amazonaws.sqs#") else str(exc)
        if "MessageGroupId" in text:
            text += " (give it with --group-id)"
        raise CliError(text) from None


def run_send(args: argparse.Namespace) -> int:
    hub = load_client(args.config)
    payload: dict[str, Any] = {
        "QueueUrl": _queue_url(hub, args.queue),
        "MessageBody": _read_body(args.body),
    }
    if args.group_id is not None:
        payload["MessageGroupId"] = args.group_id
    if args.dedup_id is not None:
        payload["MessageDeduplicationId"] = args.dedup_id
    if args.delay is not None:
        payload["DelaySeconds"] = args.delay
    attributes = {}
    for item in args.attribute:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"--attribute {item!r}: expected NAME=VALUE")
        attributes[name] = {"DataType": "String", "StringValue": value}
    if attributes:
        payload["MessageAttributes"] = attributes
    result = _sqs(hub, "SendMessage", payload)
    print(result["MessageId"])
    return 0


def run_redrive(args: argparse.Namespace) -> int:
    hub = load_client(args.config)
    payload = {"SourceArn": queue_arn(hub.region, hub.account_id, args.dlq)}
    if args.to is not None:
        payload["DestinationArn"] = queue_arn(hub.region, hub.account_id, args.to)
    _sqs(hub, "StartMessageMoveTask", payload)
    tasks = _sqs(hub, "ListMessageMoveTasks", {"SourceArn": payload["SourceArn"]})
    task = tasks["Results"][0]
    target = args.to or "their source queues"
    print(
        f"moved {task['ApproximateNumberOfMessagesMoved']} message(s) from {args.dlq} to {target}"
    )
    if "FailureReason" in task:
        print(task["FailureReason"], file=sys.stderr)
    return 0
