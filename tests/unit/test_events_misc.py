"""Error documents, destination-record rules and ``samples.generate``."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import models
from pydantic import BaseModel

import eventhub
from eventhub.events import errors, records, samples

EVENTHUB_DIR = Path(eventhub.__file__).resolve().parent
REFERENCE = Path(__file__).parents[1] / "fixtures" / "aws-events"


def call_through_eventhub(function: Callable[[], Any]) -> Any:
    """Call ``function`` from a frame whose file lies inside the eventhub package, the way the
    runtime calls handlers."""
    source = "def invoke(function):\n    return function()\n"
    code = compile(source, str(EVENTHUB_DIR / "runtime" / "bootstrap_stub.py"), "exec")
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - fixed source; only its file name matters
    return namespace["invoke"](function)


def user_handler() -> None:
    json.loads("{not json")


# ------------------------------------------------------------------------------------ errors


def test_error_document_strips_eventhub_frames_only() -> None:
    try:
        call_through_eventhub(user_handler)
    except ValueError as exc:
        document = errors.error_document(exc, "req-1")
    else:
        pytest.fail("handler did not raise")
    assert list(document) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert document["errorType"] == "JSONDecodeError"
    assert document["errorMessage"].startswith("Expecting property name enclosed in double quotes")
    assert document["requestId"] == "req-1"
    trace = "".join(document["stackTrace"])
    assert "bootstrap_stub.py" not in trace
    assert str(EVENTHUB_DIR) not in trace
    assert "in user_handler" in trace
    assert "test_error_document_strips_eventhub_frames_only" in trace
    assert os.sep + "json" + os.sep in trace  # library frames stay, as on AWS
    assert all(frame.startswith('  File "') for frame in document["stackTrace"])


def test_error_document_of_an_exception_never_raised() -> None:
    document = errors.error_document(KeyError("missing"), "r")
    assert document == {
        "errorMessage": "'missing'",
        "errorType": "KeyError",
        "requestId": "r",
        "stackTrace": [],
    }


def test_error_document_survives_a_broken_str() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert errors.error_document(Broken(), "r")["errorMessage"] == "<unprintable Broken object>"


def test_runtime_and_timeout_errors() -> None:
    assert errors.runtime_error(
        "Runtime.ImportModuleError", "Unable to import module 'app': No module named 'app'", "r"
    ) == {
        "errorMessage": "Unable to import module 'app': No module named 'app'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": "r",
        "stackTrace": [],
    }
    naive_utc = datetime(2026, 11, 23, 19, 0, 3, 123456)  # noqa: DTZ001 - naive is taken as UTC
    document = errors.timeout_error("e4b46cbf-b738-xmpl-8880-a18cdf61200e", 3, naive_utc)
    expected_path = REFERENCE / "invoke-error-payload.json"
    if expected_path.exists():
        assert document == json.loads(expected_path.read_text())
    assert document["errorMessage"].endswith("Task timed out after 3.00 seconds")


# ----------------------------------------------------------------------------------- records


def _async(condition: Any, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "request_id": "r",
        "function_arn": "arn:aws:lambda:us-east-1:1:function:f:$LATEST",
        "condition": condition,
        "approximate_invoke_count": 3,
        "request_payload": {"a": 1},
        "response_payload": None,
        "function_error": None,
        "timestamp": datetime(2024, 1, 1, 0, 0, 0, 999999, tzinfo=UTC),
    }
    fields.update(extra)
    return records.async_invocation_record(**fields)


def test_async_record_function_error_only_on_failure() -> None:
    success = _async("Success")
    assert success["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert success["responsePayload"] is None
    assert success["timestamp"] == "2024-01-01T00:00:00.999Z"
    aged = _async("EventAgeExceeded", function_error="Unhandled", executed_version="7")
    assert aged["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "7",
        "functionError": "Unhandled",
    }
    with pytest.raises(ValueError, match="condition"):
        _async("Failure")


def test_kafka_record_for_oversized_payload_has_null_response_context() -> None:
    record = records.kafka_batch_info_record(
        request_id="r",
        function_arn="arn",
        condition="MaximumPayloadSizeExceeded",
        approximate_invoke_count=0,
        function_error=None,
        batch_size=1,
        event_source_arn=None,
        bootstrap_servers="b:9092",
        payload_size=7_000_000,
        records_info={},
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        payload={"eventSource": "SelfManagedKafka"},
    )
    assert record["responseContext"] is None
    assert "eventSourceArn" not in record["KafkaBatchInfo"]
    assert record["payload"] == {"eventSource": "SelfManagedKafka"}


def test_kinesis_record_s3_payload_and_condition_check() -> None:
    fields: dict[str, Any] = {
        "request_id": "r",
        "function_arn": "arn",
        "condition": "RecordAgeExceeded",
        "approximate_invoke_count": 2,
        "function_error": None,
        "shard_id": "shardId-000000000000",
        "start_sequence_number": "1",
        "end_sequence_number": "2",
        "first_arrival": 0.0,
        "last_arrival": 1.5,
        "batch_size": 2,
        "stream_arn": "arn:s",
        "timestamp": datetime(2024, 1, 1, tzinfo=UTC),
        "payload": '{"Records": []}',
    }
    record = records.kinesis_batch_info_record(**fields)
    assert record["payload"] == '{"Records": []}'
    assert record["KinesisBatchInfo"]["approximateArrivalOfLastRecord"] == (
        "1970-01-01T00:00:01.500Z"
    )
    assert "functionError" not in record["responseContext"]
    with pytest.raises(ValueError, match="condition"):
        records.kinesis_batch_info_record(**{**fields, "condition": "RetriesExhausted"})


# ----------------------------------------------------------------------------------- samples

SAMPLE_MODELS: dict[str, type[BaseModel]] = {
    "sqs": models.SqsModel,
    "kinesis": models.KinesisDataStreamModel,
    "kafka": models.KafkaSelfManagedEventModel,
    "s3-put": models.S3Model,
    "s3-delete": models.S3Model,
    "scheduled": models.EventBridgeModel,
    "apigw-v1": models.APIGatewayProxyEventModel,
    "apigw-v2": models.APIGatewayProxyEventV2Model,
}


def roundtrip(event: dict[str, Any]) -> Any:
    return json.loads(json.dumps(event))


@pytest.mark.parametrize("kind", samples.KINDS)
def test_every_sample_kind_is_valid(kind: str) -> None:
    event = samples.generate(kind)
    assert set(samples.OPTIONS[kind]), f"{kind} documents no options"
    if kind == "rmq":
        ref = json.loads((REFERENCE / "rmq.json").read_text()) if REFERENCE.exists() else None
        message = event["rmqMessagesByQueue"]["eventhub-queue::/"][0]
        if ref is not None:
            [ref_message] = next(iter(ref["rmqMessagesByQueue"].values()))
            assert set(event) == set(ref)
            assert set(message) == set(ref_message)
            assert list(message["basicProperties"]) == list(ref_message["basicProperties"])
        assert base64.b64decode(message["data"]) == b'{"message": "hello from eventhub"}'
        return
    SAMPLE_MODELS[kind].model_validate(roundtrip(event))


def test_sample_options_are_applied() -> None:
    sqs = samples.generate("sqs", region="eu-west-1", account_id="123", queue="q", count="3")
    assert len(sqs["Records"]) == 3
    assert sqs["Records"][0]["eventSourceARN"] == "arn:aws:sqs:eu-west-1:123:q"
    assert len({r["messageId"] for r in sqs["Records"]}) == 3

    stream = samples.generate("kinesis", data="x", partition_key="pk", stream="s", count=2)
    numbers = [int(r["kinesis"]["sequenceNumber"]) for r in stream["Records"]]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 2
    assert stream["Records"][0]["kinesis"]["data"] == "eA=="

    topic = samples.generate("kafka", topic="t-x", partition="3", key="k", value="v", count=2)
    assert [r["offset"] for r in topic["records"]["t-x-3"]] == [0, 1]

    queue = samples.generate("rmq", queue="orders", vhost="prod", body="hi")
    assert list(queue["rmqMessagesByQueue"]) == ["orders::prod"]

    put = samples.generate("s3-put", bucket="b", key="a b/c(1).txt", size=5)
    obj = put["Records"][0]["s3"]["object"]
    assert (obj["key"], obj["size"]) == ("a+b/c%281%29.txt", 5)
    deleted = samples.generate("s3-delete", bucket="b", key="k")["Records"][0]
    assert "size" not in deleted["s3"]["object"]

    rule = samples.generate("scheduled", rule="nightly")
    assert rule["resources"][0].endswith(":rule/nightly")


def test_http_samples_match_routes() -> None:
    event = samples.generate(
        "apigw-v2",
        method="post",
        path="/items/42?tag=a&tag=b",
        body='{"x": 1}',
        route="/items/{id}",
    )
    assert event["routeKey"] == "POST /items/{id}"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"tag": "a,b"}
    assert event["body"] == '{"x": 1}'
    assert samples.generate("apigw-v2")["routeKey"] == "$default"

    rest = samples.generate("apigw-v1", path="/a/b/c")
    assert rest["resource"] == "/{proxy+}"
    assert rest["pathParameters"] == {"proxy": "a/b/c"}
    assert samples.generate("apigw-v1", path="/")["pathParameters"] is None
    with pytest.raises(ValueError, match="does not match"):
        samples.generate("apigw-v1", path="/a", route="/b/{id}")


def test_http_samples_take_routes_as_the_config_writes_them() -> None:
    event = samples.generate("apigw-v2", route="PUT /orders/{id}", path="/orders/42")
    assert event["routeKey"] == "PUT /orders/{id}"
    assert event["requestContext"]["http"]["method"] == "PUT"  # from the route
    assert event["pathParameters"] == {"id": "42"}
    assert samples.generate("apigw-v2", route="$default", path="/x")["routeKey"] == "$default"
    any_route = samples.generate("apigw-v2", route="ANY /f/{p+}", path="/f/a/b", method="patch")
    assert (any_route["routeKey"], any_route["pathParameters"]) == ("ANY /f/{p+}", {"p": "a/b"})
    assert any_route["requestContext"]["http"]["method"] == "PATCH"
    v1 = samples.generate("apigw-v1", route="POST /orders/{id}", path="/orders/7")
    assert (v1["resource"], v1["httpMethod"]) == ("/orders/{id}", "POST")
    with pytest.raises(ValueError, match="must start with /"):
        samples.generate("apigw-v2", path="noslash")
    raw = samples.generate("apigw-v2", body="\udcff")  # a non-UTF-8 byte from a shell argument
    assert (raw["body"], raw["isBase64Encoded"]) == ("/w==", True)


def test_route_matching() -> None:
    assert samples.match_route("/items/{id}", "/items/42") == {"id": "42"}
    assert samples.match_route("/items/{id}", "/items/42/x") is None
    assert samples.match_route("/items/{id}", "/items") is None
    assert samples.match_route("/{proxy+}", "/a/b") == {"proxy": "a/b"}
    assert samples.match_route("/{proxy+}", "/") is None
    assert samples.match_route("/", "/") == {}
    assert samples.match_route("/a/{b}/c", "/a/x/d") is None


def test_generate_rejects_unknown_kind_option_and_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown event kind"):
        samples.generate("sns")
    with pytest.raises(ValueError, match="unknown option"):
        samples.generate("sqs", stream="x")
    with pytest.raises(ValueError, match="must be an integer"):
        samples.generate("sqs", count="many")
    with pytest.raises(ValueError, match="at least 1"):
        samples.generate("kinesis", count=0)
    assert set(samples.OPTIONS) == set(samples.KINDS)
