"""Stream and Kafka source settings: bad values get errors that name the key."""

from __future__ import annotations

import pytest

from eventhub.config.errors import ConfigError
from eventhub.config.loader import parse_config

BASE = """
version: 1
connections:
  main: {type: kafka, bootstrap_servers: "localhost:9092"}
streams:
  clicks: {shards: 2}
functions:
  f: {handler: "m:handler"}
sources:
  s:
"""


def problems(source: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + "    " + source + "\n", {})
    return caught.value.render()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "{type: stream, stream: clicks, function: f, starting_position: beginning}",
            "sources.s.starting_position: must be one of 'trim_horizon', 'latest' or "
            "'at_timestamp'",
        ),
        ("{type: stream, stream: clicks, function: f, batch_size: 0}", "batch_size: must be >= 1"),
        (
            "{type: stream, stream: clicks, function: f, batch_size: 10001}",
            "sources.s.batch_size: must be <= 10000",
        ),
        (
            "{type: stream, stream: clicks, function: f, max_record_age: 30}",
            "sources.s.max_record_age: must be -1 or between 60 and 604800",
        ),
        (
            "{type: stream, stream: clicks, function: f, max_retry_attempts: -2}",
            "sources.s.max_retry_attempts: must be >= -1",
        ),
        (
            "{type: stream, stream: clicks, function: f, parallelization_factor: 11}",
            "sources.s.parallelization_factor: must be <= 10",
        ),
        (
            "{type: stream, stream: clicks, function: f, tumbling_window: 901}",
            "sources.s.tumbling_window: must be <= 900",
        ),
        (
            "{type: stream, stream: clicks, function: f, batch_window: 301}",
            "sources.s.batch_window: must be <= 300",
        ),
        (
            "{type: stream, stream: clicks, function: f, tumbling_window: 60, "
            "parallelization_factor: 2}",
            "sources.s.tumbling_window: needs parallelization_factor 1",
        ),
        (
            "{type: stream, stream: clicks, function: f, starting_position: at_timestamp}",
            "sources.s.starting_position: at_timestamp needs starting_timestamp",
        ),
        (
            "{type: stream, stream: nope, function: f}",
            "sources.s.stream: stream 'nope' is not defined under streams",
        ),
        (
            "{type: stream, stream: clicks, function: f, on_failure: 'stream:nope'}",
            "sources.s.on_failure: stream 'nope' is not defined under streams",
        ),
        (
            "{type: kafka, connection: other, topics: [t], function: f}",
            "sources.s.connection: connection 'other' is not defined",
        ),
        (
            "{type: kafka, connection: main, topics: [], function: f}",
            "sources.s.topics: must have at least 1 item",
        ),
        (
            "{type: kafka, connection: main, topics: ['bad topic'], function: f}",
            "sources.s.topics[0]: 'bad topic' is not valid: must be a topic name",
        ),
        (
            "{type: kafka, connection: main, topics: [t], function: f, on_failure: 'kafka:nope/t'}",
            "sources.s.on_failure: connection 'nope' is not defined under connections",
        ),
    ],
)
def test_bad_settings_name_the_key(source, expected):
    assert expected in problems(source)


def test_good_settings_load():
    config = parse_config(
        BASE + "    {type: kafka, connection: main, topics: [a, b], function: f, "
        "event_format: kinesis, tumbling_window: 30, on_failure: 'kafka:main/dead'}\n",
        {},
    )
    source = config.sources["s"]
    assert source.type == "kafka"
    assert source.topics == ["a", "b"]
