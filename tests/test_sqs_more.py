"""SQS beyond the core, through boto3 against a real server: SetQueueAttributes and its AWS-worded
refusals, the batch operations (and one over the query protocol), PurgeQueue on the manual clock,
tags, redrive to a dead-letter queue with RedriveAllowPolicy, ListDeadLetterSourceQueues, the
legacy ReceiveMessage `AttributeNames`, a restart keeping redriven and purged state, and queue
URLs on the caller's host."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
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


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    """(the exception's code as boto3 picks it, the message)."""
    err = exc.value.response["Error"]
    return str(err.get("QueryErrorCode") or err["Code"]), str(err["Message"])


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _redrive(arn: str, count: int) -> str:
    return json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": count})


def test_set_queue_attributes_changes_them_and_refuses_bad_values_as_aws(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    lbx.advance(5)
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": "5",
            "MessageRetentionPeriod": "120",
            "DelaySeconds": "2",
            "MaximumMessageSize": "2048",
            "ReceiveMessageWaitTimeSeconds": "1",
            "Policy": policy,
        },
    )
    after = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert after["VisibilityTimeout"] == "5" and after["MessageRetentionPeriod"] == "120"
    assert after["DelaySeconds"] == "2" and after["MaximumMessageSize"] == "2048"
    assert after["ReceiveMessageWaitTimeSeconds"] == "1" and after["Policy"] == policy
    assert int(after["LastModifiedTimestamp"]) == int(before["LastModifiedTimestamp"]) + 5
    assert after["CreatedTimestamp"] == before["CreatedTimestamp"]
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 2049)
    assert _error(exc)[0] == "InvalidParameterValue"

    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "43201"})
    assert _error(exc) == ("InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout.")
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Colour": "blue"})
    assert _error(exc) == ("InvalidAttributeName", "Unknown Attribute Colour.")
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": "{not json"})
    assert _error(exc) == ("InvalidAttributeValue", "Invalid value for the parameter Policy.")
    bad = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": 0})
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": bad})
    assert _error(exc) == (
        "InvalidParameterValue",
        f"Value {bad} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 0, "
        "valid values are from 1 to 1000 both inclusive.",
    )
    missing = _redrive(_arn(sqs, url).replace(":q", ":nowhere"), 3)
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": missing})
    assert _error(exc) == (
        "InvalidParameterValue",
        f"Value {missing} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.",
    )
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"RedriveAllowPolicy": '{"redrivePermission":"byQueue"}'}
        )
    assert _error(exc)[0] == "InvalidParameterValue"
    assert "you must also specify one or more sourceQueueArns values" in _error(exc)[1]
    unchanged = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert unchanged == after and "RedrivePolicy" not in unchanged
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.set_queue_attributes(QueueUrl=url + "-gone", Attributes={"DelaySeconds": "1"})


def test_create_queue_takes_a_redrive_policy_and_tags(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    dlq = sqs.create_queue(
        QueueName="dlq", Attributes={"RedriveAllowPolicy": '{"redrivePermission":"allowAll"}'}
    )
    arn = _arn(sqs, dlq["QueueUrl"])
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "4"})
    url = sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": policy}, tags={"team": "a"})[
        "QueueUrl"
    ]
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(got["RedrivePolicy"]) == {"deadLetterTargetArn": arn, "maxReceiveCount": 4}
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}
    # the same queue again (the count spelled as a number this time) is the same queue
    assert (
        sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": _redrive(arn, 4)})["QueueUrl"] == url
    )
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": _redrive(arn, 5)})
    assert _error(exc)[0] == "QueueNameExists"
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="other", Attributes={"RedrivePolicy": _redrive(arn + "-gone", 5)})
    assert "Dead letter target does not exist." in _error(exc)[1]
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="many", tags={f"k{i}": "v" for i in range(51)})
    assert _error(exc) == ("InvalidParameterValue", "Too many tags added for queue many.")
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="other")


def test_batches_answer_entry_by_entry(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    sent = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {
                "Id": "a",
                "MessageBody": "one",
                "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
            },
            {"Id": "b", "MessageBody": "two\x00"},
            {"Id": "c", "MessageBody": "three", "DelaySeconds": 901},
            {"Id": "d-_9", "MessageBody": "four"},
        ],
    )
    assert [s["Id"] for s in sent["Successful"]] == ["a", "d-_9"]
    assert "MD5OfMessageAttributes" in sent["Successful"][0]
    assert {f["Id"]: (f["Code"], f["SenderFault"]) for f in sent["Failed"]} == {
        "b": ("InvalidMessageContents", True),
        "c": ("InvalidParameterValue", True),
    }
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert sorted(m["Body"] for m in got) == ["four", "one"]
    handles = {m["Body"]: m["ReceiptHandle"] for m in got}

    changed = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "x", "ReceiptHandle": handles["one"], "VisibilityTimeout": 0},
            {"Id": "y", "ReceiptHandle": "junk", "VisibilityTimeout": 0},
            {"Id": "z", "ReceiptHandle": handles["four"], "VisibilityTimeout": 43_201},
        ],
    )
    assert [s["Id"] for s in changed["Successful"]] == ["x"]
    assert {f["Id"]: f["Code"] for f in changed["Failed"]} == {
        "y": "ReceiptHandleIsInvalid",
        "z": "InvalidParameterValue",
    }
    (again,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert again["Body"] == "one"

    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "1", "ReceiptHandle": again["ReceiptHandle"]},
            {"Id": "2", "ReceiptHandle": handles["four"]},
            {"Id": "3", "ReceiptHandle": "junk"},
        ],
    )
    assert [s["Id"] for s in deleted["Successful"]] == ["1", "2"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in deleted["Failed"]] == [
        ("3", "ReceiptHandleIsInvalid", True)
    ]
    lbx.advance(60)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_an_earlier_receives_handle_still_deletes_but_a_handle_of_another_queue_does_not(
    lbx: LocalLambdabox,
) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    other = sqs.create_queue(QueueName="other")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    lbx.advance(6)
    second = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    assert first != second
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=other, ReceiptHandle=second)
    out = sqs.delete_message_batch(QueueUrl=other, Entries=[{"Id": "a", "ReceiptHandle": second}])
    assert [f["Code"] for f in out["Failed"]] == ["ReceiptHandleIsInvalid"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first)  # as on AWS's standard queues
    lbx.advance(60)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_a_batch_is_refused_whole_as_aws_does(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(QueueUrl=url, Entries=[])
    assert _error(exc) == (
        "EmptyBatchRequest",
        "There should be at least one SendMessageBatchRequestEntry in the request.",
    )
    assert isinstance(exc.value, sqs.exceptions.EmptyBatchRequest)
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest) as exc:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)])
    assert _error(exc)[1] == "Maximum number of entries per request are 10. You have sent 11."
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct) as exc:
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": "h"}] * 2)
    assert _error(exc)[1] == "Id a repeated."
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.change_message_visibility_batch(
            QueueUrl=url, Entries=[{"Id": "no spaces", "ReceiptHandle": "h", "VisibilityTimeout": 1}]
        )
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "x" * 81, "MessageBody": "x"}])
    big = "x" * 140_000
    with pytest.raises(sqs.exceptions.BatchRequestTooLong) as exc:
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "a", "MessageBody": big}, {"Id": "b", "MessageBody": big}]
        )
    assert _error(exc)[1] == "Batch requests cannot be longer than 262144 bytes. You have sent 280000 bytes."
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message_batch(QueueUrl=url + "-gone", Entries=[{"Id": "a", "MessageBody": "x"}])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def _query(lbx: LocalLambdabox, fields: dict[str, str]) -> tuple[int, str]:
    """A SigV4-signed query-protocol form POST, as SQS's query-era clients send it."""
    form = urlencode({"Version": "2012-11-05", **fields})
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
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_a_query_protocol_send_message_batch_is_answered_in_xml(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    status, answer = _query(
        lbx,
        {
            "Action": "SendMessageBatch",
            "QueueUrl": url,
            "SendMessageBatchRequestEntry.1.Id": "first",
            "SendMessageBatchRequestEntry.1.MessageBody": "hello",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": "kind",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": "String",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue": "greeting",
            "SendMessageBatchRequestEntry.2.Id": "second",
            "SendMessageBatchRequestEntry.2.MessageBody": "bad\x01",
        },
    )
    assert status == 200, answer
    assert "<SendMessageBatchResponse" in answer and "<SendMessageBatchResultEntry>" in answer
    assert "<Id>first</Id>" in answer and "<BatchResultErrorEntry>" in answer
    assert "<Code>InvalidMessageContents</Code>" in answer and "<SenderFault>true</SenderFault>" in answer
    status, answer = _query(
        lbx,
        {
            "Action": "ReceiveMessage",
            "QueueUrl": url,
            "AttributeName.1": "ApproximateReceiveCount",
            "MessageAttributeName.1": "All",
        },
    )
    assert status == 200, answer
    assert "<Message>" in answer and "<Body>hello</Body>" in answer
    assert "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>" in answer
    assert "<MessageAttribute><Name>kind</Name>" in answer and "<StringValue>greeting</StringValue>" in answer


def test_purge_empties_a_queue_once_a_minute_on_the_clock(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.receive_message(QueueUrl=url)  # one in flight: purged too
    sqs.purge_queue(QueueUrl=url)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        counts["ApproximateNumberOfMessages"] == "0"
        and counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    )
    sqs.send_message(QueueUrl=url, MessageBody="after")
    lbx.advance(59)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress) as exc:
        sqs.purge_queue(QueueUrl=url)
    assert _error(exc)[1] == "Only one PurgeQueue operation on q is allowed every 60 seconds."
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["after"]
    lbx.advance(2)
    sqs.purge_queue(QueueUrl=url)
    lbx.advance(60)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_tags_are_added_listed_and_removed_within_aws_limits(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)
    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev", "team": "a"})
    sqs.tag_queue(QueueUrl=url, Tags={"env": "prod"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod", "team": "a"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team", "absent"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod"}
    with pytest.raises(ClientError) as exc:
        sqs.tag_queue(QueueUrl=url, Tags={})
    assert _error(exc) == ("MissingParameter", "The request must contain the parameter Tags.")
    with pytest.raises(ClientError) as exc:
        sqs.tag_queue(QueueUrl=url, Tags={f"k{i}": "v" for i in range(50)})
    assert _error(exc) == ("InvalidParameterValue", "Too many tags added for queue q.")
    with pytest.raises(ClientError) as exc:
        sqs.untag_queue(QueueUrl=url, TagKeys=[])
    assert _error(exc)[0] == "InvalidParameterValue"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod"}


def test_a_message_received_too_often_moves_to_the_dead_letter_queue(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    src = sqs.create_queue(
        QueueName="src", Attributes={"VisibilityTimeout": "10", "RedrivePolicy": _redrive(_arn(sqs, dlq), 2)}
    )["QueueUrl"]
    attrs = {"kind": {"DataType": "String", "StringValue": "order"}}
    sent = sqs.send_message(QueueUrl=src, MessageBody="poison", MessageAttributes=attrs)
    for count in ("1", "2"):
        (m,) = sqs.receive_message(QueueUrl=src, AttributeNames=["ApproximateReceiveCount"])["Messages"]
        assert m["Attributes"] == {"ApproximateReceiveCount": count}
        lbx.advance(11)
    assert "Messages" not in sqs.receive_message(QueueUrl=src)
    (dead,) = sqs.receive_message(
        QueueUrl=dlq, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]
    assert dead["MessageId"] == sent["MessageId"] and dead["Body"] == "poison"
    assert dead["MessageAttributes"] == attrs
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == _arn(sqs, src)
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= 3
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    assert sqs.list_dead_letter_source_queues(QueueUrl=src)["queueUrls"] == []

    # removing the policy stops the moves
    sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": ""})
    assert "RedrivePolicy" not in sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["All"])["Attributes"]
    sqs.send_message(QueueUrl=src, MessageBody="kept")
    for _ in range(4):
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=src)["Messages"]] == ["kept"]
        lbx.advance(11)


def test_list_dead_letter_source_queues_pages(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    policy = _redrive(_arn(sqs, dlq), 3)
    urls = [
        sqs.create_queue(QueueName=f"src{i}", Attributes={"RedrivePolicy": policy})["QueueUrl"]
        for i in range(3)
    ]
    first = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2)
    assert first["queueUrls"] == urls[:2] and first["NextToken"]
    rest = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2, NextToken=first["NextToken"])
    assert rest["queueUrls"] == urls[2:] and "NextToken" not in rest
    paged = sqs.get_paginator("list_dead_letter_source_queues").paginate(QueueUrl=dlq, MaxResults=1)
    assert [u for page in paged for u in page["queueUrls"]] == urls


def test_a_redrive_allow_policy_decides_who_may_use_a_dead_letter_queue(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    src = sqs.create_queue(QueueName="src")["QueueUrl"]
    other = sqs.create_queue(QueueName="other")["QueueUrl"]
    closed = sqs.create_queue(
        QueueName="closed", Attributes={"RedriveAllowPolicy": '{"redrivePermission":"denyAll"}'}
    )
    only_src = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [_arn(sqs, src)]})
    picky = sqs.create_queue(QueueName="picky", Attributes={"RedriveAllowPolicy": only_src})["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(
            QueueUrl=src, Attributes={"RedrivePolicy": _redrive(_arn(sqs, closed["QueueUrl"]), 1)}
        )
    assert _error(exc)[0] == "InvalidParameterValue" and "RedrivePolicy is invalid" in _error(exc)[1]
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=other, Attributes={"RedrivePolicy": _redrive(_arn(sqs, picky), 1)})
    assert _error(exc)[0] == "InvalidParameterValue"
    sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": _redrive(_arn(sqs, picky), 1)})
    assert sqs.list_dead_letter_source_queues(QueueUrl=picky)["queueUrls"] == [src]


def test_receive_message_takes_system_attribute_names_in_the_legacy_attribute_names(
    lbx: LocalLambdabox,
) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    (m,) = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount", "SentTimestamp"])[
        "Messages"
    ]
    assert set(m["Attributes"]) == {"ApproximateReceiveCount", "SentTimestamp"}
    (m,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    assert {"SenderId", "SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(m["Attributes"])
    (m,) = sqs.receive_message(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Messages"]
    assert "Attributes" not in m
    (m,) = sqs.receive_message(
        QueueUrl=url, AttributeNames=["SenderId"], MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert set(m["Attributes"]) == {"SenderId", "ApproximateReceiveCount"}
    with pytest.raises(ClientError):
        sqs.receive_message(QueueUrl=url, AttributeNames=["NoSuchAttribute"])
    with pytest.raises(ClientError):  # the queue's attribute names stay strict where they belong
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])


def test_the_trace_header_is_kept_from_the_system_attribute_or_the_request(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    given = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    out = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {
                "Id": "a",
                "MessageBody": "x",
                "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": given}},
            }
        ],
    )
    assert out["Successful"][0]["MD5OfMessageSystemAttributes"]
    traced = lbx.client("sqs")
    header = "Root=1-67891233-abcdef012345678912345678;Lineage=1:a87bb23b:1"
    traced.meta.events.register(
        "before-sign.sqs.SendMessage",
        lambda request, **_: request.headers.__setitem__("X-Amzn-Trace-Id", header),
    )
    traced.send_message(QueueUrl=url, MessageBody="y")
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["AWSTraceHeader"]
    )
    assert sorted(m["Attributes"]["AWSTraceHeader"] for m in got["Messages"]) == sorted([given, header])


def test_redriven_purged_and_tagged_state_survives_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as first:
        sqs = first.client("sqs")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        src = sqs.create_queue(
            QueueName="src",
            Attributes={"VisibilityTimeout": "5", "RedrivePolicy": _redrive(_arn(sqs, dlq), 1)},
            tags={"team": "a"},
        )["QueueUrl"]
        sqs.send_message(QueueUrl=src, MessageBody="poison")
        assert len(sqs.receive_message(QueueUrl=src)["Messages"]) == 1
        first.advance(6)
        assert "Messages" not in sqs.receive_message(QueueUrl=src)  # moved to dlq
        held = sqs.create_queue(QueueName="held")["QueueUrl"]
        sqs.send_message(QueueUrl=held, MessageBody="in flight")
        handle = sqs.receive_message(QueueUrl=held, VisibilityTimeout=43_200)["Messages"][0]["ReceiptHandle"]
        purged = sqs.create_queue(QueueName="purged")["QueueUrl"]
        sqs.send_message(QueueUrl=purged, MessageBody="gone")
        purged_at = first.advance(3600)  # later than the next server's clock starts
        sqs.purge_queue(QueueUrl=purged)
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as second:
        sqs = second.client("sqs")
        second.set(purged_at + 1)  # this clock starts at the wall time, before the first one's end
        (dead,) = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"]
        assert dead["Body"] == "poison" and dead["Attributes"]["DeadLetterQueueSourceArn"].endswith(":src")
        assert "Messages" not in sqs.receive_message(QueueUrl=src)
        assert sqs.list_queue_tags(QueueUrl=src)["Tags"] == {"team": "a"}
        (source,) = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
        assert source.endswith("/src")  # on this server's port
        assert "Messages" not in sqs.receive_message(QueueUrl=purged)
        with pytest.raises(sqs.exceptions.PurgeQueueInProgress):
            sqs.purge_queue(QueueUrl=purged)
        sqs.delete_message(QueueUrl=held, ReceiptHandle=handle)  # handles outlive a restart
        counted = sqs.get_queue_attributes(
            QueueUrl=held, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )
        assert counted["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
        second.set(purged_at + 61)
        sqs.purge_queue(QueueUrl=purged)


def test_queue_urls_name_the_host_the_caller_reached(lbx: LocalLambdabox) -> None:
    """CreateQueue, GetQueueUrl and ListQueues answer http://<the request's Host>/<account>/<name>;
    a queue URL of any host (the subdomain form too) names the queue by its path."""
    port = urlsplit(lbx.url).port
    by_ip = lbx.client("sqs")
    by_name = boto3_client(f"http://localhost:{port}")
    url = by_ip.create_queue(QueueName="hosted")["QueueUrl"]
    assert url == f"http://127.0.0.1:{port}/000000000000/hosted"
    assert (
        by_name.get_queue_url(QueueName="hosted")["QueueUrl"]
        == f"http://localhost:{port}/000000000000/hosted"
    )
    assert by_name.list_queues()["QueueUrls"] == [f"http://localhost:{port}/000000000000/hosted"]
    subdomain = f"http://sqs.us-east-1.localhost:{port}/000000000000/hosted"
    by_ip.send_message(QueueUrl=subdomain, MessageBody="via the subdomain form")
    got = by_name.receive_message(QueueUrl=url)["Messages"]
    assert [m["Body"] for m in got] == ["via the subdomain form"]


def boto3_client(endpoint: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
