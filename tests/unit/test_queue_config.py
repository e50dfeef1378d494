"""Configuration of queues and queue sources: ranges, cross references, RabbitMQ topology."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from connectors.rabbitmq_topology import dead_letter_names
from eventhub.config import ConfigError, parse_config
from eventhub.config.sources import RabbitMQSourceConfig


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(data), {})
    return info.value.render()


def base(**source: Any) -> dict[str, Any]:
    return {
        "connections": {"rabbit": {"type": "rabbitmq", "url": "amqp://guest:guest@h:5672/"}},
        "queues": {"jobs": {"visibility_timeout": 30}, "jobs.fifo": {"fifo": True}},
        "functions": {"f": {"handler": "m:handler"}},
        "sources": {"s": {"type": "queue", "queue": "jobs", "function": "f", **source}},
    }


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"batch_size": 0}, "sources.s.batch_size"),
        ({"batch_size": 10001}, "sources.s.batch_size"),
        ({"max_concurrency": 1}, "sources.s.max_concurrency"),
        ({"max_concurrency": 1001}, "sources.s.max_concurrency"),
        ({"batch_window": -1}, "sources.s.batch_window"),
        ({"batch_size": 11}, "sources.s.batch_size: over 10 needs batch_window >= 1"),
        ({"batch_size": 11, "batch_window": 0.5}, "must be >= 1 when batch_size is over 10"),
        ({"queue": "jobs.fifo", "batch_size": 11, "batch_window": 1}, "must be <= 10 for a FIFO"),
        ({"queue": "nope"}, "queue 'nope' is not defined"),
        ({"filters": [{"body": "not-a-list"}]}, "sources.s.filters"),
    ],
)
def test_queue_source_errors_name_the_key(source: dict[str, Any], expected: str) -> None:
    assert expected in problems(base(**source))


def test_function_timeout_over_visibility_is_rejected() -> None:
    data = base()
    data["functions"]["f"]["timeout"] = 31
    assert "exceeds the visibility timeout" in problems(data)


def test_valid_queue_source() -> None:
    config = parse_config(yaml.safe_dump(base(batch_size=100, batch_window=1)), {})
    assert config.sources["s"].batch_size == 100


def rabbit(**fields: Any) -> dict[str, Any]:
    data = base()
    data["sources"]["s"] = {
        "type": "rabbitmq",
        "connection": "rabbit",
        "queue": "q",
        "function": "f",
        **fields,
    }
    return data


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"declare": {"queue_type": "quorum", "durable": False}}, "always durable"),
        ({"max_receive_count": 0}, "sources.s.max_receive_count"),
        ({"dead_letter": "nowhere"}, "sources.s.dead_letter"),
        ({"dead_letter": "queue:ghost"}, "queue 'ghost' is not defined"),
        ({"connection": "ghost"}, "connection 'ghost' is not defined"),
        ({"event_format": "kinesis"}, "sources.s.event_format"),
    ],
)
def test_rabbitmq_source_errors(fields: dict[str, Any], expected: str) -> None:
    assert expected in problems(rabbit(**fields))


def test_rabbitmq_url_must_be_amqp() -> None:
    data = base()
    data["connections"]["rabbit"]["url"] = "http://h"
    assert "must start with amqp:// or amqps://" in problems(data)


def test_dead_letter_names() -> None:
    def names(**fields: Any) -> tuple[str | None, str | None]:
        return dead_letter_names(
            RabbitMQSourceConfig.model_validate(
                {"type": "rabbitmq", "connection": "c", "queue": "q", "function": "f", **fields}
            )
        )

    assert names() == (None, None)
    assert names(declare={}) == (None, None)
    assert names(declare={}, max_receive_count=3) == ("q.dlx", "q.dlq")
    assert names(declare={"dead_letter_exchange": "x", "dead_letter_queue": "y"}) == ("x", "y")
