"""Broken configuration files: every problem names the key path, the line and what is wrong.

Each case is a YAML text; the line the error must point at carries the comment ``#<``.
Texts that do not start with ``version:`` are appended to ``PREAMBLE``, which defines a
connection of each kind, a stream, queues and a function ``work`` (texts starting with
two spaces add functions under ``functions:``, the preamble's last section).
"""

from __future__ import annotations

import pytest

from eventhub.config import ConfigError, ConfigIssue, parse_config

PREAMBLE = """\
version: 1
connections:
  kafka-main: {type: kafka, bootstrap_servers: "localhost:9092"}
  rabbit: {type: rabbitmq, url: "amqp://guest:guest@localhost:5672/"}
streams:
  clicks: {shards: 2}
queues:
  jobs: {visibility_timeout: 30, redrive: {dead_letter_queue: jobs-dlq}}
  jobs-dlq: {}
  orders.fifo: {fifo: true}
functions:
  work:
    handler: work:handler
"""

ENV = {"HOME": "/home/someone", "SET_VAR": "value"}


def full_text(text: str) -> str:
    return text if text.startswith("version:") else PREAMBLE + text


def marked_line(text: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith("#<")]
    assert len(lines) == 1, "a case marks exactly one line with #<"
    return lines[0]


def problems(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, ENV, filename="eventhub.yaml")
    return info.value.issues


CASES = [
    # --- unknown keys at every level --------------------------------------------------------
    pytest.param(
        "hub:\n  listn: 127.0.0.1:8080  #<\n",
        "hub.listn",
        "unknown key (did you mean 'listen'?)",
        id="unknown-hub-key",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    tmeout: 3  #<\n",
        "functions.slow.tmeout",
        "unknown key (did you mean 'timeout'?)",
        id="unknown-function-key",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    async:\n      retries: 1  #<\n",
        "functions.slow.async.retries",
        "unknown key",
        id="unknown-async-key",
    ),
    pytest.param(
        "sources:\n  orders:\n    type: kafka\n    connection: kafka-main\n    topics: [orders]\n"
        "    function: work\n    batchsize: 10  #<\n",
        "sources.orders.batchsize",
        "unknown key (did you mean 'batch_size'?)",
        id="unknown-kafka-source-key",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    topics: [clicks]  #<\n",
        "sources.clicks.topics",
        "unknown key",
        id="unknown-stream-source-key-of-another-type",
    ),
    pytest.param(
        "sources:\n  api:\n    type: http\n    route: GET /orders\n    function: work\n"
        "    cors: {allow_origin: ['*']}  #<\n",
        "sources.api.cors.allow_origin",
        "unknown key (did you mean 'allow_origins'?)",
        id="unknown-http-cors-key",
    ),
    pytest.param(
        "sources:\n  tick:\n    type: schedule\n    cron: '0 * * * *'  #<\n"
        "    expression: rate(1 hour)\n    function: work\n",
        "sources.tick.cron",
        "unknown key",
        id="unknown-schedule-source-key",
    ),
    pytest.param(
        "version: 1\nconnections:\n  kafka-main:\n    type: kafka\n"
        "    bootstrap_servers: localhost:9092\n    client-id: me  #<\n",
        "connections.kafka-main.client-id",
        "unknown key (did you mean 'client_id'?)",
        id="unknown-connection-key",
    ),
    pytest.param(
        "version: 1\nqueues:\n  jobs-dlq: {}\n"
        "  jobs: {redrive: {dead_letter_queue: jobs-dlq, max_receives: 3}}  #<\n",
        "queues.jobs.redrive.max_receives",
        "unknown key (did you mean 'max_receive_count'?)",
        id="unknown-redrive-key",
    ),
    pytest.param(
        "version: 1\nfunction:  #<\n  work: {handler: work:handler}\n",
        "function",
        "unknown key (did you mean 'functions'?)",
        id="unknown-top-level-key",
    ),
    # --- out of range -------------------------------------------------------------------------
    pytest.param(
        "sources:\n  orders:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    batch_size: 0  #<\n",
        "sources.orders.batch_size",
        "must be >= 1",
        id="batch-size-0",
    ),
    pytest.param(
        "sources:\n  orders:\n    type: kafka\n    connection: kafka-main\n    topics: [orders]\n"
        "    function: work\n    batch_size: 10001  #<\n",
        "sources.orders.batch_size",
        "must be <= 10000",
        id="batch-size-10001",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    timeout: 901  #<\n",
        "functions.slow.timeout",
        "must be <= 900",
        id="timeout-901",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    memory_mb: 64  #<\n",
        "functions.slow.memory_mb",
        "must be >= 128",
        id="memory-64",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    async: {max_retry_attempts: 3}  #<\n",
        "functions.slow.async.max_retry_attempts",
        "must be <= 2",
        id="max-retry-attempts-3",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    async:\n      max_event_age: 30  #<\n",
        "functions.slow.async.max_event_age",
        "must be >= 60",
        id="max-event-age-30",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    max_record_age: 10  #<\n",
        "sources.clicks.max_record_age",
        "must be -1 or between 60 and 604800",
        id="max-record-age-10",
    ),
    pytest.param(
        "sources:\n  jobs:\n    type: queue\n    queue: jobs\n    function: work\n"
        "    max_concurrency: 1  #<\n",
        "sources.jobs.max_concurrency",
        "must be >= 2",
        id="max-concurrency-1",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    parallelization_factor: 11  #<\n",
        "sources.clicks.parallelization_factor",
        "must be <= 10",
        id="parallelization-factor-11",
    ),
    pytest.param(
        "sources:\n  jobs:\n    type: queue\n    queue: jobs\n    function: work\n"
        "    filters: [{a: [1]}, {a: [2]}, {a: [3]}, {a: [4]}, {a: [5]}, {a: [6]}]  #<\n",
        "sources.jobs.filters",
        "must have at most 5 item(s)",
        id="six-filters",
    ),
    pytest.param(
        "sources:\n  orders:\n    type: queue\n    queue: orders.fifo\n    function: work\n"
        "    batch_size: 20  #<\n    batch_window: 1\n",
        "sources.orders.batch_size",
        "must be <= 10 for a FIFO queue",
        id="fifo-batch-size-over-10",
    ),
    pytest.param(
        "sources:\n  jobs:\n    type: queue\n    queue: jobs\n    function: work\n"
        "    batch_size: 100  #<\n",
        "sources.jobs.batch_size",
        "over 10 needs batch_window >= 1",
        id="sqs-batch-over-10-without-window",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    timeout: .nan  #<\n",
        "functions.slow.timeout",
        "must be a number, not .nan",
        id="timeout-nan",
    ),
    # --- wrong types --------------------------------------------------------------------------
    pytest.param(
        "  slow:\n    handler: slow:handler\n    timeout: soon  #<\n",
        "functions.slow.timeout",
        "must be a number",
        id="timeout-not-a-number",
    ),
    pytest.param(
        "sources:\n  orders:\n    type: kafka\n    connection: kafka-main\n"
        "    topics: orders  #<\n    function: work\n",
        "sources.orders.topics",
        "must be a list",
        id="topics-not-a-list",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    enabled: maybe  #<\n",
        "sources.clicks.enabled",
        "must be true or false",
        id="enabled-not-a-bool",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    environment:\n      PORT: 8080  #<\n",
        "functions.slow.environment.PORT",
        "must be a string (put the value in quotes)",
        id="environment-value-not-a-string",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    environment: [PORT=8080]  #<\n",
        "functions.slow.environment",
        "must be a mapping",
        id="environment-not-a-mapping",
    ),
    pytest.param(
        "version: 1\nhub: 8080  #<\n",
        "hub",
        "must be a mapping",
        id="hub-not-a-mapping",
    ),
    pytest.param(
        "version: 1\nhub:\n  account_id: 123456789012  #<\n",
        "hub.account_id",
        "must be a string (put the value in quotes)",
        id="account-id-unquoted",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    batch_size: 1.5  #<\n",
        "sources.clicks.batch_size",
        "must be an integer",
        id="batch-size-fraction",
    ),
    # --- bad choices --------------------------------------------------------------------------
    pytest.param(
        "  slow:\n    handler: slow:handler\n    runtime: docker  #<\n",
        "functions.slow.runtime",
        "must be one of 'inline' or 'process', not 'docker'",
        id="bad-runtime",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    starting_position: earliest  #<\n",
        "sources.clicks.starting_position",
        "must be one of 'trim_horizon', 'latest' or 'at_timestamp', not 'earliest'",
        id="bad-starting-position",
    ),
    pytest.param(
        "version: 1\nhub:\n  log_level: verbose  #<\n",
        "hub.log_level",
        "must be one of 'debug', 'info', 'warning' or 'error', not 'verbose'",
        id="bad-log-level",
    ),
    pytest.param(
        "sources:\n  api:\n    type: http\n    route: GET /orders\n    function: work\n"
        "    payload_format: '3.0'  #<\n",
        "sources.api.payload_format",
        "must be one of '1.0' or '2.0', not '3.0'",
        id="bad-payload-format",
    ),
    pytest.param(
        "sources:\n  api:\n    type: http\n    route: GET /orders\n    function: work\n"
        "    payload_format: 2.0  #<\n",
        "sources.api.payload_format",
        "not 2.0 (quote it)",
        id="payload-format-unquoted-number",
    ),
    pytest.param(
        "sources:\n  jobs:\n    type: rabbitmq\n    connection: rabbit\n    queue: jobs\n"
        "    function: work\n    declare: {queue_type: lazy}  #<\n",
        "sources.jobs.declare.queue_type",
        "must be one of 'quorum' or 'classic', not 'lazy'",
        id="bad-rabbitmq-queue-type",
    ),
    # --- missing required keys ----------------------------------------------------------------
    pytest.param(
        "  slow:  #<\n    timeout: 3\n",
        "functions.slow.handler",
        "required",
        id="missing-handler",
    ),
    pytest.param(
        "sources:\n  clicks:  #<\n    type: stream\n    stream: clicks\n",
        "sources.clicks.function",
        "required",
        id="missing-function",
    ),
    pytest.param(
        "sources:\n  orders:  #<\n    type: kafka\n    connection: kafka-main\n"
        "    function: work\n",
        "sources.orders.topics",
        "required",
        id="missing-topics",
    ),
    pytest.param(
        "sources:\n  clicks:  #<\n    stream: clicks\n    function: work\n",
        "sources.clicks",
        "needs a `type` (stream, kafka, queue, rabbitmq, http, files, schedule)",
        id="missing-source-type",
    ),
    pytest.param(
        "version: 1\nconnections:\n  mq: {url: 'amqp://localhost/'}  #<\n",
        "connections.mq",
        "needs a `type` (kafka, rabbitmq)",
        id="missing-connection-type",
    ),
    pytest.param(
        "version: 1\nhub:\n  auth:\n    tokens:\n      ci: {may_invoke: ['*']}  #<\n",
        "hub.auth.tokens.ci.secret",
        "required",
        id="missing-token-secret",
    ),
    pytest.param(
        "sources:\n  orders:\n    type: sqs  #<\n    function: work\n",
        "sources.orders.type",
        "unknown type 'sqs'; expected one of 'stream', 'kafka', 'queue', 'rabbitmq', 'http', "
        "'files', 'schedule'",
        id="unknown-source-type",
    ),
    # --- references ---------------------------------------------------------------------------
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: nope  #<\n",
        "sources.clicks.function",
        "function 'nope' is not defined under functions",
        id="undefined-function",
    ),
    pytest.param(
        "sources:\n  orders:\n    type: kafka\n    connection: kafka-other  #<\n"
        "    topics: [orders]\n    function: work\n",
        "sources.orders.connection",
        "connection 'kafka-other' is not defined under connections",
        id="undefined-connection",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: taps  #<\n    function: work\n",
        "sources.clicks.stream",
        "stream 'taps' is not defined under streams",
        id="undefined-stream",
    ),
    pytest.param(
        "sources:\n  jobs:\n    type: queue\n    queue: tasks  #<\n    function: work\n",
        "sources.jobs.queue",
        "queue 'tasks' is not defined under queues",
        id="undefined-queue",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    async: {on_failure: 'queue:failures'}  #<\n",
        "functions.slow.async.on_failure",
        "queue 'failures' is not defined under queues",
        id="destination-undefined-queue",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    async:\n      on_success: function:audit  #<\n",
        "functions.slow.async.on_success",
        "function 'audit' is not defined under functions",
        id="destination-undefined-function",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    on_failure: stream:dead  #<\n",
        "sources.clicks.on_failure",
        "stream 'dead' is not defined under streams",
        id="destination-undefined-stream",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    on_failure: kafka:kafka-dr/failed  #<\n",
        "sources.clicks.on_failure",
        "connection 'kafka-dr' is not defined under connections",
        id="destination-undefined-connection",
    ),
    pytest.param(
        "sources:\n  orders:\n    type: kafka\n    connection: rabbit  #<\n"
        "    topics: [orders]\n    function: work\n",
        "sources.orders.connection",
        "connection 'rabbit' is not a kafka connection",
        id="connection-of-wrong-type",
    ),
    pytest.param(
        "sources:\n  jobs:\n    type: rabbitmq\n    connection: rabbit\n    queue: jobs\n"
        "    function: work\n    dead_letter: rabbitmq:kafka-main/dlx/jobs  #<\n",
        "sources.jobs.dead_letter",
        "connection 'kafka-main' is a kafka connection, not rabbitmq",
        id="destination-connection-of-wrong-type",
    ),
    # --- malformed values ---------------------------------------------------------------------
    pytest.param(
        "  slow:\n    handler: slow:handler\n    async: {on_failure: 'sqs:failures'}  #<\n",
        "functions.slow.async.on_failure",
        "'sqs:failures' is not a destination; expected one of file:PATH, queue:NAME",
        id="destination-unknown-scheme",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    on_failure: kafka:kafka-main  #<\n",
        "sources.clicks.on_failure",
        "'kafka:kafka-main' must look like kafka:CONNECTION/TOPIC",
        id="destination-kafka-without-topic",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    async: {on_success: 'http:///x'}  #<\n",
        "functions.slow.async.on_success",
        "'http:///x' is not a valid http(s) URL",
        id="destination-http-without-host",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    async: {on_success: 'file:'}  #<\n",
        "functions.slow.async.on_success",
        "'file:' must look like file:PATH",
        id="destination-file-without-path",
    ),
    pytest.param(
        "  slow:\n    handler: my-module:handler  #<\n",
        "functions.slow.handler",
        "'my-module:handler' is not valid: must be `module:function` or `module.function`",
        id="handler-bad-module",
    ),
    pytest.param(
        "  slow:\n    handler: handler  #<\n",
        "functions.slow.handler",
        "'handler' is not valid: must be `module:function` or `module.function`",
        id="handler-without-function",
    ),
    pytest.param(
        "  'bad name!':  #<\n    handler: slow:handler\n",
        "functions.bad name!",
        "'bad name!' is not valid: must be 1 to 64 letters, digits",
        id="bad-function-name",
    ),
    pytest.param(
        "version: 1\nhub:\n  listen: localhost  #<\n",
        "hub.listen",
        "'localhost' must be HOST:PORT with a port 0..65535",
        id="listen-without-port",
    ),
    pytest.param(
        "version: 1\nhub:\n  admin_listen: 127.0.0.1:65536  #<\n",
        "hub.admin_listen",
        "'127.0.0.1:65536' must be HOST:PORT with a port 0..65535",
        id="listen-port-out-of-range",
    ),
    pytest.param(
        "version: 1\nhub:\n  region: Mars  #<\n",
        "hub.region",
        "'Mars' is not valid: must be a region name such as `us-east-1`",
        id="bad-region",
    ),
    pytest.param(
        "sources:\n  api:\n    type: http\n    route: /orders  #<\n    function: work\n",
        "sources.api.route",
        "must be `METHOD /path`",
        id="route-without-method",
    ),
    pytest.param(
        "sources:\n  api:\n    type: http\n    route: GET /files/{path+}/meta  #<\n"
        "    function: work\n",
        "sources.api.route",
        "a greedy {param+} must be the last path segment",
        id="route-greedy-not-last",
    ),
    pytest.param(
        "sources:\n  api:\n    type: http\n    route: GET /a/{x}/b/{x}  #<\n    function: work\n",
        "sources.api.route",
        "the path parameter 'x' appears twice",
        id="route-duplicate-parameter",
    ),
    pytest.param(
        "sources:\n  api:\n    type: http\n    route: GET /a//b  #<\n    function: work\n",
        "sources.api.route",
        "the path has an empty segment",
        id="route-empty-segment",
    ),
    pytest.param(
        "sources:\n  api:\n    type: http\n"
        "    route: POST /2015-03-31/functions/{n}/invocations  #<\n    function: work\n",
        "sources.api.route",
        "belong to the Lambda Invoke API",
        id="route-under-the-invoke-api",
    ),
    pytest.param(
        "sources:\n  one:\n    type: http\n    route: GET /orders/{id}\n    function: work\n"
        "  two:\n    type: http\n    route: GET /orders/{order}  #<\n    function: work\n",
        "sources.two.route",
        "conflicts with the route of source 'one'",
        id="conflicting-routes",
    ),
    pytest.param(
        "version: 1\nqueues:\n  jobs: {fifo: true}  #<\n",
        "queues.jobs.fifo",
        "the name of a FIFO queue must end in .fifo",
        id="fifo-queue-name-without-suffix",
    ),
    pytest.param(
        "version: 1\nqueues:\n  jobs.fifo: {visibility_timeout: 60}  #<\n",
        "queues.jobs.fifo",
        "a name ending in .fifo is for FIFO queues: set `fifo: true`",
        id="fifo-suffix-on-standard-queue",
    ),
    pytest.param(
        "version: 1\nqueues:\n  jobs:\n    redrive:\n      dead_letter_queue: jobs-dlq  #<\n",
        "queues.jobs.redrive.dead_letter_queue",
        "queue 'jobs-dlq' is not defined under queues",
        id="dead-letter-queue-missing",
    ),
    pytest.param(
        "version: 1\nqueues:\n  jobs:\n    redrive: {dead_letter_queue: jobs}  #<\n",
        "queues.jobs.redrive.dead_letter_queue",
        "a queue cannot be its own dead-letter queue",
        id="dead-letter-queue-itself",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    timeout: 60\nsources:\n  jobs:\n    type: queue\n"
        "    queue: jobs\n    function: slow  #<\n",
        "sources.jobs.function",
        "function timeout (60 s) exceeds the visibility timeout of queue 'jobs' (30 s)",
        id="timeout-over-visibility-timeout",
    ),
    pytest.param(
        "sources:\n  tick:\n    type: schedule\n    expression: every 5 minutes  #<\n"
        "    function: work\n",
        "sources.tick.expression",
        "expected rate(...), cron(...), at(...) or a five-field crontab line",
        id="bad-schedule-expression",
    ),
    pytest.param(
        "sources:\n  tick:\n    type: schedule\n    expression: cron(0 12 * * ? *)\n"
        "    timezone: Europe/Atlantis  #<\n    function: work\n",
        "sources.tick.timezone",
        "'Europe/Atlantis' is not an IANA time zone",
        id="bad-time-zone",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    filters:\n      - {data: {kind: [click]}}\n      - {data: {kind: [{prefx: c}]}}  #<\n",
        "sources.clicks.filters[1]",
        "unknown operator 'prefx'",
        id="bad-filter-pattern",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    starting_position: at_timestamp  #<\n",
        "sources.clicks.starting_position",
        "at_timestamp needs starting_timestamp",
        id="at-timestamp-without-timestamp",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    starting_timestamp: 2024-05-01T00:00:00Z  #<\n",
        "sources.clicks.starting_timestamp",
        "is only used with starting_position: at_timestamp",
        id="timestamp-without-at-timestamp",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    starting_position: at_timestamp\n    starting_timestamp: yesterday  #<\n",
        "sources.clicks.starting_timestamp",
        "must be an ISO 8601 date-time",
        id="timestamp-not-a-date",
    ),
    pytest.param(
        "sources:\n  clicks:\n    type: stream\n    stream: clicks\n    function: work\n"
        "    starting_position: at_timestamp\n    starting_timestamp: 2999-01-01T00:00:00Z  #<\n",
        "sources.clicks.starting_timestamp",
        "must not be in the future",
        id="timestamp-in-the-future",
    ),
    pytest.param(
        "version: 1\nconnections:\n  kafka-secure:\n    type: kafka\n"
        "    bootstrap_servers: broker:9093\n    security_protocol: SASL_SSL  #<\n",
        "connections.kafka-secure.security_protocol",
        "SASL_SSL needs sasl_mechanism, sasl_username and sasl_password",
        id="sasl-incomplete",
    ),
    pytest.param(
        "version: 1\nconnections:\n  mq: {type: rabbitmq, url: 'http://localhost:15672'}  #<\n",
        "connections.mq.url",
        "must start with amqp:// or amqps://",
        id="rabbitmq-url-not-amqp",
    ),
    # --- the file itself ----------------------------------------------------------------------
    pytest.param(
        "  slow:\n    handler: slow:handler\n    timeout: 5\n    handler: slow:main  #<\n",
        "functions.slow.handler",
        "duplicate key",
        id="duplicate-key",
    ),
    pytest.param(
        "version: 1\nfunctions:\n  work: {handler: work:handler}\n"
        "functions:  #<\n  other: {handler: o:h}\n",
        "functions",
        "duplicate key",
        id="duplicate-section",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    environment:\n      TOKEN: ${UNSET_VAR}  #<\n",
        "functions.slow.environment.TOKEN",
        "environment variable UNSET_VAR is not set (use ${UNSET_VAR:-default})",
        id="unset-variable",
    ),
    pytest.param(
        "  slow:\n    handler: slow:handler\n    timeout: ${UNSET_TIMEOUT}  #<\n",
        "functions.slow.timeout",
        "environment variable UNSET_TIMEOUT is not set",  # and no "must be a number" for ""
        id="unset-variable-in-a-number",
    ),
    pytest.param(
        "version: 2  #<\n",
        "version",
        "unsupported version 2: this eventhub reads version 1",
        id="version-2",
    ),
]


@pytest.mark.parametrize(("text", "path", "message"), CASES)
def test_error_names_path_line_and_problem(text: str, path: str, message: str) -> None:
    text = full_text(text)
    issues = problems(text)
    assert [(i.path, i.line) for i in issues] == [(path, marked_line(text))], issues
    assert message in issues[0].message
    assert "pydantic" not in issues[0].message
    assert "Value error" not in issues[0].message


def test_at_least_thirty_broken_configs() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param(
            "version: 1\nfunctions:\n  work:\n    handler: [work:handler\n",
            5,
            "YAML syntax: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence started on line 4)",
            id="unclosed-bracket",
        ),
        pytest.param(
            "version: 1\nhub:\n  listen: 127.0.0.1:8080\n admin_listen: x\n",
            4,
            "YAML syntax: expected <block end>",
            id="bad-indentation",
        ),
        pytest.param(
            "version: 1\nhub: {listen: a: b}\n", 2, "YAML syntax:", id="colon-in-flow-mapping"
        ),
        pytest.param("version: 1\nhub:\n\tlisten: x\n", 3, "character '\\t'", id="tab"),
        pytest.param("- version: 1\n", 1, "the file must be a YAML mapping", id="not-a-mapping"),
    ],
)
def test_yaml_syntax_error_names_the_line(text: str, line: int, message: str) -> None:
    issues = problems(text)
    assert len(issues) == 1
    assert (issues[0].path, issues[0].line) == ("", line)
    assert message in issues[0].message


def test_every_problem_is_reported_in_file_order() -> None:
    text = (
        "version: 1\n"
        "hub:\n"
        "  log_level: loud\n"  # 3
        "functions:\n"
        "  a:\n"
        "    handler: a:handler\n"
        "    timeout: 0\n"  # 7
        "    timeout: 901\n"  # 8: duplicate, and out of range
        "  b:\n"
        "    handler: b:handler\n"
        "    environment: {X: '${NOT_SET_ANYWHERE}'}\n"  # 11
        "sources:\n"
        "  s:\n"
        "    type: stream\n"
        "    stream: clicks\n"  # 15: no streams section, reported with the schema errors
        "    function: a\n"
        "    batch_size: 0\n"  # 17
    )
    issues = problems(text)
    assert [(i.line, i.path) for i in issues] == [
        (3, "hub.log_level"),
        (8, "functions.a.timeout"),
        (8, "functions.a.timeout"),
        (11, "functions.b.environment.X"),
        (15, "sources.s.stream"),
        (17, "sources.s.batch_size"),
    ]
    assert sorted(i.message for i in issues if i.line == 8) == ["duplicate key", "must be <= 900"]


def test_reference_problems_are_all_reported_together() -> None:
    text = PREAMBLE + (
        "sources:\n"
        "  a: {type: stream, stream: nope, function: work}\n"
        "  b: {type: queue, queue: jobs, function: missing}\n"
        "  c: {type: kafka, connection: rabbit, topics: [t], function: work}\n"
    )
    issues = problems(text)
    assert [i.path for i in issues] == [
        "sources.a.stream",
        "sources.b.function",
        "sources.c.connection",
    ]


def test_reference_problems_come_with_schema_problems_not_in_a_second_round() -> None:
    text = PREAMBLE + (
        "  typo: {handler: t:handler, timout: 3}\n"
        "sources:\n"
        "  a: {type: queue, queue: nope, function: typo, batch_size: 20000}\n"
        "  b: {type: rabbitmq, connection: mq, queue: anything, function: ghost}\n"
        "  c: {type: kafka, connection: kafka-main, topics: [t], function: work}\n"
        "  d: {type: http, route: 'GET /a/{x}', function: work}\n"
        "  e: {type: http, route: 'GET /a/{y}', function: work}\n"
    )
    issues = problems(text)
    assert sorted(i.path for i in issues) == [
        "functions.typo.timout",
        "sources.a.batch_size",
        "sources.a.queue",  # a function that failed its schema still exists by name
        "sources.b.connection",  # a RabbitMQ queue is the broker's, not an embedded one
        "sources.b.function",
        "sources.e.route",  # conflicts with d
    ]


def test_a_bad_schedule_expression_and_a_bad_timezone_come_together() -> None:
    text = PREAMBLE + (
        "sources:\n"
        "  tick: {type: schedule, expression: 'rate(1 minutes)', timezone: Mars/Base, "
        "function: work}\n"
    )
    issues = problems(text)
    assert sorted(i.path for i in issues) == ["sources.tick.expression", "sources.tick.timezone"]
    [expression] = [i for i in issues if i.path.endswith("expression")]
    assert expression.message.startswith("rate(1 minutes): ")


def test_rendered_error_is_file_line_path_message() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(full_text("version: 1\nhub: {shutdown_grace: -1}\n"), ENV, "conf.yaml")
    assert str(info.value) == "conf.yaml:2: hub.shutdown_grace: must be >= 0"


def test_rendered_error_without_filename_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("version: 1\nhub: {shutdown_grace: -1}\n", ENV)
    assert str(info.value) == "line 2: hub.shutdown_grace: must be >= 0"


def test_secrets_are_not_echoed_in_errors() -> None:
    text = "version: 1\nconnections:\n  mq: {type: rabbitmq, url: 'http://user:hunter2@host/'}\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, ENV)
    assert "hunter2" not in str(info.value)
