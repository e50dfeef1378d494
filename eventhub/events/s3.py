"""S3 event notification (``{"Records": [...]}``) as S3 sends it to Lambda."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from eventhub.events._common import b64, iso_ms

_NO_SIZE_PREFIXES = ("ObjectRemoved:", "LifecycleExpiration:")


def bucket_arn(bucket: str) -> str:
    """``arn:aws:s3:::<bucket>``."""
    return f"arn:aws:s3:::{bucket}"


def encode_key(key: str) -> str:
    """The object key as S3 writes it in notifications: form-URL-encoded, ``/`` kept.

    ``"uploads/red flower(v2).jpg"`` -> ``"uploads/red+flower%28v2%29.jpg"``; decode with
    ``urllib.parse.unquote_plus``.
    """
    return quote_plus(key, safe="/")


def host_id(request_id: str) -> str:
    """A stable, realistic-looking ``x-amz-id-2`` derived from the request id."""
    return b64(hashlib.sha384(request_id.encode()).digest())


def s3_record(
    *,
    event_name: str,
    bucket: str,
    key: str,
    size: int | None,
    etag: str | None,
    sequencer: str,
    event_time: datetime,
    region: str,
    principal_id: str,
    owner_id: str,
    configuration_id: str,
    request_id: str,
    source_ip: str = "127.0.0.1",
    version_id: str | None = None,
    request_host_id: str | None = None,
) -> dict[str, Any]:
    """One S3 notification record (``eventVersion`` ``2.1``).

    ``event_name`` has no ``s3:`` prefix (``ObjectCreated:Put``). ``key`` is the raw key and is
    URL-encoded here (:func:`encode_key`). ``size`` and ``eTag`` are emitted when given, except
    on ``ObjectRemoved:*``/``LifecycleExpiration:*`` events, which never carry them.
    ``versionId`` is emitted only when given (versioned buckets). ``principal_id`` is the
    requester (``userIdentity.principalId``, e.g. ``AWS:AIDA...``), ``owner_id`` the bucket
    owner's canonical id; ``request_host_id`` (``x-amz-id-2``) defaults to :func:`host_id`.
    """
    obj: dict[str, Any] = {"key": encode_key(key)}
    if not event_name.startswith(_NO_SIZE_PREFIXES):
        if size is not None:
            obj["size"] = size
        if etag is not None:
            obj["eTag"] = etag
    if version_id is not None:
        obj["versionId"] = version_id
    obj["sequencer"] = sequencer
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": iso_ms(event_time),
        "eventName": event_name,
        "userIdentity": {"principalId": principal_id},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {
            "x-amz-request-id": request_id,
            "x-amz-id-2": request_host_id if request_host_id is not None else host_id(request_id),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": owner_id},
                "arn": bucket_arn(bucket),
            },
            "object": obj,
        },
    }


def s3_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``{"Records": [...]}`` (S3 sends one record per notification in practice)."""
    return {"Records": records if isinstance(records, list) else list(records)}


def sequencer(counter: int) -> str:
    """A sequencer value for the ``counter``-th event on a key: 18 upper-case hex digits.

    Later events get greater values, so comparing them as S3 documents (left-pad, then compare
    as strings) orders events for the same key.
    """
    return f"{counter:018X}"
