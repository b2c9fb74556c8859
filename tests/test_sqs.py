"""SQS through boto3 against a real server: queues and their errors, the send / receive / delete
roundtrip with attributes and AWS's MD5s, visibility on the manual clock, long polls, restarts."""

from __future__ import annotations

import hashlib
import http.client
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from lambdabox.testing import LocalLambdabox


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"].get("QueryErrorCode") or exc.value.response["Error"]["Code"])


def _md5_attrs(attrs: dict[str, dict[str, Any]]) -> str:
    """AWS's documented digest of message attributes, computed independently of the server."""
    out = b""
    for name in sorted(attrs):
        v = attrs[name]
        for part in (name.encode(), v["DataType"].encode()):
            out += struct.pack(">I", len(part)) + part
        value = v["BinaryValue"] if "BinaryValue" in v else v["StringValue"].encode()
        out += (b"\x02" if "BinaryValue" in v else b"\x01") + struct.pack(">I", len(value)) + value
    return hashlib.md5(out).hexdigest()


def test_queues_are_created_found_listed_described_and_deleted(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "10"})["QueueUrl"]
    assert url.endswith("/000000000000/orders") or url.split("/")[-1] == "orders"
    assert sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "10"})["QueueUrl"] == url
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "11"})
    assert _code(exc) == "QueueNameExists"
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="orders.fifo")  # a FIFO name without FifoQueue=true
    assert _code(exc) == "InvalidParameterValue"
    sqs.create_queue(QueueName="other")
    assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == url
    assert sqs.list_queues(QueueNamePrefix="ord")["QueueUrls"] == [url]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "10" and attrs["DelaySeconds"] == "0"
    assert attrs["QueueArn"].startswith("arn:aws:sqs:") and attrs["QueueArn"].endswith(":orders")
    assert attrs["ApproximateNumberOfMessages"] == "0" and int(attrs["CreatedTimestamp"]) > 0
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="orders")
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])


def test_send_receive_delete_with_attributes_and_aws_md5s(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    attrs = {
        "kind": {"DataType": "String", "StringValue": "order"},
        "n": {"DataType": "Number", "StringValue": "7"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    sent = sqs.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes=attrs)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == _md5_attrs(attrs)
    got = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    (m,) = got
    assert m["Body"] == "héllo" and m["MessageId"] == sent["MessageId"]
    assert m["MessageAttributes"] == attrs and m["MD5OfMessageAttributes"] == _md5_attrs(attrs)
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(m["Attributes"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    lbx.advance(60)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not a handle")
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert _code(exc) == "InvalidParameterValue"


def test_an_unacknowledged_message_comes_back_after_its_visibility_timeout(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    counted = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert counted["Attributes"] == {"ApproximateNumberOfMessagesNotVisible": "1"}
    lbx.advance(31)
    (m,) = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["ApproximateReceiveCount"])[
        "Messages"
    ]
    assert m["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1


def test_a_long_poll_is_answered_by_a_send_from_another_thread(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    out: dict[str, Any] = {}
    poller = threading.Thread(target=lambda: out.update(sqs_poll(lbx, url)))
    poller.start()
    threading.Event().wait(0.5)
    lbx.client("sqs").send_message(QueueUrl=url, MessageBody="late")
    poller.join(15)
    assert [m["Body"] for m in out["Messages"]] == ["late"]


def sqs_poll(lbx: LocalLambdabox, url: str) -> dict[str, Any]:
    return dict(lbx.client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=20))


def test_messages_survive_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as first:
        sqs = first.client("sqs")
        url = sqs.create_queue(QueueName="kept")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="durable")
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as second:
        sqs = second.client("sqs")
        url = sqs.get_queue_url(QueueName="kept")["QueueUrl"]
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["durable"]


def test_a_query_protocol_send_is_answered_in_xml_and_received_by_boto3(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    form = urlencode({"Action": "SendMessage", "Version": "2012-11-05", "QueueUrl": url, "MessageBody": "hi"})
    request = AWSRequest(
        "POST",
        lbx.url + "/",
        data=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    SigV4Auth(Credentials("test", "test"), "sqs", "us-east-1").add_auth(request)
    split = urlsplit(lbx.url)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    try:
        conn.request("POST", "/", form.encode(), dict(request.prepare().headers))
        resp = conn.getresponse()
        status, answer = resp.status, resp.read().decode()
    finally:
        conn.close()
    assert status == 200, answer
    assert "<SendMessageResponse" in answer and hashlib.md5(b"hi").hexdigest() in answer
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["hi"]
