"""The prose and examples of the configuration reference (docs/configuration.md);
the tables come from the models, in ``eventhub.config.docs``."""

from __future__ import annotations

# --- the text around the tables ----------------------------------------------------------------

INTRO = """
# Configuration reference

eventhub reads one YAML file. Commands take it from `-c FILE`, else `$EVENTHUB_CONFIG`,
else `./eventhub.yaml`, else `config/eventhub.yaml`. `eventhub validate -c FILE` checks a
file without starting anything and prints every problem as `FILE:LINE: path: message`
(exit status 1); a function whose `code_dir` or handler module is not there gets a
`warning:` line (exit status 0: the code may be deployed after the file). Nothing starts
on an invalid file; a reload (SIGHUP, `POST /reload` on the admin listener, or a change
of the file, watched by default: `hub.watch_config`) with an invalid file keeps the
running configuration. The commands
that talk to a running daemon (`invoke`, `status`, `put`, `send`, `redrive`) read only
`hub.listen`, `hub.admin_listen`, `hub.region` and `hub.account_id` from the file: they
need none of the daemon's secrets, and a file being edited does not stop them (`invoke
--local` reads the whole file).

## Rules of the file

- **Version.** `version: 1`, the only version so far (it may be left out).
- **Environment variables.** In values, `${VAR}` is replaced by the variable's value and
  `${VAR:-default}` by its value or, when it is unset or empty, by `default`. `$$` is a
  literal `$` (`$${VAR}` stays `${VAR}`); a `$` not followed by `{` or `$` is kept as is.
  A `${VAR}` that is unset and has no default is an error. Expansion happens after the
  YAML is parsed and only inside values, never in keys or comments, so a variable cannot
  change the structure of the file; the expanded text is then read as the type its key
  needs (`timeout: ${TIMEOUT:-5}` is the number 5).
- **Unknown keys are errors**, and so are duplicate keys; a misspelt key gets a hint
  (`unknown key (did you mean 'timeout'?)`).
- **Errors name the key path and the line**: `eventhub.yaml:12:
  sources.orders.batch_size: must be <= 10000`. Every problem is reported at once, in
  file order. Checks between entries (a source's function, stream, queue or connection
  must be defined; destination targets must exist; routes must not conflict; a queue
  mapping's function timeout must not exceed the queue's visibility timeout) run once
  every entry is valid on its own.
- **Names** of connections, streams, queues, functions, sources and tokens are 1 to 64
  letters, digits, `.`, `_` or `-`. A FIFO queue's name ends in `.fifo`
  and it says `fifo: true`; a name ending in `.fifo` without it is an error, as in SQS.
- **Relative paths** (`hub.state_dir`, `code_dir`, the `root` of a files source, `file:`
  destinations) resolve against the directory of the config file, not the working
  directory; a leading `~` is the home directory.
- **Units.** Durations are in seconds (a `number` takes fractions, an `integer` does
  not), sizes in bytes, memory in MB.
- **Quoting.** YAML reads `2.0`, `yes`, `off` and `000000000000` as numbers or booleans:
  quote values that must stay strings (`payload_format: "2.0"`,
  `account_id: "000000000000"`, environment values such as `PORT: "8080"`).
- **Defaults.** Every key with a default may be left out, and so may every mapping
  whose keys all have defaults (`async: {}` is the same as no `async`).
"""

DESTINATIONS_INTRO = """
<a id="destinations"></a>

## Destinations

Where invocation records (`functions.NAME.async.on_success` / `on_failure`), the
batch-info records of stream sources (`on_failure`) and dead letters (`dead_letter` of
RabbitMQ sources) go. A destination is a URI; the queue, stream, function or connection
it names must be defined in the same file.
"""

DESTINATION_FORMS = [
    ("`file:PATH`", "appends the record as one JSON line to PATH (relative to the config file)"),
    ("`queue:NAME`", "sends the record as a message to the embedded queue NAME"),
    ("`stream:NAME`", "puts the record into the embedded stream NAME"),
    ("`function:NAME`", "invokes the function NAME asynchronously (Event) with the record"),
    ("`kafka:CONNECTION/TOPIC`", "produces the record to TOPIC through a `kafka` connection"),
    (
        "`rabbitmq:CONNECTION/EXCHANGE/ROUTING_KEY`",
        "publishes the record through a `rabbitmq` connection; an empty EXCHANGE "
        "(`rabbitmq:rabbit//jobs`) is the default exchange",
    ),
    ("`http://...`, `https://...`", "POSTs the record as JSON"),
]

SECTION_EXAMPLES: dict[str, str] = {
    "connections.NAME (type: kafka)": """\
version: 1
connections:
  kafka-main:
    type: kafka
    bootstrap_servers: "${KAFKA_BOOTSTRAP:-localhost:9092}"
  kafka-cloud:
    type: kafka
    bootstrap_servers: [broker-1.example.com:9093, broker-2.example.com:9093]
    security_protocol: SASL_SSL
    sasl_mechanism: SCRAM-SHA-512
    sasl_username: eventhub
    sasl_password: "${KAFKA_PASSWORD:-secret}"
""",
    "connections.NAME (type: rabbitmq)": """\
version: 1
connections:
  rabbit:
    type: rabbitmq
    url: "amqp://${RABBIT_USER:-guest}:${RABBIT_PASSWORD:-guest}@localhost:5672/"
""",
    "queues.NAME": """\
version: 1
queues:
  jobs:
    visibility_timeout: 60
    redrive: {dead_letter_queue: jobs-dlq, max_receive_count: 5}
  jobs-dlq: {retention_seconds: 1209600}
  orders.fifo: {fifo: true, content_based_deduplication: true}
""",
    "functions.NAME": """\
version: 1
queues:
  failed: {}
functions:
  resize:
    handler: images.resize:handler   # functions/images/resize.py
    code_dir: functions
    runtime: process
    timeout: 60
    memory_mb: 1024
    reserved_concurrency: 4
    environment: {BUCKET: images, MAX_SIDE: "2048"}
    async:
      max_retry_attempts: 1
      max_event_age: 3600
      on_failure: "queue:failed"
""",
    "sources.NAME (type: stream)": """\
version: 1
streams:
  clicks: {shards: 2}
functions:
  count: {handler: clicks:handler, code_dir: functions}
sources:
  clicks-in:
    type: stream
    stream: clicks
    function: count
    batch_size: 500
    batch_window: 2
    parallelization_factor: 4
    bisect_on_error: true
    max_retry_attempts: 10
    report_batch_item_failures: true
    filters: [{data: {kind: [click]}}]
    on_failure: "file:out/clicks-failed.jsonl"
""",
    "sources.NAME (type: kafka)": """\
version: 1
connections:
  kafka-main: {type: kafka, bootstrap_servers: "localhost:9092"}
functions:
  orders: {handler: orders:handler, code_dir: functions}
sources:
  orders-in:
    type: kafka
    connection: kafka-main
    topics: [orders]
    function: orders
    starting_position: at_timestamp
    starting_timestamp: 2025-01-01T00:00:00Z
    filters: [{value: {kind: [order]}}]
    on_failure: "kafka:kafka-main/orders-failed"
""",
    "sources.NAME (type: queue)": """\
version: 1
queues:
  jobs: {visibility_timeout: 60, redrive: {dead_letter_queue: jobs-dlq}}
  jobs-dlq: {}
functions:
  work: {handler: jobs:handler, code_dir: functions, timeout: 30}
sources:
  jobs-in:
    type: queue
    queue: jobs
    function: work
    batch_size: 100
    batch_window: 1          # SQS needs a window for batches over 10
    max_concurrency: 10
    report_batch_item_failures: true
""",
    "sources.NAME (type: rabbitmq)": """\
version: 1
connections:
  rabbit: {type: rabbitmq, url: "amqp://guest:guest@localhost:5672/"}
functions:
  work: {handler: tasks:handler, code_dir: functions}
sources:
  tasks-in:
    type: rabbitmq
    connection: rabbit
    queue: tasks
    function: work
    max_receive_count: 5
    declare: {queue_type: quorum, dead_letter_exchange: tasks-dlx}
""",
    "sources.NAME (type: http)": """\
version: 1
functions:
  api: {handler: api:handler, code_dir: functions}
sources:
  get-order:
    type: http
    route: "GET /orders/{id}"
    function: api
  proxy:
    type: http
    route: "ANY /files/{path+}"
    function: api
    payload_format: "1.0"
    auth: {tokens: ["${API_TOKEN:-change-me}"]}
    cors: {allow_origins: ["*"], allow_methods: [GET, PUT], allow_headers: [content-type]}
""",
    "sources.NAME (type: files)": """\
version: 1
functions:
  thumbnails: {handler: thumbs:handler, code_dir: functions}
sources:
  uploads:
    type: files
    root: buckets            # the bucket is the directory buckets/uploads
    bucket: uploads
    function: thumbnails
    events: ["s3:ObjectCreated:*"]
    prefix: images/
    suffix: .jpg
""",
    "sources.NAME (type: schedule)": """\
version: 1
functions:
  report: {handler: report:handler, code_dir: functions}
sources:
  every-five-minutes:
    type: schedule
    expression: rate(5 minutes)
    function: report
  nightly:
    type: schedule
    expression: "cron(0 2 * * ? *)"
    timezone: Europe/Paris
    function: report
    input: {kind: nightly}
  once:
    type: schedule
    expression: at(2030-12-01T10:00:00)
    function: report
""",
}

EXAMPLE = """\
# eventhub.yaml: every section, annotated.
version: 1

hub:
  listen: 127.0.0.1:8080            # Invoke API, HTTP routes, AWS-compatible APIs
  admin_listen: 127.0.0.1:8081      # health, readiness, metrics, admin API: keep it private
  state_dir: .eventhub              # next to this file
  region: us-east-1                 # used in ARNs and events
  account_id: "000000000000"        # quoted: twelve digits are a string
  log_format: json                  # json | console | auto
  log_level: info
  shutdown_grace: 30                # seconds to drain in-flight work on SIGTERM
  auth:                             # who may call the Invoke API (absent: anyone)
    tokens:
      ci: {secret: "${EVENTHUB_CI_TOKEN}", may_invoke: ["orders-*"]}

connections:                        # external brokers, referenced by name
  kafka-main:
    type: kafka
    bootstrap_servers: "${KAFKA_BOOTSTRAP:-localhost:9092}"
  rabbit:
    type: rabbitmq
    url: "amqp://${RABBIT_USER:-guest}:${RABBIT_PASSWORD:-guest}@localhost:5672/"

streams:                            # embedded Kinesis-like streams
  clicks: {shards: 4, retention_hours: 24}

queues:                             # embedded SQS-like queues
  jobs:
    visibility_timeout: 60          # at least the timeout of the functions reading it
    redrive: {dead_letter_queue: jobs-dlq, max_receive_count: 5}
  jobs-dlq: {}
  orders.fifo: {fifo: true, content_based_deduplication: true}

functions:
  orders-process:
    handler: orders:handler         # functions/orders.py: def handler(event, context)
    code_dir: functions             # relative to this file
    timeout: 30
    memory_mb: 256
    reserved_concurrency: 10        # null: share hub.concurrency; 0: throttle every call
    environment: {TABLE: orders, PORT: "8080"}
    async:                          # Event invocations
      max_retry_attempts: 2
      max_event_age: 21600
      on_success: "file:out/orders-ok.jsonl"
      on_failure: "queue:jobs-dlq"
  clicks-count:
    handler: clicks.handler         # Lambda's module.function form works too
    code_dir: functions
    runtime: process                # a warm pool of worker processes; memory_mb enforced
    memory_mb: 512
  audit:
    handler: audit:handler
    code_dir: functions

sources:                            # triggers and event source mappings, by name
  orders-from-kafka:
    type: kafka
    connection: kafka-main
    topics: [orders]
    function: orders-process
    starting_position: latest
    batch_window: 1
    filters: [{value: {kind: [order]}}]
    on_failure: "kafka:kafka-main/orders-failed"
  clicks-in:
    type: stream
    stream: clicks
    function: clicks-count
    parallelization_factor: 2
    bisect_on_error: true
    max_retry_attempts: 3
    report_batch_item_failures: true
    on_failure: "file:out/clicks-failed.jsonl"
  jobs-in:
    type: queue
    queue: jobs
    function: orders-process
    max_concurrency: 5
    report_batch_item_failures: true
  tasks-from-rabbit:
    type: rabbitmq
    connection: rabbit
    queue: tasks
    function: orders-process
    max_receive_count: 5
    declare: {queue_type: quorum}
  orders-api:
    type: http
    route: "POST /orders/{id}"
    function: orders-process
    auth: {tokens: ["${API_TOKEN:-change-me}"]}
    cors: {allow_origins: ["*"], allow_methods: [POST], allow_headers: [content-type]}
  uploads:
    type: files
    root: buckets
    bucket: uploads
    function: audit
    events: ["s3:ObjectCreated:*"]
    suffix: .jpg
  nightly:
    type: schedule
    expression: "cron(0 2 * * ? *)"
    timezone: Europe/Paris
    function: audit
"""
