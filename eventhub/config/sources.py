"""Models of the ``sources:`` entries: one per source type, selected by ``type``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from eventhub.config.base import Model, ValueErrorAt, pattern
from eventhub.config.destinations import DestinationURI
from eventhub.config.models import Name


def _compiles(value: dict[str, Any]) -> dict[str, Any]:
    from eventhub.mapping.filters import compile_pattern  # noqa: PLC0415 - keeps config light

    compile_pattern(value)  # raises ValueError naming the bad key of the pattern
    return value


FilterPattern = Annotated[dict[str, Any], AfterValidator(_compiles)]


class SourceBase(Model):
    """Keys every source has."""

    function: Name = Field(description="Name of the function this source invokes.")
    enabled: bool = Field(True, description="A disabled source does not poll or listen.")
    description: str = Field("", description="Free text shown by `eventhub status`.")


class MappingBase(SourceBase):
    """Keys every event source mapping (stream and queue sources) has."""

    batch_window: float = Field(
        0,
        ge=0,
        le=300,
        description="Seconds to gather records before invoking (MaximumBatchingWindowInSeconds).",
    )
    filters: list[FilterPattern] = Field(
        default_factory=list,
        max_length=5,
        description="Event patterns (EventBridge syntax); a record is processed if any matches.",
    )
    report_batch_item_failures: bool = Field(
        False,
        description='Honour `{"batchItemFailures": [...]}` responses (ReportBatchItemFailures).',
    )


class StreamMappingBase(MappingBase):
    """Keys of ordered-shard mappings (embedded stream and Kafka)."""

    batch_size: int = Field(100, ge=1, le=10000, description="Most records per invocation.")
    starting_position: Literal["trim_horizon", "latest", "at_timestamp"] = Field(
        "trim_horizon",
        description="Where a mapping with no checkpoint starts reading.",
    )
    starting_timestamp: datetime | None = Field(
        None,
        description="With `at_timestamp`: the first arrival time to read (ISO 8601; UTC when "
        "it names no zone).",
    )
    parallelization_factor: int = Field(
        1, ge=1, le=10, description="Concurrent batches per shard; order is kept per partition key."
    )
    max_retry_attempts: int = Field(
        -1, ge=-1, le=10000, description="Retries of a failing batch; -1 retries until it succeeds."
    )
    max_record_age: int = Field(
        -1,
        description="Seconds after which records are given up on; -1 (forever) or 60..604800.",
    )
    bisect_on_error: bool = Field(
        False, description="Split a failing batch in two and retry the halves."
    )
    on_failure: DestinationURI | None = Field(
        None, description="Destination of the batch-info record of records given up on."
    )
    tumbling_window: int = Field(
        0,
        ge=0,
        le=900,
        description="Seconds of a tumbling window whose state is carried (0 = off).",
    )
    retry_base_delay: float = Field(
        0.5,
        ge=0,
        le=60,
        description="Seconds before the first retry of a failing batch; each later retry waits "
        "twice as long, up to retry_max_delay.",
    )
    retry_max_delay: float = Field(
        30, ge=0, le=900, description="Longest wait between retries of a failing batch."
    )

    @field_validator("starting_timestamp")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # Arrival times are aware; a naive one would fail to compare at run time.
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value is not None and value > datetime.now(UTC):
            raise ValueError("must not be in the future (as Lambda requires)")
        return value

    @field_validator("max_record_age")
    @classmethod
    def _record_age(cls, value: int) -> int:
        if value != -1 and not 60 <= value <= 604800:
            raise ValueError("must be -1 or between 60 and 604800")
        return value

    @model_validator(mode="after")
    def _timestamp_given(self) -> StreamMappingBase:
        if self.starting_position == "at_timestamp" and self.starting_timestamp is None:
            raise ValueErrorAt(
                "at_timestamp needs starting_timestamp (an ISO 8601 date-time)",
                ("starting_position",),
            )
        if self.starting_timestamp is not None and self.starting_position != "at_timestamp":
            raise ValueErrorAt(
                "is only used with starting_position: at_timestamp", ("starting_timestamp",)
            )
        if self.tumbling_window and self.parallelization_factor > 1:
            raise ValueErrorAt(
                "needs parallelization_factor 1 (window state is per shard)", ("tumbling_window",)
            )
        return self


class StreamSourceConfig(StreamMappingBase):
    """Reads an embedded Kinesis-like stream (`streams:`)."""

    type: Literal["stream"] = Field(description="Source kind.")
    stream: Name = Field(description="Name of the embedded stream.")
    event_format: Literal["kinesis", "kafka"] = Field(
        "kinesis", description="Shape of the event the handler gets."
    )


_TOPIC = pattern(
    r"^[A-Za-z0-9._-]{1,249}$", "a topic name: 1 to 249 letters, digits, `.`, `_` or `-`"
)


class KafkaSourceConfig(StreamMappingBase):
    """Reads Kafka topics as a consumer group (partition = shard)."""

    type: Literal["kafka"] = Field(description="Source kind.")
    connection: Name = Field(description="Name of a `kafka` connection.")
    topics: list[Annotated[str, Field(pattern=_TOPIC)]] = Field(
        min_length=1, description="Topics to consume."
    )
    group_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Consumer group id; default `eventhub-<source name>`.",
    )
    event_format: Literal["kafka", "kinesis"] = Field(
        "kafka", description="Shape of the event the handler gets (self-managed Kafka or Kinesis)."
    )
    session_timeout: float = Field(
        10,
        ge=1,
        le=300,
        description="Seconds without heartbeats after which the group gives this hub's "
        "partitions to the others (a killed hub's partitions move after this).",
    )
    fetch_max_wait_ms: int = Field(
        10,
        ge=0,
        le=5000,
        description="Longest a fetch waits on the broker for records. Low values keep pickup "
        "latency low on brokers that answer fetches only at this deadline (Tansu).",
    )


class QueueMappingBase(MappingBase):
    """Keys of unordered (or FIFO-grouped) queue mappings."""

    batch_size: int = Field(10, ge=1, le=10000, description="Most messages per invocation.")
    max_concurrency: int = Field(
        5, ge=2, le=1000, description="Batches in flight at once for this mapping."
    )


class QueueSourceConfig(QueueMappingBase):
    """Reads an embedded SQS-like queue (`queues:`)."""

    type: Literal["queue"] = Field(description="Source kind.")
    queue: Name = Field(description="Name of the embedded queue.")
    event_format: Literal["sqs"] = Field("sqs", description="Shape of the event (SQS).")


class RabbitMQDeclare(Model):
    """Declare the source queue (and its dead-letter exchange) when the source starts."""

    queue_type: Literal["quorum", "classic"] = Field(
        "quorum",
        description="Quorum queues count deliveries on the broker (`x-delivery-limit`); "
        "classic queues only flag redeliveries, so eventhub counts them in memory.",
    )
    durable: bool = Field(True, description="Survive broker restarts (quorum queues always do).")
    dead_letter_exchange: str | None = Field(
        None,
        description="Exchange dead letters go to, declared as fanout with a queue bound; "
        "default `<queue>.dlx` when max_receive_count is set, else no dead-lettering.",
    )
    dead_letter_queue: str | None = Field(
        None, description="Queue bound to the dead-letter exchange (default `<queue>.dlq`)."
    )

    @model_validator(mode="after")
    def _quorum_durable(self) -> RabbitMQDeclare:
        if self.queue_type == "quorum" and not self.durable:
            raise ValueError("a quorum queue is always durable; drop `durable: false`")
        return self


class RabbitMQSourceConfig(QueueMappingBase):
    """Consumes a RabbitMQ queue."""

    type: Literal["rabbitmq"] = Field(description="Source kind.")
    connection: Name = Field(description="Name of a `rabbitmq` connection.")
    queue: Annotated[str, Field(min_length=1, max_length=255)] = Field(
        description="Queue to consume."
    )
    max_receive_count: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Deliveries after which a failing message is dead-lettered (null: retry "
        "until it succeeds, as Lambda does for Amazon MQ).",
    )
    dead_letter: DestinationURI | None = Field(
        None,
        description="Where messages over max_receive_count go (then acknowledged). Without "
        "it they are rejected, and the queue's dead-letter exchange takes them (or the "
        "broker drops them when the queue has none).",
    )
    declare: RabbitMQDeclare | None = Field(None, description="Declare the queue on start.")
    event_format: Literal["rmq", "sqs"] = Field(
        "rmq", description="Shape of the event (Amazon MQ RabbitMQ, or SQS)."
    )


_INVOKE_API = "/2015-03-31/"  # the hub's own API on the same listener
_ROUTE = re.compile(r"^(?P<method>ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (?P<path>/[^\s?#]*)$")


class HttpAuth(Model):
    """Bearer tokens accepted by an HTTP route."""

    tokens: list[SecretStr] = Field(min_length=1, description="Accepted bearer tokens.")


class HttpCors(Model):
    """CORS answer of an HTTP route (as API Gateway HTTP APIs configure it)."""

    allow_origins: list[str] = Field(default_factory=list, description="Allowed origins or `*`.")
    allow_methods: list[str] = Field(default_factory=list, description="Allowed methods or `*`.")
    allow_headers: list[str] = Field(default_factory=list, description="Allowed request headers.")
    expose_headers: list[str] = Field(default_factory=list, description="Headers exposed to JS.")
    max_age: int | None = Field(None, ge=0, le=86400, description="Preflight cache seconds.")
    allow_credentials: bool = Field(False, description="Send Access-Control-Allow-Credentials.")


class HttpSourceConfig(SourceBase):
    """An HTTP route on `hub.listen` that invokes the function synchronously (API Gateway)."""

    type: Literal["http"] = Field(description="Source kind.")
    route: str = Field(
        description="`METHOD /path` with `{param}` and a final `{name+}` greedy parameter; "
        "METHOD may be ANY. `$default` catches requests no other route matches."
    )
    payload_format: Literal["1.0", "2.0"] = Field(
        "2.0", description="API Gateway proxy payload format version."
    )
    auth: HttpAuth | None = Field(None, description="Bearer-token auth (401 / 403).")
    cors: HttpCors | None = Field(None, description="CORS settings.")

    @field_validator("route")
    @classmethod
    def _route(cls, value: str) -> str:
        if value == "$default":
            return value
        match = _ROUTE.match(value)
        if not match:
            raise ValueError("must be `METHOD /path` (METHOD one of ANY, GET, POST, PUT, ...)")
        path = match.group("path")
        if path.startswith(_INVOKE_API):
            raise ValueError(f"paths under {_INVOKE_API} belong to the Lambda Invoke API")
        segments = path.split("/")[1:]
        if path != "/" and "" in segments:
            raise ValueError("the path has an empty segment (`//` or a trailing `/`)")
        names: set[str] = set()
        for index, segment in enumerate(segments):
            if "{" in segment or "}" in segment:
                if not re.fullmatch(r"\{[A-Za-z0-9_.-]+\+?\}", segment):
                    raise ValueError(f"path segment {segment!r} must be a whole {{param}}")
                if segment.endswith("+}") and index != len(segments) - 1:
                    raise ValueError("a greedy {param+} must be the last path segment")
                name = segment.strip("{}+")
                if name in names:
                    raise ValueError(f"the path parameter {name!r} appears twice")
                names.add(name)
        return value


_BUCKET = pattern(
    r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    "a bucket name: 3 to 63 lowercase letters, digits, `.` or `-`, starting and ending with a "
    "letter or digit",
)


class FilesSourceConfig(SourceBase):
    """A directory watched as an S3 bucket; changes become S3 event notifications (async)."""

    type: Literal["files"] = Field(description="Source kind.")
    root: str = Field(
        description="Directory holding the bucket directory; relative to the config. When it "
        "already ends in the bucket's name it is the bucket directory itself, so "
        "`root: buckets, bucket: uploads` and `root: buckets/uploads, bucket: uploads` both "
        "watch `buckets/uploads`."
    )
    bucket: Annotated[str, Field(pattern=_BUCKET)] = Field(
        description="Bucket name (in ARNs and events) and the directory `root/bucket`."
    )

    def bucket_directory(self, root: Path) -> Path:
        """The directory watched, given ``root`` resolved against the config file."""
        return root if root.name == self.bucket else root / self.bucket

    events: list[str] = Field(
        default_factory=lambda: ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
        min_length=1,
        description="S3 event types to announce: `s3:ObjectCreated:*`, `s3:ObjectCreated:Put`, "
        "`s3:ObjectCreated:Copy`, `s3:ObjectRemoved:*` or `s3:ObjectRemoved:Delete`.",
    )
    prefix: str = Field("", description="Only keys starting with this (S3 filter rule).")
    suffix: str = Field("", description="Only keys ending with this (S3 filter rule).")
    ignore: list[str] = Field(
        default_factory=lambda: [".*", "*~", "*.tmp", "*.swp", "*.part", "*.crdownload"],
        description="Glob patterns of file names never announced (temporary files).",
    )
    settle: float = Field(
        0.05,
        ge=0,
        le=60,
        description="Seconds a file's size must stay unchanged before announcing.",
    )
    configuration_id: str = Field(
        "eventhub", description="`s3.configurationId` of the events (the notification id)."
    )

    @field_validator("events")
    @classmethod
    def _event_names(cls, events: list[str]) -> list[str]:
        allowed = {
            "s3:ObjectCreated:*",
            "s3:ObjectCreated:Put",
            "s3:ObjectCreated:Copy",
            "s3:ObjectRemoved:*",
            "s3:ObjectRemoved:Delete",
        }
        for event in events:
            if event not in allowed:
                raise ValueError(f"{event!r} is not one of {', '.join(sorted(allowed))}")
        return events


class ScheduleSourceConfig(SourceBase):
    """Fires the function asynchronously on a rate, cron or one-time schedule."""

    type: Literal["schedule"] = Field(description="Source kind.")
    expression: str = Field(
        description="`rate(5 minutes)`, `cron(0 12 * * ? *)` (EventBridge), a five-field crontab "
        "line, or `at(2026-12-01T10:00:00)`."
    )
    timezone: str = Field("UTC", description="IANA time zone of cron and at expressions.")
    input: Any = Field(
        None, description="A fixed event (any JSON); default the EventBridge Scheduled Event."
    )
    catch_up: bool = Field(False, description="After downtime, fire one missed run at start-up.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @field_validator("expression")
    @classmethod
    def _syntax(cls, value: str) -> str:
        # In UTC, every wall time exists: this checks the form alone, so a bad expression
        # is reported together with a bad timezone (the model check needs both valid).
        from connectors.schedule_expressions import parse_schedule  # noqa: PLC0415 - croniter

        parse_schedule(value, "UTC")
        return value

    @model_validator(mode="after")
    def _expression(self) -> ScheduleSourceConfig:
        # In the first pass, so a bad expression shows up with every other problem.
        from connectors.schedule_expressions import parse_schedule  # noqa: PLC0415 - croniter

        try:
            parse_schedule(self.expression, self.timezone)
        except ValueError as exc:
            raise ValueErrorAt(str(exc), ("expression",)) from None
        return self


SourceConfig = Annotated[
    StreamSourceConfig
    | KafkaSourceConfig
    | QueueSourceConfig
    | RabbitMQSourceConfig
    | HttpSourceConfig
    | FilesSourceConfig
    | ScheduleSourceConfig,
    Field(discriminator="type"),
]
