"""``eventhub put STREAM --key K DATA``: put a record into an embedded stream.

It calls the daemon's Kinesis API (``PutRecord`` on ``hub.listen``), exactly as boto3
would, and prints the shard and sequence number AWS would return.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import uuid

from eventhub.cli.common import CONFIG_HELP, CliError, base_url, load_client
from eventhub.cli.http import aws_json


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "put",
        help="put a record into an embedded stream (through the running daemon)",
        description="Put one record into an embedded stream, like `aws kinesis put-record`.",
    )
    parser.add_argument("stream", help="stream name (under `streams:`)")
    parser.add_argument("data", help="the record's data: text, @FILE to read a file, - for stdin")
    parser.add_argument(
        "--key", help="partition key: picks the shard, keeps order per key (default: random)"
    )
    parser.add_argument(
        "--explicit-hash-key", help="decimal 128-bit hash key that overrides the key's hash"
    )
    parser.add_argument("-c", "--config", help=CONFIG_HELP)
    parser.set_defaults(command=run)


def read_data(spec: str) -> bytes:
    """Text, ``@file`` or ``-`` (stdin), as bytes."""
    if spec == "-":
        return sys.stdin.buffer.read()
    if spec.startswith("@"):
        try:
            with open(spec[1:], "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise CliError(f"cannot read data file: {exc}") from None
    return spec.encode()


def run(args: argparse.Namespace) -> int:
    hub = load_client(args.config)
    key = args.key if args.key is not None else str(uuid.uuid4())
    payload = {
        "StreamName": args.stream,
        "PartitionKey": key,
        "Data": base64.b64encode(read_data(args.data)).decode("ascii"),
    }
    if args.explicit_hash_key is not None:
        payload["ExplicitHashKey"] = args.explicit_hash_key
    reply = aws_json(base_url(hub.listen), "Kinesis_20131202.PutRecord", payload)
    print(json.dumps({"ShardId": reply["ShardId"], "SequenceNumber": reply["SequenceNumber"]}))
    return 0
