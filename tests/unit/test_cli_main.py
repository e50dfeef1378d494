"""The command line in-process: --help everywhere, sample events, argument errors."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.rabbit_mq_event import RabbitMQEvent
from aws_lambda_powertools.utilities.parser import models

from eventhub.cli.main import build_parser, main
from eventhub.events.samples import KINDS
from tests.support.ports import free_port


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple]:
    """Every command and sub-command of the parser, e.g. ("events", "generate")."""
    found: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found.extend(command_paths(sub, (*prefix, name)))
    return found


COMMANDS = command_paths(build_parser())


def test_the_foundation_commands_exist() -> None:
    for command in [("run",), ("validate",), ("invoke",), ("events", "generate"), ("status",)]:
        assert command in COMMANDS


@pytest.mark.parametrize("command", [(), *COMMANDS], ids=lambda c: " ".join(c) or "eventhub")
def test_every_command_has_help(command: tuple[str, ...], capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: eventhub")
    assert "--help" in out


def test_no_command_is_a_usage_error(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "usage: eventhub" in capsys.readouterr().err


def generate(kind: str, *options: str, capsys: Any) -> Any:
    assert main(["events", "generate", kind, *options]) == 0
    return json.loads(capsys.readouterr().out)


MODELS = {
    "sqs": models.SqsModel,
    "kinesis": models.KinesisDataStreamModel,
    "kafka": models.KafkaSelfManagedEventModel,
    "s3-put": models.S3Model,
    "s3-delete": models.S3Model,
    "scheduled": models.EventBridgeModel,
    "apigw-v1": models.APIGatewayProxyEventModel,
    "apigw-v2": models.APIGatewayProxyEventV2Model,
}


def test_every_kind_has_a_powertools_check() -> None:
    assert set(MODELS) | {"rmq"} == set(KINDS)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_generated_events_validate_with_powertools_models(kind: str, capsys: Any) -> None:
    event = generate(kind, capsys=capsys)
    MODELS[kind].model_validate(event)


def test_generated_rmq_event_reads_with_powertools(capsys: Any) -> None:
    event = RabbitMQEvent(generate("rmq", "--body", '{"n": 1}', capsys=capsys))
    assert event.event_source == "aws:rmq"
    [(queue, messages)] = event.rmq_messages_by_queue.items()
    assert queue == "eventhub-queue::/"
    assert messages[0].json_data == {"n": 1}
    assert messages[0].basic_properties.content_type


def test_options_shape_the_event(capsys: Any) -> None:
    sqs = models.SqsModel.model_validate(
        generate("sqs", "--body", "hi", "--queue", "jobs", "--count", "3", capsys=capsys)
    )
    assert [r.body for r in sqs.Records] == ["hi"] * 3
    assert sqs.Records[0].eventSourceARN.endswith(":jobs")
    kinesis = generate("kinesis", "--data", "abc", "--partition-key", "k1", capsys=capsys)
    record = kinesis["Records"][0]["kinesis"]
    assert base64.b64decode(record["data"]) == b"abc"
    assert record["partitionKey"] == "k1"
    put = generate(
        "s3-put", "--bucket", "uploads", "--key", "a b.jpg", "--size", "5", capsys=capsys
    )
    assert put["Records"][0]["s3"]["bucket"]["name"] == "uploads"
    assert put["Records"][0]["s3"]["object"]["key"] == "a+b.jpg"
    assert put["Records"][0]["s3"]["object"]["size"] == 5
    v2 = generate("apigw-v2", "--method", "POST", "--path", "/orders/7?x=1", capsys=capsys)
    assert v2["requestContext"]["http"]["method"] == "POST"
    assert v2["rawPath"] == "/orders/7"
    region = generate("scheduled", "--region", "eu-west-1", "--account-id", "1" * 12, capsys=capsys)
    assert region["region"] == "eu-west-1"
    assert region["account"] == "1" * 12


def test_option_of_another_kind_is_one_clear_line(capsys: Any) -> None:
    assert main(["events", "generate", "sqs", "--topic", "x"]) == 1
    err = capsys.readouterr().err
    assert err == "eventhub: sqs events do not take --topic\n"


def test_bad_option_value_is_one_clear_line(capsys: Any) -> None:
    assert main(["events", "generate", "sqs", "--count", "many"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("eventhub: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "eventhub: payload is not JSON: "),
        ("@/nonexistent/payload.json", "eventhub: cannot read payload file: "),
    ],
)
def test_invoke_bad_payload_is_one_clear_line(
    payload: str, message: str, capsys: Any, tmp_path: Path
) -> None:
    assert main(["invoke", "f", "--payload", payload, "-c", str(tmp_path / "none.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_invoke_with_a_bad_listen_address_exits_1(capsys: Any, tmp_path: Path) -> None:
    config = tmp_path / "eventhub.yaml"
    config.write_text("version: 1\nhub: {listen: 'nowhere'}\n")
    with pytest.raises(SystemExit) as exited:
        main(["invoke", "f", "-c", str(config)])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "hub.listen" in err
    assert "Traceback" not in err


def test_clients_read_only_where_the_daemon_listens(
    capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No server secret, and no error elsewhere in a file being edited, stops a client."""
    monkeypatch.delenv("API_TOKEN", raising=False)
    port = free_port()
    config = tmp_path / "eventhub.yaml"
    config.write_text(
        f"version: 1\nhub:\n  listen: 127.0.0.1:{port}\n  admin_listen: 127.0.0.1:{port}\n"
        "  auth: {tokens: {ci: {secret: '${API_TOKEN}'}}}\n"
        "functions: {f: {handler: 'no good'}}\n"
    )
    for command in (["invoke", "f"], ["status"], ["put", "s", "x"], ["send", "q", "x"]):
        assert main([*command, "-c", str(config)]) == 1
        err = capsys.readouterr().err
        assert f"cannot reach the daemon at http://127.0.0.1:{port}" in err, (command, err)
