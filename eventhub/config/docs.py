"""The configuration reference (``docs/configuration.md``), generated from the models.

``python -m eventhub.config.docs > docs/configuration.md`` (``make docs``). Every table row
comes from a model field: its YAML key (alias), type, default, description and constraints
(ranges, lengths, patterns, choices). Sections follow the file: the top level, then each
top-level key; a mapping whose entries are chosen by ``type`` (connections, sources) gets
the keys every type has first, then one section per type. The output depends only on the
models and the text at the end of this module, so it can be checked in and compared.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
import yaml
from pydantic import AfterValidator, BaseModel, SecretStr
from pydantic.fields import FieldInfo

from eventhub.config import destinations
from eventhub.config.base import PATTERN_MEANINGS, Model
from eventhub.config.models import NAME_PATTERN
from eventhub.config.root import EventhubConfig
from eventhub.config.schema import (
    is_model,
    strip_annotated,
    tagged_models,
    union_members,
    yaml_key,
)

HEADER = (
    "<!-- Generated from the models in eventhub/config/ by `python -m eventhub.config.docs`"
    " (`make docs`). Do not edit by hand. -->\n"
)


@dataclass(frozen=True)
class Section:
    """One table: the keys of ``model`` at ``path`` of the file (for one ``type``: ``label``)."""

    path: str
    model: type[BaseModel]
    label: str = ""
    skip: frozenset[str] = frozenset()
    children: list[Section] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.path} ({self.label})" if self.label else self.path

    @property
    def heading(self) -> str:
        return f"`{self.path}` ({self.label})" if self.label else f"`{self.path}`"

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "top-level"


# --- walking the models --------------------------------------------------------------------


def own_fields(model: type[BaseModel], skip: frozenset[str] = frozenset()) -> list[str]:
    """Field names: ``type`` first, then a class's own fields before the inherited ones."""
    names: list[str] = []
    for cls in model.__mro__:
        for name in cls.__dict__.get("__annotations__", {}):
            if name in model.model_fields and name not in names and name not in skip:
                names.append(name)
    return sorted(names, key=lambda name: name != "type")


def _common_base(models: list[type[BaseModel]]) -> type[BaseModel] | None:
    for cls in models[0].__mro__:
        if cls is Model or not is_model(cls):
            return None
        if all(issubclass(m, cls) for m in models):
            return cls
    return None


def _tagged_sections(path: str, tagged: dict[str, type[BaseModel]]) -> list[Section]:
    base = _common_base(list(tagged.values()))
    out: list[Section] = []
    skip: frozenset[str] = frozenset()
    if base is not None:
        skip = frozenset(base.model_fields)
        out.append(walk(base, path, "every type"))
    out.extend(walk(model, path, f"type: {tag}", skip) for tag, model in tagged.items())
    return out


def _model_of(tp: Any) -> type[BaseModel] | None:
    tp, _ = strip_annotated(tp)
    return tp if is_model(tp) else None


def child_sections(annotation: Any, path: str, label: str) -> list[Section]:
    """Sections of the models a field holds: one mapping, or a mapping of named ones."""
    out: list[Section] = []
    for member in union_members(annotation):
        member, _ = strip_annotated(member)
        args = get_args(member)
        if is_model(member):
            out.append(walk(member, path, label))
        elif get_origin(member) is dict and tagged_models(args[1]):
            out.extend(_tagged_sections(f"{path}.NAME", tagged_models(args[1])))
        elif get_origin(member) is dict and (model := _model_of(args[1])) is not None:
            out.append(walk(model, f"{path}.NAME", label))
        elif get_origin(member) is list and (model := _model_of(args[0])) is not None:
            out.append(walk(model, f"{path}[]", label))
    return out


def walk(
    model: type[BaseModel], path: str, label: str = "", skip: frozenset[str] = frozenset()
) -> Section:
    """The section of ``model`` at ``path`` with the sections of the models below it; the
    sections below one ``type`` carry its label (``sources.NAME.cors (type: http)``)."""
    section = Section(path, model, label, skip)
    inherited = label if label.startswith("type:") else ""
    for name in own_fields(model, skip):
        key = yaml_key(name, model)
        annotation = model.model_fields[name].annotation
        child_path = f"{path}.{key}" if path else key
        section.children.extend(child_sections(annotation, child_path, inherited))
    return section


def all_sections() -> list[Section]:
    """Every section, the top level first, depth first."""
    out: list[Section] = []

    def visit(section: Section) -> None:
        out.append(section)
        for child in section.children:
            visit(child)

    visit(walk(EventhubConfig, ""))
    return out


# --- one field -----------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    """A value as written in YAML (quoted when YAML would read the bare text otherwise)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and (value == "" or yaml.safe_load(value) != value):
        return json.dumps(value)
    return str(value)


def _choices(values: list[str]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _flat(metadata: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in metadata:
        out.extend(_flat(item.metadata) if isinstance(item, FieldInfo) else [item])
    return out


_NAMES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    datetime: "date-time",
    SecretStr: "string (secret)",
    Any: "any",
}


def type_text(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A field's type in words: ``integer``, ``list of string``, ``"1.0" or "2.0"``."""
    base, _ = strip_annotated(annotation)
    nullable = get_origin(base) in (Union, UnionType) and type(None) in get_args(base)
    texts = [_one_type(member, metadata or []) for member in union_members(annotation)]
    return _choices([*texts, "null"] if nullable else texts)


def _one_type(tp: Any, outer: list[Any]) -> str:
    tp, metadata = strip_annotated(tp)
    metadata = _flat([*outer, *metadata])
    if any(isinstance(m, AfterValidator) and m.func is destinations._check for m in metadata):
        return "[destination](#destinations)"
    if any(getattr(m, "pattern", None) == NAME_PATTERN for m in metadata):
        return "name"
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return _choices([f"`{_scalar(v)}`" for v in args])
    if origin is list:
        return f"list of {_one_type(args[0], [])}"
    if origin is dict:
        if args[1] is Any:
            return "mapping"
        return f"mapping of {_one_type(args[0], [])} to {_one_type(args[1], [])}"
    if tagged_models(tp):
        return "mapping with a `type`"
    if is_model(tp):
        return "mapping"
    return _NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "`{}`"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    return f"`{_scalar(value)}`"


def constraint_text(info: FieldInfo) -> str:
    """Ranges, lengths and patterns of a field and of the items and keys it holds."""
    is_list = any(get_origin(strip_annotated(m)[0]) is list for m in union_members(info.annotation))
    parts = [_constraints(_flat(info.metadata), "item" if is_list else "character")]
    for member in union_members(info.annotation):
        member, metadata = strip_annotated(member)
        parts.append(_constraints(_flat(metadata), "character"))
        args = get_args(member)
        if get_origin(member) in (list, dict):
            inner = _constraints(_flat(strip_annotated(args[0])[1]), "character")
            prefix = "Each item" if get_origin(member) is list else "Each key"
            parts.append(f"{prefix} {inner[0].lower()}{inner[1:]}" if inner else "")
    return " ".join(p for p in parts if p)


def _constraints(metadata: list[Any], unit: str) -> str:
    bounds: dict[str, Any] = {}
    out: list[str] = []
    for item in metadata:
        if isinstance(item, at.BaseMetadata):
            for attr in ("ge", "gt", "le", "lt", "min_length", "max_length"):
                if getattr(item, attr, None) is not None:
                    bounds[attr] = getattr(item, attr)
        regex = getattr(item, "pattern", None)
        if regex and regex != NAME_PATTERN:
            meaning = PATTERN_MEANINGS.get(regex)
            out.append(f"Must be {meaning}." if meaning else f"Must match `{regex}`.")
    return " ".join([*_bounds_text(bounds, unit), *out])


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def _bounds_text(bounds: dict[str, Any], unit: str) -> list[str]:
    out: list[str] = []
    low, high = bounds.get("ge", bounds.get("gt")), bounds.get("le", bounds.get("lt"))
    if "ge" in bounds and "le" in bounds:
        out.append(f"Range {_scalar(low)} to {_scalar(high)}.")
    else:
        if low is not None:
            out.append(f"{'At least' if 'ge' in bounds else 'Above'} {_scalar(low)}.")
        if high is not None:
            out.append(f"{'At most' if 'le' in bounds else 'Below'} {_scalar(high)}.")
    shortest, longest = bounds.get("min_length"), bounds.get("max_length")
    if shortest is not None and longest is not None:
        out.append(f"{shortest} to {_plural(longest, unit)}.")
    elif shortest is not None:
        out.append(f"At least {_plural(shortest, unit)}.")
    elif longest is not None:
        out.append(f"At most {_plural(longest, unit)}.")
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def row(model: type[BaseModel], name: str, link: tuple[str, str] | None) -> str:
    """``| key | type | default | description |`` of one field; ``link``: (text, anchor)."""
    info = model.model_fields[name]
    kind = type_text(info.annotation, info.metadata)
    if link is not None:
        kind = f"{kind}, see [{link[0]}](#{link[1]})"
    description = " ".join(p for p in (info.description or "", constraint_text(info)) if p)
    return f"| `{yaml_key(name, model)}` | {_cell(kind)} | {_cell(default_text(info))} | " + (
        f"{_cell(description)} |"
    )


# --- the document --------------------------------------------------------------------------


def _links(section: Section, top: bool) -> dict[str, tuple[str, str]]:
    """Where the type cell of a key points: its group (top level) or its first section."""
    links: dict[str, tuple[str, str]] = {}
    for child in section.children:
        key = child.path.removeprefix(f"{section.path}." if section.path else "")
        key = key.split(".")[0].removesuffix("[]")
        target = (f"`{key}`", key) if top else (child.heading, child.anchor)
        links.setdefault(key, target)
    return links


def _table(section: Section, top: bool = False) -> list[str]:
    links = _links(section, top)
    names = own_fields(section.model, section.skip)
    rows = [row(section.model, n, links.get(yaml_key(n, section.model))) for n in names]
    return ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |", *rows, ""]


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def render_section(section: Section, level: int) -> list[str]:
    lines = [f'<a id="{section.anchor}"></a>', "", f"{'#' * level} {section.heading}", ""]
    intro = _doc(section.model)
    if section.skip:
        common = Section(section.path, section.model, "every type").anchor
        intro += f" Takes the keys of [every type](#{common}) too."
    lines += [intro, "", *_table(section)]
    example = SECTION_EXAMPLES.get(section.title)
    if example is not None:
        lines += ["Example:", "", "```yaml", example.rstrip("\n"), "```", ""]
    for child in section.children:
        lines += render_section(child, 3)
    return lines


def _groups(root: Section) -> list[tuple[str, list[Section]]]:
    """The sections below each top-level key, in the order of the keys."""
    groups: dict[str, list[Section]] = {}
    for child in root.children:
        groups.setdefault(child.path.split(".")[0], []).append(child)
    return list(groups.items())


def render() -> str:
    """The whole reference, as Markdown."""
    root = walk(EventhubConfig, "")
    lines = [HEADER, INTRO.strip("\n"), "", *_contents(root), "", *_destinations()]
    lines += ['<a id="top-level"></a>', "", "## Top level", "", _doc(root.model), ""]
    lines += _table(root, top=True)
    for key, sections in _groups(root):
        if len(sections) == 1 and sections[0].path == key:
            lines += render_section(sections[0], 2)  # a single mapping: hub
            continue
        description = EventhubConfig.model_fields[key].description or ""
        lines += [f'<a id="{key}"></a>', "", f"## `{key}`", "", description, ""]
        for section in sections:
            lines += render_section(section, 3)
    lines += ["## Complete example", "", "```yaml", EXAMPLE.rstrip("\n"), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _destinations() -> list[str]:
    rows = [f"| {form} | {_cell(text)} |" for form, text in DESTINATION_FORMS]
    return [DESTINATIONS_INTRO.strip("\n"), "", "| URI | Delivers |", "| --- | --- |", *rows, ""]


def _contents(root: Section) -> list[str]:
    lines = ["## Contents", "", "- [Rules of the file](#rules-of-the-file)"]
    lines += ["- [Destinations](#destinations)", "- [Top level](#top-level)"]

    def add(section: Section, depth: int) -> None:
        lines.append(f"{'  ' * depth}- [{section.heading}](#{section.anchor})")
        for child in section.children:
            add(child, depth + 1)

    for key, sections in _groups(root):
        if len(sections) == 1 and sections[0].path == key:
            add(sections[0], 0)
            continue
        lines.append(f"- [`{key}`](#{key})")
        for section in sections:
            add(section, 1)
    lines.append("- [Complete example](#complete-example)")
    return lines


def examples() -> list[str]:
    """Every YAML example of the reference; each one is a complete, valid file."""
    return [*SECTION_EXAMPLES.values(), EXAMPLE]


# --- the text around the tables ----------------------------------------------------------------

INTRO = """
# Configuration reference

eventhub reads one YAML file. Commands take it from `-c FILE`, else `$EVENTHUB_CONFIG`,
else `./eventhub.yaml`, else `config/eventhub.yaml`. `eventhub validate -c FILE` checks a
file without starting anything and prints every problem as `FILE:LINE: path: message`
(exit status 1). Nothing starts on an invalid file; a reload (SIGHUP, `POST /reload` on
the admin listener, or `hub.watch_config`) with an invalid file keeps the running
configuration.

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
  letters, digits, `.`, `_` or `-`. A queue is FIFO exactly when its name ends in
  `.fifo`, as in SQS.
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


if __name__ == "__main__":
    sys.stdout.write(render())
