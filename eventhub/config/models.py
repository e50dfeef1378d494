"""Configuration models for ``hub``, ``connections``, ``streams``, ``queues`` and ``functions``.

Every field carries a ``description``: ``docs/configuration.md`` is generated from them.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from eventhub.config.base import Model, ValueErrorAt, pattern
from eventhub.config.destinations import DestinationURI

NAME_PATTERN = pattern(r"^[A-Za-z0-9_.-]{1,64}$", "1 to 64 letters, digits, `.`, `_` or `-`")
Name = Annotated[str, Field(pattern=NAME_PATTERN)]

_HOSTPORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]*):(?P<port>\d{1,5})$")


def split_hostport(value: str) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 in brackets); raises ValueError when malformed."""
    match = _HOSTPORT.match(value)
    if not match or not 0 <= int(match.group("port")) <= 65535:
        raise ValueError(f"{value!r} must be HOST:PORT with a port 0..65535")
    host = match.group("host").strip("[]") or "0.0.0.0"  # noqa: S104 - ":8080" means all interfaces
    return host, int(match.group("port"))


def _hostport(value: str) -> str:
    split_hostport(value)
    return value


_ENV_NAME = pattern(
    r"^[A-Za-z_][A-Za-z0-9_]*$",
    "an environment variable name (letters, digits and `_`, not starting with a digit)",
)


class TokenConfig(Model):
    """A bearer token allowed to call the Invoke API."""

    secret: SecretStr = Field(
        description="The token; callers send `Authorization: Bearer <secret>`."
    )
    may_invoke: list[str] = Field(
        default_factory=lambda: ["*"],
        description=(
            "Glob patterns of function names this token may invoke (fnmatch syntax). "
            "The same token may read those functions' configuration (GetFunction, "
            "ListFunctions), environment variables included, as Lambda's read APIs show them."
        ),
    )

    @field_validator("secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value


class AuthConfig(Model):
    """Who may call the Invoke API. When absent, anyone who can reach `hub.listen` may.

    The tokens guard the Lambda APIs only. The SQS- and Kinesis-compatible APIs on the same
    listener take no credentials (boto3 signs with SigV4, which the hub does not check):
    keep `hub.listen` on loopback or a private network when those feed your functions."""

    tokens: dict[Name, TokenConfig] = Field(
        default_factory=dict, description="Named bearer tokens and what each may invoke."
    )


class HubConfig(Model):
    """Settings of the daemon itself."""

    listen: str = Field(
        "127.0.0.1:8080",
        description="HOST:PORT of the Invoke API, HTTP routes and the AWS-compatible APIs.",
    )
    admin_listen: str = Field(
        "127.0.0.1:8081",
        description="HOST:PORT of health, readiness, metrics and the admin API. Keep it private.",
    )
    state_dir: str = Field(
        ".eventhub",
        description="Directory of the embedded store (streams, queues, async-invoke queues, "
        "checkpoints). Relative to the config file's directory.",
    )
    region: str = Field(
        "us-east-1",
        pattern=pattern(r"^[a-z]{2}(-[a-z]+)+-\d$", "a region name such as `us-east-1`"),
        description="Region used in ARNs and events.",
    )
    account_id: str = Field(
        "000000000000",
        pattern=pattern(r"^\d{12}$", "twelve digits"),
        description='Twelve-digit account id used in ARNs; quote it (`"000000000000"`).',
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto",
        description="`json` lines, `console` (human), or `auto`: console on a TTY, else JSON.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level of the daemon's own log lines."
    )
    shutdown_grace: float = Field(
        30,
        ge=0,
        le=3600,
        description="Seconds to drain in-flight work on SIGTERM before cancelling.",
    )
    auth: AuthConfig | None = Field(None, description="Bearer-token auth for the Invoke API.")
    concurrency: int = Field(
        1000,
        ge=1,
        le=100000,
        description="Concurrent executions shared by functions without reserved concurrency "
        "(Lambda's account limit).",
    )
    max_sync_payload: int = Field(
        6_291_456,
        ge=1024,
        description="Largest RequestResponse request payload in bytes (AWS: 6 MB).",
    )
    max_async_payload: int = Field(
        1_048_576,
        ge=1024,
        description="Largest Event (async) request payload in bytes (AWS: 1 MB since 2025).",
    )
    watch_config: bool = Field(
        True,
        description=(
            "Reload automatically when the config file changes, as on SIGHUP. Set it to "
            "false where the file cannot be watched reliably (a single file bind-mounted "
            "into a container) or where only an explicit SIGHUP or `POST /reload` should "
            "reload."
        ),
    )

    @field_validator("listen", "admin_listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        return _hostport(value)


class AsyncConfig(Model):
    """How Event (asynchronous) invocations of a function are retried and where results go."""

    max_retry_attempts: int = Field(
        2, ge=0, le=2, description="Retries after a function error (AWS: 0..2, default 2)."
    )
    max_event_age: int = Field(
        21600,
        ge=60,
        le=21600,
        description="Seconds an event may wait (including retries) before it is dropped to "
        "on_failure with condition EventAgeExceeded.",
    )
    retry_base_delay: float = Field(
        60.0,
        ge=0.0,
        le=3600.0,
        description="Seconds before the first retry; each later retry waits twice as long "
        "(AWS waits about 1 and then 2 minutes). A throttled event (no concurrency free) "
        "waits for a slot without using retries, until max_event_age.",
    )
    on_success: DestinationURI | None = Field(
        None, description="Destination of the invocation record after a successful invocation."
    )
    on_failure: DestinationURI | None = Field(
        None,
        description="Destination of the invocation record after retries are exhausted or the "
        "event got too old.",
    )


class FunctionConfig(Model):
    """A handler function and how it runs."""

    handler: str = Field(
        description="`module:attribute` (or Lambda's `module.attribute`) of a `def` or "
        "`async def handler(event, context)`.",
        pattern=pattern(
            r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*([:.][A-Za-z_][A-Za-z0-9_]*)$",
            "`module:function` or `module.function` (e.g. `orders:handler`)",
        ),
    )
    code_dir: str = Field(
        ".",
        description="Directory put on sys.path to import the handler; relative to the config file.",
    )
    runtime: Literal["inline", "process"] = Field(
        "inline",
        description="`inline`: in the daemon (async on the loop, def in a thread pool); "
        "`process`: a warm pool of worker processes with memory_mb enforced.",
    )
    timeout: float = Field(3, ge=1, le=900, description="Seconds before an invocation is stopped.")
    memory_mb: int = Field(
        128,
        ge=128,
        le=10240,
        description="Memory size reported to the handler; enforced by `process`.",
    )
    reserved_concurrency: int | None = Field(
        None,
        ge=0,
        description="Most concurrent invocations; null: share `hub.concurrency`; 0: throttle.",
    )
    environment: dict[Annotated[str, Field(pattern=_ENV_NAME)], str] = Field(
        default_factory=dict, description="Environment variables the handler sees."
    )
    async_: AsyncConfig = Field(
        default_factory=AsyncConfig,
        alias="async",
        description="Retries, maximum event age and destinations of Event invocations.",
    )
    description: str = Field("", description="Free text shown by `eventhub status`.")

    @property
    def module_and_attribute(self) -> tuple[str, str]:
        """The handler split into module path and attribute name."""
        if ":" in self.handler:
            module, _, attr = self.handler.partition(":")
        else:
            module, _, attr = self.handler.rpartition(".")
        return module, attr


class KafkaConnection(Model):
    """A Kafka cluster (any Kafka-protocol broker: Apache Kafka, Redpanda, Tansu)."""

    type: Literal["kafka"] = Field(description="Connection kind.")
    bootstrap_servers: str | list[str] = Field(
        description="Comma-separated `host:port` list (or a YAML list) of bootstrap brokers."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Transport security, as in Kafka client settings."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism when security_protocol is SASL_*."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password (never logged).")
    ssl_cafile: str | None = Field(None, description="CA bundle to verify the brokers (SSL).")
    ssl_certfile: str | None = Field(None, description="Client certificate for mutual TLS.")
    ssl_keyfile: str | None = Field(None, description="Client key for mutual TLS.")
    client_id: str = Field("eventhub", description="Kafka client id.")

    @property
    def servers(self) -> list[str]:
        """The bootstrap servers as a list."""
        if isinstance(self.bootstrap_servers, str):
            return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]
        return list(self.bootstrap_servers)

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaConnection:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueErrorAt(
                f"{self.security_protocol} needs sasl_mechanism, sasl_username and sasl_password",
                ("security_protocol",),
            )
        if not self.servers:
            raise ValueErrorAt("must name at least one broker", ("bootstrap_servers",))
        return self


class RabbitMQConnection(Model):
    """A RabbitMQ broker (AMQP 0-9-1)."""

    type: Literal["rabbitmq"] = Field(description="Connection kind.")
    url: SecretStr = Field(
        description="AMQP URL `amqp[s]://user:password@host:port/vhost` (never logged)."
    )
    ssl_cafile: str | None = Field(None, description="CA bundle to verify the broker (amqps).")
    ssl_certfile: str | None = Field(None, description="Client certificate for mutual TLS.")
    ssl_keyfile: str | None = Field(None, description="Client key for mutual TLS.")
    heartbeat: int = Field(60, ge=0, le=3600, description="AMQP heartbeat in seconds.")

    @field_validator("url")
    @classmethod
    def _amqp(cls, value: SecretStr) -> SecretStr:
        if not re.match(r"^amqps?://", value.get_secret_value()):
            raise ValueError("must start with amqp:// or amqps://")
        return value


Connection = Annotated[KafkaConnection | RabbitMQConnection, Field(discriminator="type")]


class StreamConfig(Model):
    """An embedded Kinesis-like stream."""

    shards: int = Field(1, ge=1, le=64, description="Number of shards (ordered partitions).")
    retention_hours: int = Field(
        24, ge=1, le=8760, description="Hours a record is kept (Kinesis: 24 by default)."
    )


class RedriveConfig(Model):
    """Dead-letter policy of an embedded queue (SQS RedrivePolicy)."""

    dead_letter_queue: Name = Field(description="Embedded queue that receives dead letters.")
    max_receive_count: int = Field(
        5, ge=1, le=1000, description="Receives after which a message moves to the dead letter."
    )


class QueueConfig(Model):
    """An embedded SQS-like queue."""

    visibility_timeout: int = Field(
        30, ge=0, le=43200, description="Seconds a received message stays invisible."
    )
    delay_seconds: int = Field(
        0, ge=0, le=900, description="Default delivery delay of new messages."
    )
    retention_seconds: int = Field(
        345600, ge=60, le=1209600, description="Seconds a message is kept (SQS default: 4 days)."
    )
    max_message_size: int = Field(
        1_048_576, ge=1024, le=1_048_576, description="Largest message body in bytes."
    )
    fifo: bool = Field(False, description="A FIFO queue; its name must end in `.fifo`.")
    content_based_deduplication: bool = Field(
        False, description="FIFO: deduplicate by a SHA-256 of the body when no id is given."
    )
    redrive: RedriveConfig | None = Field(None, description="Dead-letter queue and receive limit.")
