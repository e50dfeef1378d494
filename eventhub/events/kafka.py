"""Kafka event (Amazon MSK and self-managed Apache Kafka event source mappings)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventhub.events._common import b64


def signed_bytes(value: bytes) -> list[int]:
    """``value`` as Java signed bytes (-128..127), the way Lambda writes Kafka header values."""
    return memoryview(value).cast("b").tolist()


def kafka_record(
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    timestamp_type: str,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
) -> dict[str, Any]:
    """One Kafka record as Lambda delivers it.

    ``key`` and ``value`` are base64 (``null`` when the record has none: a missing key or a
    tombstone); ``headers`` become a list of single-key objects in order, duplicates kept, each
    value an array of signed bytes. ``timestamp_type`` is ``CREATE_TIME`` or ``LOG_APPEND_TIME``.
    """
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp_ms,
        "timestampType": timestamp_type,
        "key": None if key is None else b64(key),
        "value": None if value is None else b64(value),
        "headers": [{name: signed_bytes(raw)} for name, raw in headers],
    }


def kafka_event(
    records: Iterable[dict[str, Any]],
    *,
    bootstrap_servers: str,
    event_source_arn: str | None = None,
) -> dict[str, Any]:
    """The Kafka event: ``records`` grouped under ``"<topic>-<partition>"`` keeping their order.

    Without ``event_source_arn`` the event is self-managed (``eventSource: SelfManagedKafka``,
    no ARN key); with it, MSK (``eventSource: aws:kafka`` and ``eventSourceArn``).
    ``bootstrap_servers`` is the comma-separated ``host:port`` list.
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        key = f"{record['topic']}-{record['partition']}"
        bucket = grouped.get(key)
        if bucket is None:
            grouped[key] = [record]
        else:
            bucket.append(record)
    if event_source_arn is None:
        return {
            "eventSource": "SelfManagedKafka",
            "bootstrapServers": bootstrap_servers,
            "records": grouped,
        }
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": event_source_arn,
        "bootstrapServers": bootstrap_servers,
        "records": grouped,
    }


def msk_cluster_arn(region: str, account: str, name: str, uuid: str) -> str:
    """``arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>``."""
    return f"arn:aws:kafka:{region}:{account}:cluster/{name}/{uuid}"
