"""Pure parts of the queue engine: verdicts, event formats, group gate, delivery counting."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from eventhub.mapping.deliveries import DeliveryCounter
from eventhub.mapping.filters import FilterSet
from eventhub.mapping.queue_format import RmqFormat, SqsFormat, header_attribute
from eventhub.mapping.queue_groups import GroupGate
from eventhub.mapping.queue_outcome import judge, retry_backoff, split_exhausted
from eventhub.sources import QueueMessage
from tests.support.fake_queue import result

ARN = "arn:aws:sqs:us-east-1:000000000000:q"


def message(
    mid: str, body: str | bytes = "b", count: int = 1, group: str | None = None, **kw: Any
) -> QueueMessage:
    return QueueMessage(
        message_id=mid, body=body, receive_count=count, handle=None, group_id=group, **kw
    )


SQS = SqsFormat(ARN, "us-east-1", FilterSet())


def failures(*ids: str) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


class TestJudge:
    batch = [message("a"), message("b"), message("c")]

    def ids(self, messages: list[QueueMessage]) -> list[str]:
        return [m.message_id for m in messages]

    def test_error_fails_everything(self) -> None:
        verdict = judge(result(ok=False), self.batch, SQS, report_failures=True, fifo=False)
        assert self.ids(verdict.failed) == ["a", "b", "c"]
        assert verdict.reason == "function error: ValueError: boom"

    @pytest.mark.parametrize(
        "value", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, "text", [1]]
    )
    def test_empty_responses_are_full_success(self, value: Any) -> None:
        verdict = judge(result(value), self.batch, SQS, report_failures=True, fifo=False)
        assert verdict.failed == []

    def test_listed_items_fail(self) -> None:
        verdict = judge(result(failures("b")), self.batch, SQS, report_failures=True, fifo=False)
        assert self.ids(verdict.succeeded) == ["a", "c"]
        assert self.ids(verdict.failed) == ["b"]

    def test_unknown_identifier_fails_the_batch(self) -> None:
        verdict = judge(result(failures("zz")), self.batch, SQS, report_failures=True, fifo=False)
        assert len(verdict.failed) == 3
        assert "not in the batch" in (verdict.reason or "")

    def test_ignored_when_not_enabled(self) -> None:
        verdict = judge(result(failures("b")), self.batch, SQS, report_failures=False, fifo=False)
        assert verdict.failed == []

    def test_fifo_fails_the_rest_of_the_group(self) -> None:
        batch = [
            message("a1", group="A"),
            message("b1", group="B"),
            message("a2", group="A"),
            message("b2", group="B"),
        ]
        verdict = judge(result(failures("a1")), batch, SQS, report_failures=True, fifo=True)
        assert self.ids(verdict.failed) == ["a1", "a2"]
        assert self.ids(verdict.succeeded) == ["b1", "b2"]


def test_split_exhausted() -> None:
    batch = [message("a", count=1), message("b", count=3), message("c", count=5)]
    retry, dead = split_exhausted(batch, 3)
    assert [m.message_id for m in retry] == ["a"]
    assert [m.message_id for m in dead] == ["b", "c"]
    assert split_exhausted(batch, None) == (batch, [])


def test_retry_backoff_grows_and_is_capped() -> None:
    assert retry_backoff(1) < retry_backoff(2) < retry_backoff(3)
    assert retry_backoff(100) == 5.0


class TestSqsFormat:
    def test_record_shape(self) -> None:
        m = message(
            "id-1",
            "hello",
            count=2,
            receipt_handle="rh",
            attributes={
                "SentTimestamp": "5",
                "SenderId": "s",
                "ApproximateFirstReceiveTimestamp": "6",
            },
            message_attributes={"k": {"DataType": "String", "StringValue": "v"}},
        )
        record = SQS.record(m)
        assert record["messageId"] == "id-1"
        assert record["receiptHandle"] == "rh"
        assert list(record["attributes"]) == [
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        ]
        assert record["attributes"]["ApproximateReceiveCount"] == "2"
        assert record["messageAttributes"]["k"]["stringValue"] == "v"
        assert record["md5OfMessageAttributes"]
        assert record["eventSourceARN"] == ARN

    def test_amqp_headers_become_attributes_and_binary_bodies_base64(self) -> None:
        m = message("id", b"\xff\x00", properties={"headers": {"n": 3, "s": "x", "b": b"\x01"}})
        record = SQS.record(m)
        assert base64.b64decode(record["body"]) == b"\xff\x00"
        attrs = record["messageAttributes"]
        assert attrs["eventhub.body-encoding"]["stringValue"] == "base64"
        assert attrs["n"] == {
            "stringValue": "3",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Number",
        }
        assert attrs["b"]["binaryValue"] == "AQ=="

    def test_filters_match_the_parsed_body(self) -> None:
        fmt = SqsFormat(ARN, "us-east-1", FilterSet([{"body": {"x": [1]}}]))
        assert fmt.filtering
        assert fmt.passes(fmt.record(message("a", '{"x": 1}')))
        assert not fmt.passes(fmt.record(message("b", '{"x": 2}')))
        assert not fmt.passes(fmt.record(message("c", "plain")))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, ("String", "true")),
        (1.5, ("Number", "1.5")),
        ("s", ("String", "s")),
        (datetime(2024, 1, 2, tzinfo=UTC), ("String", "2024-01-02T00:00:00+00:00")),
        ([1, 2], ("String", "[1, 2]")),
    ],
)
def test_header_attribute(value: Any, expected: tuple[str, str]) -> None:
    attribute = header_attribute(value)
    assert attribute is not None
    assert (attribute["dataType"], attribute["stringValue"]) == expected
    assert header_attribute(None) is None


class TestRmqFormat:
    fmt = RmqFormat("orders", "/", "arn:aws:mq:us-east-1:0:broker:b:b-1", FilterSet())

    def test_event_shape(self) -> None:
        m = message(
            "x",
            b'{"a": 1}',
            redelivered=True,
            properties={"message_id": "m-1", "content_type": "application/json"},
        )
        event = self.fmt.event([self.fmt.record(m)])
        body = event["rmqMessagesByQueue"]["orders::/"][0]
        assert event["eventSource"] == "aws:rmq"
        assert body["redelivered"] is True
        assert base64.b64decode(body["data"]) == b'{"a": 1}'
        assert body["basicProperties"]["messageId"] == "m-1"
        assert body["basicProperties"]["bodySize"] == 8

    def test_identifier_is_the_message_id_property(self) -> None:
        assert self.fmt.identifier(message("x", properties={"message_id": "m-1"})) == "m-1"
        assert self.fmt.identifier(message("x", properties={})) is None

    def test_non_utf8_data_is_matched_on_metadata_only(self) -> None:
        fmt = RmqFormat("q", "/", "arn", FilterSet([{"data": {"a": [1]}, "redelivered": [False]}]))
        assert fmt.passes(fmt.record(message("x", b"\xff", properties={})))
        assert fmt.passes(fmt.record(message("y", b'{"a": 1}', properties={})))
        assert not fmt.passes(fmt.record(message("z", b'{"a": 2}', properties={})))

    def test_data_of_another_format_than_the_pattern_is_matched_on_metadata_only(self) -> None:
        nested = RmqFormat("q", "/", "arn", FilterSet([{"data": {"a": [1]}}]))
        assert nested.passes(nested.record(message("x", b"plain text", properties={})))
        assert not nested.passes(nested.record(message("y", b'{"a": 2}', properties={})))
        values = RmqFormat("q", "/", "arn", FilterSet([{"data": ["ok"]}]))
        assert values.passes(values.record(message("x", b'{"a": 2}', properties={})))
        assert values.passes(values.record(message("y", b"ok", properties={})))
        assert not values.passes(values.record(message("z", b"no", properties={})))


async def test_group_gate_holds_busy_groups() -> None:
    gate = GroupGate()
    await gate.acquire({"A", "B"})
    waiter = asyncio.create_task(gate.acquire({"B", "C"}))
    await asyncio.sleep(0)
    assert not waiter.done()
    await gate.acquire({"D"})  # disjoint: admitted at once
    gate.release({"A", "B"})
    await waiter
    assert gate.held == {"B", "C", "D"}


def test_delivery_counter_counts_redeliveries() -> None:
    counter = DeliveryCounter(capacity=2)
    first = message("m", count=0, count_key="k")
    counter.observe([first])
    assert first.receive_count == 1
    again = message("m", count=0, count_key="k", redelivered=True)
    counter.observe([again])
    assert again.receive_count == 2
    stranger = message("n", count=0, count_key="other", redelivered=True)
    counter.observe([stranger])
    assert stranger.receive_count == 2  # seen redelivered first: at least the second try
    fresh = message("m", count=0, count_key="k")
    counter.observe([fresh])
    assert fresh.receive_count == 1
    counter.forget([fresh])
    assert len(counter) == 1
    counted = message("q", count=4)
    counter.observe([counted])
    assert counted.receive_count == 4


def test_sqs_events_parse_with_powertools_models() -> None:
    from aws_lambda_powertools.utilities.parser.models import SqsModel

    fifo = message(
        "id-9",
        "{}",
        count=3,
        receipt_handle="rh",
        attributes={
            "SentTimestamp": "1700000000000",
            "SenderId": "000000000000",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
            "SequenceNumber": "00000000000000000042",
            "MessageGroupId": "g",
            "MessageDeduplicationId": "d",
            "DeadLetterQueueSourceArn": "arn:aws:sqs:us-east-1:000000000000:src",
        },
        message_attributes={"n": {"DataType": "Number", "StringValue": "1"}},
    )
    amqp = message(
        "id-8",
        b"\xff",
        properties={"headers": {"h": "v"}},
        attributes={"SentTimestamp": "1", "SenderId": "s", "ApproximateFirstReceiveTimestamp": "2"},
    )
    event = SQS.event([SQS.record(fifo), SQS.record(amqp)])
    parsed = SqsModel.model_validate(event)
    assert parsed.Records[0].attributes.MessageGroupId == "g"
    assert parsed.Records[0].attributes.ApproximateReceiveCount == "3"
    assert parsed.Records[1].messageAttributes["h"].stringValue == "v"


def test_rmq_events_read_with_the_powertools_data_class() -> None:
    from aws_lambda_powertools.utilities.data_classes.rabbit_mq_event import RabbitMQEvent

    fmt = RmqFormat("orders", "/", "arn:aws:mq:us-east-1:0:broker:b:b-1", FilterSet())
    m = message(
        "x",
        b'{"a": 1}',
        properties={
            "message_id": "m-1",
            "content_type": "application/json",
            "delivery_mode": 2,
            "headers": {"h": "v"},
            "timestamp": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        },
    )
    event = RabbitMQEvent(fmt.event([fmt.record(m)]))
    (msg,) = event.rmq_messages_by_queue["orders::/"]
    assert msg.json_data == {"a": 1}
    assert msg.basic_properties.message_id == "m-1"
    assert msg.basic_properties.delivery_mode == 2
    assert msg.basic_properties.timestamp == "Jan 2, 2024, 3:04:05 AM"
