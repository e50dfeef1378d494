"""Secrets never reach the log: by key, inside URLs, and every secret of the config."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from eventhub.config.loader import parse_config
from eventhub.logs import MASK, configure_logging, forget_secrets, redact_secrets, remember_secrets
from eventhub.runtime import funclog


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    """configure_logging sets process-wide state (structlog, the function-line sink, a
    handler on the root logger): put all of it back so later tests see none of it."""
    forget_secrets()
    root = logging.getLogger()
    handlers, sink = list(root.handlers), funclog.sink()
    yield
    forget_secrets()
    structlog.reset_defaults()
    root.handlers[:] = handlers
    funclog.install_sink(sink)


def redact(**event: Any) -> dict[str, Any]:
    return dict(redact_secrets(None, "info", dict(event)))


@pytest.mark.parametrize(
    "key", ["password", "sasl_password", "Authorization", "api_key", "client-secret", "token"]
)
def test_secret_looking_keys_are_masked(key: str) -> None:
    assert redact(**{key: "hunter2", "event": "x"}) == {key: MASK, "event": "x"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amqp://user:pa55@rabbit:5672/vh", "amqp://user:***@rabbit:5672/vh"),
        ("connect http://bob:s3cr%2Ft@host/path then", "connect http://bob:***@host/path then"),
        ("https://:tok@h", "https://:***@h"),
        ("amqps://u:with/slash@h/", "amqps://u:***@h/"),
        ("a amqp://a:b@x and kafka://c:d@y", "a amqp://a:***@x and kafka://c:***@y"),
    ],
)
def test_passwords_in_urls_are_masked_in_any_value(text: str, expected: str) -> None:
    assert redact(event=text, detail=text) == {"event": expected, "detail": expected}


@pytest.mark.parametrize(
    "text",
    ["http://host:8080/path", "amqp://guest@rabbit/", "plain text: with colon @ at", "a://b"],
)
def test_urls_without_password_are_untouched(text: str) -> None:
    assert redact(event=text) == {"event": text}


def test_nested_values_are_scrubbed() -> None:
    event = redact(
        event="e",
        errors=["bad amqp://u:p4ss@h/", {"token": "abc", "url": "http://u:p4ss@h"}],
    )
    assert event["errors"] == ["bad amqp://u:***@h/", {"token": MASK, "url": "http://u:***@h"}]


def test_remembered_config_secrets_are_masked_anywhere() -> None:
    config = parse_config(
        """
version: 1
hub:
  auth: {tokens: {ci: {secret: tok-Zx81-secret}}}
connections:
  rabbit: {type: rabbitmq, url: "amqp://svc:Pa%40ss-991@rabbit:5672/"}
  kafka: {type: kafka, bootstrap_servers: k:9092, security_protocol: SASL_SSL,
          sasl_mechanism: PLAIN, sasl_username: u, sasl_password: kafka-pw-77}
""",
        {},
    )
    remember_secrets(config)
    event = redact(
        event="handler printed tok-Zx81-secret and Pa@ss-991 and Pa%40ss-991, kafka-pw-77",
        other=["svc is a user name, not a secret"],
    )
    assert event == {
        "event": "handler printed *** and *** and ***, ***",
        "other": ["svc is a user name, not a secret"],
    }


def test_short_secrets_are_masked_only_by_key_and_url() -> None:
    config = parse_config(
        'version: 1\nconnections: {r: {type: rabbitmq, url: "amqp://u:ab@h/"}}\n', {}
    )
    remember_secrets(config)
    assert redact(event="about amqp://u:ab@h/") == {"event": "about amqp://u:***@h/"}


def test_json_lines_carry_no_secret_and_tracebacks_are_scrubbed() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    log = structlog.get_logger("test")
    try:
        raise ConnectionError("cannot reach amqp://svc:very-secret@rabbit/")
    except ConnectionError:
        log.exception("connect failed", url="amqp://svc:very-secret@rabbit/")
    line = json.loads(out.getvalue())
    assert "very-secret" not in out.getvalue()
    assert line["url"] == "amqp://svc:***@rabbit/"
    assert "ConnectionError" in line["exception"]
