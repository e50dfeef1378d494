"""The embedded queues through boto3's SQS client: SQS semantics and SQS errors."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from eventhub.events.sqs import md5_of_message_attributes
from tests.support.hub_thread import HubThread

pytestmark = pytest.mark.integration

QUEUES = {
    "jobs": {
        "visibility_timeout": 30,
        "redrive": {"dead_letter_queue": "jobs-dlq", "max_receive_count": 2},
    },
    "jobs-dlq": {},
    "small": {"max_message_size": 1024},
    "later": {"delay_seconds": 1},
    "orders.fifo": {"fifo": True},
    "auto.fifo": {"fifo": True, "content_based_deduplication": True},
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    with HubThread(tmp_path_factory.mktemp("sqs"), {"queues": QUEUES}) as running:
        yield running


@pytest.fixture(scope="module")
def sqs(hub: HubThread) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=hub.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def url(sqs: Any, name: str) -> str:
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


@pytest.fixture(autouse=True)
def _empty(sqs: Any) -> None:
    for name in QUEUES:
        sqs.purge_queue(QueueUrl=url(sqs, name))


def test_queue_urls_and_listing(sqs: Any, hub: HubThread) -> None:
    assert url(sqs, "jobs") == f"{hub.url}/000000000000/jobs"
    listed = sqs.list_queues(QueueNamePrefix="jo")["QueueUrls"]
    assert listed == [url(sqs, "jobs"), url(sqs, "jobs-dlq")]
    page = sqs.list_queues(MaxResults=2)
    assert len(page["QueueUrls"]) == 2
    assert "NextToken" in page
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="zzz")  # SQS leaves the key out


def test_missing_queue_is_queue_does_not_exist(sqs: Any, hub: HubThread) -> None:
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as info:
        sqs.get_queue_url(QueueName="nope")
    assert info.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=f"{hub.url}/000000000000/nope", MessageBody="x")
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):  # this hub's queue, another account
        sqs.get_queue_url(QueueName="jobs", QueueOwnerAWSAccountId="123456789012")
    assert sqs.get_queue_url(QueueName="jobs", QueueOwnerAWSAccountId="000000000000")


def test_send_receive_delete_with_attributes(sqs: Any) -> None:
    q = url(sqs, "jobs")
    attributes = {
        "Priority": {"DataType": "String", "StringValue": "high"},
        "Retries": {"DataType": "Number", "StringValue": "3"},
        "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"},
    }
    sent = sqs.send_message(QueueUrl=q, MessageBody='{"id": 1}', MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5(b'{"id": 1}', usedforsecurity=False).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_message_attributes(attributes)
    got = sqs.receive_message(
        QueueUrl=q, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert len(got) == 1
    message = got[0]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == '{"id": 1}'
    assert message["MessageAttributes"]["Blob"]["BinaryValue"] == b"\x00\x01\x02"
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(message["Attributes"]["SentTimestamp"]) > 0
    sqs.delete_message(QueueUrl=q, ReceiptHandle=message["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=q)


def test_visibility_timeout_and_change_message_visibility(sqs: Any) -> None:
    q = url(sqs, "jobs")
    sqs.send_message(QueueUrl=q, MessageBody="hide me")
    first = sqs.receive_message(QueueUrl=q)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=q)  # in flight: invisible
    attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"
    created, modified = int(attrs["CreatedTimestamp"]), int(attrs["LastModifiedTimestamp"])
    assert 0 < created <= modified <= time.time()  # every attribute real SQS gives for All
    sqs.change_message_visibility(
        QueueUrl=q, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    second = sqs.receive_message(QueueUrl=q, AttributeNames=["ApproximateReceiveCount"])
    message = second["Messages"][0]
    assert message["Attributes"] == {"ApproximateReceiveCount": "2"}
    # the first receipt is stale now: deleting with it removes nothing
    sqs.delete_message(QueueUrl=q, ReceiptHandle=first["ReceiptHandle"])
    attrs = sqs.get_queue_attributes(
        QueueUrl=q, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )
    assert attrs["Attributes"] == {"ApproximateNumberOfMessagesNotVisible": "1"}
    with pytest.raises(ClientError) as info:
        sqs.change_message_visibility(
            QueueUrl=q, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=5
        )
    assert info.value.response["Error"]["Code"] == "AWS.SimpleQueueService.MessageNotInflight"
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=q, ReceiptHandle="garbage")


def test_redrive_moves_to_the_dead_letter_queue_after_max_receive_count(sqs: Any) -> None:
    q, dlq = url(sqs, "jobs"), url(sqs, "jobs-dlq")
    sqs.send_message(QueueUrl=q, MessageBody="poison")
    for _ in range(2):
        got = sqs.receive_message(QueueUrl=q)["Messages"][0]
        sqs.change_message_visibility(
            QueueUrl=q, ReceiptHandle=got["ReceiptHandle"], VisibilityTimeout=0
        )
    assert "Messages" not in sqs.receive_message(QueueUrl=q)  # third receive: moved
    dead = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"][0]
    assert dead["Body"] == "poison"
    assert (
        dead["Attributes"]["DeadLetterQueueSourceArn"] == "arn:aws:sqs:us-east-1:000000000000:jobs"
    )
    sqs.change_message_visibility(
        QueueUrl=dlq, ReceiptHandle=dead["ReceiptHandle"], VisibilityTimeout=0
    )
    dlq_arn = "arn:aws:sqs:us-east-1:000000000000:jobs-dlq"
    with pytest.raises(ClientError) as into_itself:
        sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dlq_arn)
    assert into_itself.value.response["Error"]["Code"] == "InvalidParameterValue"
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)
    tasks = sqs.list_message_move_tasks(SourceArn="arn:aws:sqs:us-east-1:000000000000:jobs-dlq")
    assert tasks["Results"][0]["TaskHandle"] == handle["TaskHandle"]
    assert tasks["Results"][0]["ApproximateNumberOfMessagesMoved"] == 1
    back = sqs.receive_message(QueueUrl=q, AttributeNames=["All"])["Messages"][0]
    assert back["Body"] == "poison"
    assert back["Attributes"]["ApproximateReceiveCount"] == "1"
    attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 2
    assert " " not in attrs["RedrivePolicy"]  # compact JSON, as SQS writes it


def test_delay_seconds(sqs: Any) -> None:
    q = url(sqs, "later")
    sqs.send_message(QueueUrl=q, MessageBody="soon")
    attrs = sqs.get_queue_attributes(
        QueueUrl=q, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert "Messages" not in sqs.receive_message(QueueUrl=q)
    got = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=5)["Messages"]
    assert got[0]["Body"] == "soon"
    sqs.send_message(QueueUrl=q, MessageBody="now", DelaySeconds=0)
    assert sqs.receive_message(QueueUrl=q)["Messages"][0]["Body"] == "now"


def test_long_poll_wakes_on_send(sqs: Any) -> None:
    q = url(sqs, "jobs")
    timer = threading.Timer(0.3, lambda: sqs.send_message(QueueUrl=q, MessageBody="wake"))
    timer.start()
    try:
        got = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=20)["Messages"]
    finally:
        timer.join()
    assert got[0]["Body"] == "wake"


def test_batches_and_their_errors(sqs: Any) -> None:
    q = url(sqs, "small")
    result = sqs.send_message_batch(
        QueueUrl=q,
        Entries=[
            {"Id": "a", "MessageBody": "ok"},
            {"Id": "b", "MessageBody": "x" * 2000},
            {"Id": "c", "MessageBody": "bad \x01 char"},
        ],
    )
    assert [e["Id"] for e in result["Successful"]] == ["a"]
    failed = {e["Id"]: e["Code"] for e in result["Failed"]}
    assert failed == {"b": "InvalidParameterValue", "c": "InvalidMessageContents"}
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.send_message_batch(
            QueueUrl=q, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(11)]
        )
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(
            QueueUrl=q,
            Entries=[{"Id": "same", "MessageBody": "m"}, {"Id": "same", "MessageBody": "m"}],
        )
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.send_message_batch(QueueUrl=q, Entries=[{"Id": "no spaces", "MessageBody": "m"}])
    got = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10)["Messages"]
    deleted = sqs.delete_message_batch(
        QueueUrl=q,
        Entries=[
            {"Id": "1", "ReceiptHandle": got[0]["ReceiptHandle"]},
            {"Id": "2", "ReceiptHandle": "garbage"},
        ],
    )
    assert [e["Id"] for e in deleted["Successful"]] == ["1"]
    assert deleted["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"


def test_oversize_and_invalid_parameters(sqs: Any) -> None:
    q = url(sqs, "small")
    with pytest.raises(ClientError) as info:
        sqs.send_message(QueueUrl=q, MessageBody="x" * 1025)
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "shorter than 1024 bytes" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=11)
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as info:
        sqs.send_message(
            QueueUrl=q,
            MessageBody="x",
            MessageAttributes={"n": {"DataType": "Number", "StringValue": "abc"}},
        )
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_fifo_groups_order_and_deduplication(sqs: Any) -> None:
    q = url(sqs, "orders.fifo")
    with pytest.raises(ClientError) as info:
        sqs.send_message(QueueUrl=q, MessageBody="x", MessageDeduplicationId="d")
    assert info.value.response["Error"]["Code"] == "MissingParameter"
    with pytest.raises(ClientError):
        sqs.send_message(QueueUrl=q, MessageBody="x", MessageGroupId="g")  # no dedup id
    first = sqs.send_message(
        QueueUrl=q, MessageBody="a1", MessageGroupId="A", MessageDeduplicationId="d1"
    )
    again = sqs.send_message(
        QueueUrl=q, MessageBody="a1", MessageGroupId="A", MessageDeduplicationId="d1"
    )
    assert again["MessageId"] == first["MessageId"]
    assert again["SequenceNumber"] == first["SequenceNumber"]
    for body, group in (("a2", "A"), ("b1", "B"), ("a3", "A")):
        sqs.send_message(
            QueueUrl=q, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body
        )
    got = sqs.receive_message(
        QueueUrl=q, MaxNumberOfMessages=2, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in got] == ["a1", "a2"]
    assert got[0]["Attributes"]["MessageGroupId"] == "A"
    # group A is in flight: only B comes now
    got_b = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got_b] == ["b1"]
    assert "Messages" not in sqs.receive_message(QueueUrl=q)
    for m in got:
        sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=q)["Messages"]] == ["a3"]


def test_fifo_content_based_deduplication(sqs: Any) -> None:
    q = url(sqs, "auto.fifo")
    one = sqs.send_message(QueueUrl=q, MessageBody="same", MessageGroupId="g")
    two = sqs.send_message(QueueUrl=q, MessageBody="same", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"]
    attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "1"
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "true"
    assert (attrs["DeduplicationScope"], attrs["FifoThroughputLimit"]) == ("queue", "perQueue")


def test_malformed_requests_get_json_errors(hub: HubThread) -> None:
    for body, target in (
        (b"{not json", "AmazonSQS.SendMessage"),
        (b"[" * 100_000 + b"]" * 100_000, "AmazonSQS.SendMessage"),  # nested too deep
        (b"[]", "AmazonSQS.SendMessage"),
        (b"{}", "AmazonSQS.NoSuchOperation"),
    ):
        request = urllib.request.Request(
            hub.url + "/",
            data=body,
            method="POST",
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"},
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 400
        payload = json.loads(info.value.read())
        assert payload["__type"]
        assert "Traceback" not in json.dumps(payload)


def test_create_queue_only_knows_configured_queues(sqs: Any) -> None:
    assert sqs.create_queue(QueueName="jobs")["QueueUrl"].endswith("/jobs")
    with pytest.raises(ClientError) as info:
        sqs.create_queue(QueueName="brand-new")
    assert "configured" in info.value.response["Error"]["Message"]
    same = {"VisibilityTimeout": "30", "FifoQueue": "false", "DelaySeconds": "0"}
    assert sqs.create_queue(QueueName="jobs", Attributes=same)["QueueUrl"].endswith("/jobs")
    for different in ({"VisibilityTimeout": "99"}, {"FifoQueue": "true"}):
        with pytest.raises(sqs.exceptions.QueueNameExists) as exists:
            sqs.create_queue(QueueName="jobs", Attributes=different)
        assert exists.value.response["Error"]["Code"] == "QueueAlreadyExists"
        assert next(iter(different)) in exists.value.response["Error"]["Message"]
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    assert sqs.create_queue(QueueName="auto.fifo", Attributes=fifo)["QueueUrl"]
