"""Valid configuration files: expansion of ${VAR}, defaults, aliases and relative paths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventhub.config import ConfigError, EventhubConfig, load_config, parse_config
from eventhub.config.models import KafkaConnection
from eventhub.config.sources import (
    KafkaSourceConfig,
    QueueSourceConfig,
    RabbitMQSourceConfig,
    StreamSourceConfig,
)

REPO = Path(__file__).resolve().parents[2]


def parse(text: str, env: dict[str, str] | None = None) -> EventhubConfig:
    return parse_config(text, env or {})


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${NAME}", {"NAME": "orders"}, "orders"),
        ("${NAME:-fallback}", {"NAME": "orders"}, "orders"),
        ("${NAME:-fallback}", {}, "fallback"),
        ("${NAME:-fallback}", {"NAME": ""}, "fallback"),  # as the shell: empty takes the default
        ("${NAME:-}", {}, ""),
        ("${NAME}", {"NAME": ""}, ""),
        ("pre-${A}-${B:-b}-post", {"A": "a"}, "pre-a-b-post"),
        ("$$", {}, "$"),
        ("$${NAME}", {"NAME": "x"}, "${NAME}"),  # $$ escapes: the reference stays literal
        ("cost: $5", {}, "cost: $5"),  # a lone $ is kept
        ("${NAME:-a:b}", {}, "a:b"),
    ],
)
def test_environment_references_are_expanded(
    value: str, env: dict[str, str], expected: str
) -> None:
    text = f"functions:\n  f:\n    handler: f:handler\n    environment: {{V: '{value}'}}\n"
    assert parse(text, env).functions["f"].environment["V"] == expected


def test_expanded_values_are_validated_as_their_field_type() -> None:
    text = "functions:\n  f:\n    handler: f:handler\n    timeout: ${TIMEOUT:-5}\n"
    assert parse(text).functions["f"].timeout == 5
    assert parse(text, {"TIMEOUT": "12.5"}).functions["f"].timeout == 12.5


def test_references_in_comments_and_keys_are_left_alone() -> None:
    text = (
        "# token: ${NEVER_SET}\n"
        "functions:\n"
        "  f:\n"
        "    handler: f:handler\n"
        "    environment: {LITERAL: x}  # ${NEVER_SET_EITHER}\n"
    )
    assert parse(text).functions["f"].environment == {"LITERAL": "x"}
    with pytest.raises(ConfigError) as info:
        parse("functions:\n  ${NAME}: {handler: f:handler}\n", {"NAME": "f"})
    assert info.value.issues[0].path == "functions.${NAME}"


def test_keys_are_names_as_written() -> None:
    # YAML would read these keys as the integer 123 and the boolean True.
    text = "queues: {123: {}, on: {}}\nfunctions: {f: {handler: f:handler, environment: {Y: x}}}\n"
    assert list(parse(text).queues) == ["123", "on"]


def test_an_empty_file_is_all_defaults() -> None:
    config = parse("")
    assert config.version == 1
    assert (config.functions, config.sources, config.queues) == ({}, {}, {})
    assert config.hub.listen == "127.0.0.1:8080"
    assert config.hub.admin_listen == "127.0.0.1:8081"


def test_defaults_are_applied() -> None:
    text = """\
streams:
  s: {}
queues:
  q: {}
connections:
  k: {type: kafka, bootstrap_servers: "a:1,b:2"}
  r: {type: rabbitmq, url: "amqp://localhost/"}
functions:
  f: {handler: f:handler}
sources:
  from-stream: {type: stream, stream: s, function: f}
  from-kafka: {type: kafka, connection: k, topics: [t], function: f}
  from-queue: {type: queue, queue: q, function: f}
  from-rabbit: {type: rabbitmq, connection: r, queue: jobs, function: f}
"""
    config = parse(text)
    hub = config.hub
    assert (hub.state_dir, hub.region, hub.account_id) == (".eventhub", "us-east-1", "0" * 12)
    assert (hub.log_level, hub.shutdown_grace, hub.auth) == ("info", 30, None)
    f = config.functions["f"]
    assert (f.code_dir, f.runtime, f.timeout, f.memory_mb) == (".", "inline", 3, 128)
    assert (f.reserved_concurrency, f.environment) == (None, {})
    assert (f.async_.max_retry_attempts, f.async_.max_event_age) == (2, 21600)
    assert (f.async_.on_success, f.async_.on_failure) == (None, None)
    assert (config.streams["s"].shards, config.streams["s"].retention_hours) == (1, 24)
    q = config.queues["q"]
    assert (q.visibility_timeout, q.delay_seconds, q.retention_seconds) == (30, 0, 345600)
    assert (q.fifo, q.redrive) == (False, None)
    stream = config.sources["from-stream"]
    assert isinstance(stream, StreamSourceConfig)
    assert (stream.batch_size, stream.starting_position, stream.event_format) == (
        100,
        "trim_horizon",
        "kinesis",
    )
    assert (stream.max_retry_attempts, stream.max_record_age, stream.bisect_on_error) == (
        -1,
        -1,
        False,
    )
    assert (stream.enabled, stream.batch_window, stream.filters) == (True, 0, [])
    kafka = config.sources["from-kafka"]
    assert isinstance(kafka, KafkaSourceConfig)
    assert (kafka.batch_size, kafka.event_format, kafka.group_id) == (100, "kafka", None)
    queue = config.sources["from-queue"]
    assert isinstance(queue, QueueSourceConfig)
    assert (queue.batch_size, queue.max_concurrency, queue.event_format) == (10, 5, "sqs")
    rabbit = config.sources["from-rabbit"]
    assert isinstance(rabbit, RabbitMQSourceConfig)
    assert (rabbit.max_receive_count, rabbit.event_format, rabbit.declare) == (None, "rmq", None)
    kafka_connection = config.connections["k"]
    assert isinstance(kafka_connection, KafkaConnection)
    assert kafka_connection.servers == ["a:1", "b:2"]


def test_async_is_the_yaml_key_of_async_settings() -> None:
    text = """\
queues:
  dlq: {}
functions:
  f:
    handler: f:handler
    async: {max_retry_attempts: 0, max_event_age: 60, on_failure: "queue:dlq"}
"""
    settings = parse(text).functions["f"].async_
    assert (settings.max_retry_attempts, settings.max_event_age) == (0, 60)
    assert settings.on_failure == "queue:dlq"


def test_lambda_style_handler_is_split_like_module_colon_attribute() -> None:
    text = "functions:\n  a: {handler: pkg.mod.handler}\n  b: {handler: 'pkg.mod:handler'}\n"
    functions = parse(text).functions
    assert functions["a"].module_and_attribute == ("pkg.mod", "handler")
    assert functions["b"].module_and_attribute == ("pkg.mod", "handler")


def test_starting_timestamp_without_zone_is_utc() -> None:
    text = """\
streams: {s: {}}
functions: {f: {handler: f:handler}}
sources:
  s:
    type: stream
    stream: s
    function: f
    starting_position: at_timestamp
    starting_timestamp: 2024-05-01T12:00:00
"""
    source = parse(text).sources["s"]
    assert isinstance(source, StreamSourceConfig)
    assert source.starting_timestamp == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_routes_with_different_methods_or_any_may_share_a_path() -> None:
    text = """\
functions: {f: {handler: f:handler}}
sources:
  get: {type: http, route: "GET /items/{id}", function: f}
  put: {type: http, route: "PUT /items/{id}", function: f}
  any: {type: http, route: "ANY /items/{id}", function: f}
  default: {type: http, route: "$default", function: f}
"""
    assert len(parse(text).sources) == 4


def test_relative_paths_resolve_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    file = config_dir / "eventhub.yaml"
    file.write_text("hub: {state_dir: state}\nfunctions: {f: {handler: f:handler, code_dir: fn}}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    loaded = load_config(Path("..") / "conf" / "eventhub.yaml")
    assert loaded.path.resolve() == file.resolve()
    assert loaded.path.is_absolute()
    assert loaded.base_dir == config_dir.resolve()
    assert loaded.state_dir == config_dir.resolve() / "state"
    assert loaded.resolve(loaded.config.functions["f"].code_dir) == config_dir.resolve() / "fn"
    assert loaded.resolve("../data/x.jsonl") == (tmp_path / "data" / "x.jsonl").resolve()
    assert loaded.resolve("/abs/path") == Path("/abs/path")
    assert loaded.resolve("~/files") == tmp_path / "home" / "files"


def test_a_symlinked_config_is_read_through_its_name_and_relative_paths_follow_the_file(
    tmp_path: Path,
) -> None:
    # the layout of a Kubernetes ConfigMap volume: the name -> ..data -> a versioned directory
    mount = tmp_path / "mount"
    first, second = mount / "..v1", mount / "..v2"
    for version, timeout in ((first, 3), (second, 7)):
        version.mkdir(parents=True)
        (version / "eventhub.yaml").write_text(
            f"functions: {{f: {{handler: f:handler, code_dir: fn, timeout: {timeout}}}}}\n"
        )
    (mount / "..data").symlink_to("..v1")
    (mount / "eventhub.yaml").symlink_to("..data/eventhub.yaml")
    loaded = load_config(mount / "eventhub.yaml")
    assert loaded.path == mount / "eventhub.yaml"
    assert loaded.resolve("fn") == first.resolve() / "fn"
    (mount / "..data-new").symlink_to("..v2")
    (mount / "..data-new").rename(mount / "..data")  # the atomic swap the kubelet does
    reloaded = load_config(loaded.path)
    assert reloaded.config.functions["f"].timeout == 7
    assert reloaded.resolve("fn") == second.resolve() / "fn"


def test_default_state_dir_is_next_to_the_config(tmp_path: Path) -> None:
    file = tmp_path / "eventhub.yaml"
    file.write_text("version: 1\n")
    assert load_config(file).state_dir == tmp_path.resolve() / ".eventhub"


def test_load_config_reads_the_environment_given(tmp_path: Path) -> None:
    file = tmp_path / "eventhub.yaml"
    file.write_text("hub: {region: '${REGION}'}\n")
    assert load_config(file, env={"REGION": "eu-west-1"}).config.hub.region == "eu-west-1"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda d: d / "missing.yaml", "no such file", id="missing"),
        pytest.param(lambda d: d, "is a directory, not a file", id="directory"),
    ],
)
def test_unreadable_file_is_one_clear_problem(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {message}"


def test_non_utf8_file_is_reported(tmp_path: Path) -> None:
    file = tmp_path / "eventhub.yaml"
    file.write_bytes(b"hub: {region: '\xff'}\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert str(info.value).startswith(f"{file}: not UTF-8 text")


def test_shipped_demo_config_is_valid() -> None:
    loaded = load_config(REPO / "config" / "eventhub.yaml", env={})
    assert loaded.config.functions


def test_a_files_root_ending_in_the_bucket_name_is_the_bucket_directory(tmp_path):
    from pathlib import Path

    from eventhub.config.sources import FilesSourceConfig

    short = FilesSourceConfig(type="files", root="buckets", bucket="uploads", function="f")
    spec = FilesSourceConfig(type="files", root="buckets/uploads", bucket="uploads", function="f")
    assert short.bucket_directory(Path("/x/buckets")) == Path("/x/buckets/uploads")
    assert spec.bucket_directory(Path("/x/buckets/uploads")) == Path("/x/buckets/uploads")
