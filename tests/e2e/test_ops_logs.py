"""The daemon's log: JSON lines that parse, invocation lines with their ids, no secret."""

from __future__ import annotations

import json
import secrets
import signal

import pytest

from tests.support.daemon import wait_until

pytestmark = pytest.mark.e2e

LEAKY = """
import logging
import os

def handler(event, context):
    # What careless handler code does: print connection strings and credentials.
    print("connecting to amqp://svc:" + event["pw"] + "@db.internal:5672/orders")
    logging.getLogger("leaky").warning("retrying http://admin:%s@api.internal/v1", event["pw"])
    print("my token is", os.environ["EVENTHUB_CI_TOKEN"])
    print("rabbit password is", os.environ["RABBIT_PASSWORD"])
    return {"ok": True}
"""


def test_json_logs_carry_ids_and_never_a_secret(daemon_factory, write_functions):
    token = f"tok-{secrets.token_hex(8)}"
    rabbit_password = f"rmq-{secrets.token_hex(8)}"
    url_password = f"url-{secrets.token_hex(8)}"
    write_functions({"leaky": LEAKY})
    daemon = daemon_factory(
        {
            "hub": {"auth": {"tokens": {"ci": {"secret": "${EVENTHUB_CI_TOKEN}"}}}},
            "connections": {
                "rabbit": {
                    "type": "rabbitmq",
                    "url": "amqp://eventhub:${RABBIT_PASSWORD}@127.0.0.1:1/",
                }
            },
            "functions": {"leaky": {"handler": "leaky:handler", "code_dir": "functions"}},
        },
        env={"EVENTHUB_CI_TOKEN": token, "RABBIT_PASSWORD": rabbit_password},
    )
    denied, _, _ = daemon.invoke(
        "leaky", {"pw": url_password}, headers={"Authorization": "Bearer wrong-token-123"}
    )
    assert denied == 403
    status, _, body = daemon.invoke(
        "leaky", {"pw": url_password}, headers={"Authorization": f"Bearer {token}"}
    )
    assert (status, body) == (200, {"ok": True})
    daemon.signal(signal.SIGHUP)  # secrets stay masked across reloads
    wait_until(lambda: _has(daemon, "configuration reloaded"), message="reload")
    assert daemon.stop() == 0

    text = daemon.log_text()
    for secret in (token, rabbit_password, url_password):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # all parse
    invocation = [e for e in lines if "RequestId:" in e["event"] or e.get("stream")]
    assert len(invocation) >= 7  # START, four handler lines, END, REPORT
    assert all(e["function"] == "leaky" and e["request_id"] for e in invocation)
    printed = {e["event"] for e in lines if e.get("stream") in ("stdout", "log")}
    assert "connecting to amqp://svc:***@db.internal:5672/orders" in printed
    assert "my token is ***" in printed
    assert "rabbit password is ***" in printed
    assert any("http://admin:***@api.internal/v1" in line for line in printed)


def _has(daemon, event: str) -> bool:
    return any(e.get("event") == event for e in daemon.log_events())
