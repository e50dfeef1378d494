"""Realistic sample events, like ``sam local generate-event``, built with the real builders.

``generate(kind, **options)`` returns a fresh event (random ids, current time); ``OPTIONS``
lists each kind's options with help text so the CLI can expose them. Option values may be
strings (as the CLI passes them) or already-typed values.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from eventhub.events import apigw, kafka, kinesis, rmq, s3, scheduled, sqs

KINDS = (
    "sqs",
    "kinesis",
    "kafka",
    "rmq",
    "s3-put",
    "s3-delete",
    "scheduled",
    "apigw-v1",
    "apigw-v2",
)

_HTTP_OPTIONS = {
    "method": "HTTP method (default: GET, or POST when a body is given)",
    "path": "request path, may include ?query (default: /items/42)",
    "body": "request body, sent as application/json (default: none)",
    "route": "the route as in the config (`GET /items/{id}`, `$default`) or just its path; "
    "path parameters are taken from --path",
}
OPTIONS: dict[str, dict[str, str]] = {
    "sqs": {
        "body": 'message body (default: {"message": "hello from eventhub"})',
        "queue": "queue name (default: eventhub-queue)",
        "count": "number of records (default: 1)",
    },
    "kinesis": {
        "data": 'record data (default: {"message": "hello from eventhub"})',
        "partition_key": "partition key (default: partition-1)",
        "stream": "stream name (default: eventhub-stream)",
        "count": "number of records (default: 1)",
    },
    "kafka": {
        "topic": "topic (default: eventhub-topic)",
        "partition": "partition number (default: 0)",
        "key": "record key (default: key-1)",
        "value": 'record value (default: {"message": "hello from eventhub"})',
        "count": "number of records (default: 1)",
    },
    "rmq": {
        "queue": "queue name (default: eventhub-queue)",
        "vhost": "virtual host (default: /)",
        "body": 'message body (default: {"message": "hello from eventhub"})',
    },
    "s3-put": {
        "bucket": "bucket name (default: eventhub-bucket)",
        "key": "object key, raw (default: uploads/hello world.txt)",
        "size": "object size in bytes (default: 1024)",
    },
    "s3-delete": {
        "bucket": "bucket name (default: eventhub-bucket)",
        "key": "object key, raw (default: uploads/hello world.txt)",
    },
    "scheduled": {"rule": "rule name (default: eventhub-schedule)"},
    "apigw-v1": dict(_HTTP_OPTIONS),
    "apigw-v2": dict(_HTTP_OPTIONS),
}

_DEFAULT_BODY = '{"message": "hello from eventhub"}'
_PRINCIPAL = "AIDAJDPLRKLG7UEXAMPLE"


def _int(options: Mapping[str, Any], name: str, default: int, minimum: int = 0) -> int:
    value = options.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"option {name!r} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"option {name!r} must be at least {minimum}, got {number}")
    return number


def _str(options: Mapping[str, Any], name: str, default: str) -> str:
    return str(options.get(name, default))


def _sqs(region: str, account: str, options: Mapping[str, Any]) -> dict[str, Any]:
    arn = sqs.queue_arn(region, account, _str(options, "queue", "eventhub-queue"))
    body = _str(options, "body", _DEFAULT_BODY)
    sent = str(int(time.time() * 1000))
    return sqs.sqs_event(
        sqs.sqs_record(
            message_id=str(uuid.uuid4()),
            receipt_handle=secrets.token_urlsafe(96),
            body=body,
            attributes={
                "ApproximateReceiveCount": "1",
                "SentTimestamp": sent,
                "SenderId": _PRINCIPAL,
                "ApproximateFirstReceiveTimestamp": sent,
            },
            message_attributes={},
            queue_arn=arn,
            region=region,
        )
        for _ in range(_int(options, "count", 1, minimum=1))
    )


def _kinesis(region: str, account: str, options: Mapping[str, Any]) -> dict[str, Any]:
    arn = kinesis.stream_arn(region, account, _str(options, "stream", "eventhub-stream"))
    data = _str(options, "data", _DEFAULT_BODY).encode()
    key = _str(options, "partition_key", "partition-1")
    first = 49590338271490256608559692538361571095921575989136588898
    now = time.time()
    role = f"arn:aws:iam::{account}:role/eventhub-lambda-role"
    return kinesis.kinesis_event(
        kinesis.kinesis_record(
            shard_id=kinesis.shard_id(0),
            sequence_number=str(first + i),
            partition_key=key,
            data=data,
            arrival=now,
            stream_arn=arn,
            region=region,
            invoke_identity_arn=role,
        )
        for i in range(_int(options, "count", 1, minimum=1))
    )


def _kafka(region: str, account: str, options: Mapping[str, Any]) -> dict[str, Any]:
    del region, account  # self-managed: no ARN
    topic = _str(options, "topic", "eventhub-topic")
    partition = _int(options, "partition", 0)
    key = _str(options, "key", "key-1").encode()
    value = _str(options, "value", _DEFAULT_BODY).encode()
    now_ms = int(time.time() * 1000)
    records = [
        kafka.kafka_record(
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp_ms=now_ms,
            timestamp_type="CREATE_TIME",
            key=key,
            value=value,
            headers=[("source", b"eventhub")],
        )
        for offset in range(_int(options, "count", 1, minimum=1))
    ]
    return kafka.kafka_event(records, bootstrap_servers="localhost:9092")


def _rmq(region: str, account: str, options: Mapping[str, Any]) -> dict[str, Any]:
    body = _str(options, "body", _DEFAULT_BODY).encode()
    properties = {
        "content_type": "application/json",
        "headers": {"source": "eventhub", "attempt": 1},
        "delivery_mode": 2,
        "priority": 0,
        "timestamp": datetime.now(UTC),
        "user_id": "eventhub",
    }
    message = rmq.rmq_message(body=body, properties=properties, redelivered=False)
    return rmq.rmq_event(
        [message],
        queue=_str(options, "queue", "eventhub-queue"),
        vhost=_str(options, "vhost", "/"),
        broker_arn=rmq.broker_arn(region, account, "eventhub", f"b-{uuid.uuid4()}"),
    )


def _s3(event_name: str, region: str, account: str, options: Mapping[str, Any]) -> dict[str, Any]:
    key = _str(options, "key", "uploads/hello world.txt")
    created = event_name.startswith("ObjectCreated")
    record = s3.s3_record(
        event_name=event_name,
        bucket=_str(options, "bucket", "eventhub-bucket"),
        key=key,
        size=_int(options, "size", 1024) if created else None,
        etag=hashlib.md5(key.encode(), usedforsecurity=False).hexdigest() if created else None,
        sequencer=s3.sequencer(time.time_ns() // 1000),
        event_time=datetime.now(UTC),
        region=region,
        principal_id=f"AWS:{_PRINCIPAL}",
        owner_id=account,
        configuration_id="eventhub-notification",
        request_id=secrets.token_hex(8).upper(),
    )
    return s3.s3_event([record])


def _scheduled(region: str, account: str, options: Mapping[str, Any]) -> dict[str, Any]:
    return scheduled.scheduled_event(
        rule_arn=scheduled.rule_arn(region, account, _str(options, "rule", "eventhub-schedule")),
        time=datetime.now(UTC),
        region=region,
        account=account,
        event_id=str(uuid.uuid4()),
    )


def match_route(route: str, path: str) -> dict[str, str] | None:
    """Path parameters of ``path`` under the route template ``route``, or ``None`` if it does
    not match. ``{name}`` takes one segment; a final ``{name+}`` takes the (non-empty) rest.
    """
    pattern = route.strip("/").split("/") if route.strip("/") else []
    segments = path.strip("/").split("/") if path.strip("/") else []
    params: dict[str, str] = {}
    for index, part in enumerate(pattern):
        greedy = part.startswith("{") and part.endswith("+}")
        if greedy and index == len(pattern) - 1 and len(segments) > index:
            params[part[1:-2]] = "/".join(segments[index:])
            return params
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    return params if len(segments) == len(pattern) else None


def _split_route(route: str | None) -> tuple[str | None, str | None]:
    """(method, path template) of ``METHOD /path``, ``/path`` or ``$default`` (None, None)."""
    if not route or route == "$default":
        return None, None
    method, sep, template = route.partition(" ")
    if sep:
        return method.upper(), template.strip()
    return None, route


def _http_request(region: str, options: Mapping[str, Any], route: str | None) -> apigw.HttpRequest:
    """The sample request; ``route`` ``None`` or ``$default`` means the ``$default`` route
    (no parameters); otherwise ``METHOD /path`` as in the config, or just ``/path``."""
    body = _str(options, "body", "")
    route_method, template = _split_route(route)
    default_method = route_method if route_method not in (None, "ANY") else None
    method = _str(options, "method", default_method or ("POST" if body else "GET")).upper()
    raw_path, _, raw_query = _str(options, "path", "/items/42").partition("?")
    if not raw_path.startswith("/"):
        raise ValueError(f"path {raw_path!r} must start with /")
    params = None if template is None else match_route(template, raw_path)
    if template is not None and params is None:
        raise ValueError(f"path {raw_path!r} does not match route {template!r}")
    api_id = secrets.token_hex(5)
    domain = f"{api_id}.execute-api.{region}.amazonaws.com"
    headers = [("Accept", "*/*"), ("Host", domain), ("User-Agent", "eventhub-sample/1.0")]
    if body:
        headers.append(("Content-Type", "application/json"))
    headers.append(("X-Forwarded-For", "203.0.113.7"))
    return apigw.HttpRequest(
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers,
        body=body.encode("utf-8", "surrogateescape"),  # bytes a shell argument carried
        source_ip="203.0.113.7",
        route_key="$default" if template is None else f"{route_method or method} {template}",
        resource="/{proxy+}" if template is None else template,
        path_parameters=params or None,
        request_id=str(uuid.uuid4()),
        time=datetime.now(UTC),
        domain_name=domain,
        api_id=api_id,
    )


def _apigw_v1(region: str, account: str, options: Mapping[str, Any]) -> dict[str, Any]:
    path = _str(options, "path", "/items/42").partition("?")[0]
    route = _str(options, "route", "/{proxy+}" if path.strip("/") else "/")
    return apigw.v1_event(_http_request(region, options, route), account_id=account)


def _apigw_v2(region: str, account: str, options: Mapping[str, Any]) -> dict[str, Any]:
    route = _str(options, "route", "") or None
    return apigw.v2_event(_http_request(region, options, route), account_id=account)


_GENERATORS: dict[str, Callable[[str, str, Mapping[str, Any]], dict[str, Any]]] = {
    "sqs": _sqs,
    "kinesis": _kinesis,
    "kafka": _kafka,
    "rmq": _rmq,
    "s3-put": lambda r, a, o: _s3("ObjectCreated:Put", r, a, o),
    "s3-delete": lambda r, a, o: _s3("ObjectRemoved:Delete", r, a, o),
    "scheduled": _scheduled,
    "apigw-v1": _apigw_v1,
    "apigw-v2": _apigw_v2,
}


def generate(
    kind: str, *, region: str = "us-east-1", account_id: str = "000000000000", **options: Any
) -> dict[str, Any]:
    """A fresh sample event of ``kind`` (one of :data:`KINDS`), built with eventhub's builders.

    ``options`` are the kind's entries in :data:`OPTIONS`. Raises ``ValueError`` for an unknown
    kind, an unknown option or a bad option value.
    """
    if kind not in _GENERATORS:
        raise ValueError(f"unknown event kind {kind!r}; choose one of: {', '.join(KINDS)}")
    unknown = sorted(set(options) - set(OPTIONS[kind]))
    if unknown:
        valid = ", ".join(OPTIONS[kind]) or "none"
        raise ValueError(f"unknown option(s) for {kind}: {', '.join(unknown)} (valid: {valid})")
    return _GENERATORS[kind](region, account_id, options)
