"""SQS FIFO queues through boto3 against a real server: creation and attribute errors as AWS
answers them, MessageGroupId / MessageDeduplicationId checks, the five-minute deduplication window
on the manual clock (explicit ids, content-based, per queue or per group), SequenceNumbers, batch
sends, strict order per group under concurrent consumers, ReceiveRequestAttemptId retries, a FIFO
dead-letter queue, and a send / receive over the query protocol."""

from __future__ import annotations

import hashlib
import http.client
import threading
import time
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


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return str(err.get("QueryErrorCode") or err["Code"]), str(err["Message"])


def _fifo(sqs: Any, name: str = "orders.fifo", **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", **attributes})["QueueUrl"])


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


# ============================================================================================
# queues
# ============================================================================================


def test_a_fifo_queue_is_created_with_its_attributes_and_aws_s_errors(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs, ContentBasedDeduplication="true")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "true"
    assert attrs["DeduplicationScope"] == "queue" and attrs["FifoThroughputLimit"] == "perQueue"
    assert _fifo(sqs, ContentBasedDeduplication="true") == url  # same name, same attributes
    standard = sqs.create_queue(QueueName="plain")["QueueUrl"]
    plain = sqs.get_queue_attributes(QueueUrl=standard, AttributeNames=["All"])["Attributes"]
    assert "FifoQueue" not in plain and "ContentBasedDeduplication" not in plain

    fifo_name = (
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
        "must end with .fifo suffix and be 1 to 80 in length."
    )
    cases: list[tuple[dict[str, Any], tuple[str, str]]] = [
        (
            {"QueueName": "nosuffix", "Attributes": {"FifoQueue": "true"}},
            ("InvalidParameterValue", fifo_name),
        ),
        (
            {"QueueName": "x" * 76 + ".fifo", "Attributes": {"FifoQueue": "true"}},
            ("InvalidParameterValue", fifo_name),
        ),
        (
            {"QueueName": "named.fifo"},
            (
                "InvalidParameterValue",
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ),
        ),
        (
            {"QueueName": "std", "Attributes": {"FifoQueue": "false"}},
            ("InvalidAttributeName", "Unknown Attribute FifoQueue."),
        ),
        (
            {"QueueName": "std", "Attributes": {"ContentBasedDeduplication": "true"}},
            ("InvalidAttributeName", "Unknown Attribute ContentBasedDeduplication."),
        ),
        (
            {"QueueName": "std", "Attributes": {"DeduplicationScope": "queue"}},
            ("InvalidAttributeName", "Unknown Attribute DeduplicationScope."),
        ),
        (
            {"QueueName": "t.fifo", "Attributes": {"FifoQueue": "true", "DeduplicationScope": "group"}},
            ("InvalidAttributeValue", "Invalid value for the parameter DeduplicationScope."),
        ),
        (
            {
                "QueueName": "t.fifo",
                "Attributes": {"FifoQueue": "true", "FifoThroughputLimit": "perMessageGroupId"},
            },
            (
                "InvalidAttributeValue",
                "Invalid value for the parameter FifoThroughputLimit. Reason: The perMessageGroupId value is "
                "allowed only when the value for DeduplicationScope is messageGroup.",
            ),
        ),
    ]
    for kwargs, expected in cases:
        with pytest.raises(ClientError) as exc:
            sqs.create_queue(**kwargs)
        assert _error(exc) == expected, kwargs

    high = _fifo(sqs, "high.fifo", DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    got = sqs.get_queue_attributes(
        QueueUrl=high, AttributeNames=["DeduplicationScope", "FifoThroughputLimit"]
    )
    assert got["Attributes"] == {
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"ContentBasedDeduplication": "false"})
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ContentBasedDeduplication"])
    assert got["Attributes"] == {"ContentBasedDeduplication": "false"}
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "false"})
    assert _error(exc) == (
        "InvalidAttributeValue",
        "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.",
    )
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=standard, Attributes={"ContentBasedDeduplication": "true"})
    assert _error(exc) == ("InvalidAttributeName", "Unknown Attribute ContentBasedDeduplication.")
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=high, Attributes={"DeduplicationScope": "queue"})
    assert _error(exc)[0] == "InvalidAttributeValue"


def test_a_dead_letter_queue_is_of_the_source_s_type(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    fifo_dlq = _arn(sqs, _fifo(sqs, "dlq.fifo"))
    standard_dlq = _arn(sqs, sqs.create_queue(QueueName="dlq")["QueueUrl"])
    for name, target, fifo in (("src.fifo", standard_dlq, True), ("src", fifo_dlq, False)):
        policy = f'{{"deadLetterTargetArn":"{target}","maxReceiveCount":2}}'
        attributes = {"RedrivePolicy": policy, **({"FifoQueue": "true"} if fifo else {})}
        with pytest.raises(ClientError) as exc:
            sqs.create_queue(QueueName=name, Attributes=attributes)
        assert _error(exc) == (
            "InvalidParameterValue",
            f"Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same "
            "type of queue as the source.",
        )


# ============================================================================================
# sending
# ============================================================================================


def test_sends_are_checked_as_aws_checks_them(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs)
    standard = sqs.create_queue(QueueName="plain")["QueueUrl"]
    cases: list[tuple[str, dict[str, Any], tuple[str, str]]] = [
        (url, {}, ("MissingParameter", "The request must contain the parameter MessageGroupId.")),
        (
            url,
            {"MessageGroupId": "g"},
            (
                "InvalidParameterValue",
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                "provided explicitly",
            ),
        ),
        (
            url,
            {"MessageGroupId": "g", "MessageDeduplicationId": "d", "DelaySeconds": 5},
            (
                "InvalidParameterValue",
                "Value 5 for parameter DelaySeconds is invalid. Reason: The request include parameter that is "
                "not valid for this queue type.",
            ),
        ),
        (
            url,
            {"MessageGroupId": "a b", "MessageDeduplicationId": "d"},
            (
                "InvalidParameterValue",
                "Value a b for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include "
                "alphanumeric and punctuation characters. 1 to 128 in length.",
            ),
        ),
        (
            url,
            {"MessageGroupId": "g", "MessageDeduplicationId": "d" * 129},
            (
                "InvalidParameterValue",
                f"Value {'d' * 129} for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId "
                "can only include alphanumeric and punctuation characters. 1 to 128 in length.",
            ),
        ),
        (
            standard,
            {"MessageDeduplicationId": "d"},
            (
                "InvalidParameterValue",
                "Value d for parameter MessageDeduplicationId is invalid. Reason: The request include parameter "
                "that is not valid for this queue type.",
            ),
        ),
    ]
    for queue_url, extra, expected in cases:
        with pytest.raises(ClientError) as exc:
            sqs.send_message(QueueUrl=queue_url, MessageBody="hi", **extra)
        assert _error(exc) == expected, extra
    # a zero delay is taken, as AWS takes it; and punctuation is allowed in the ids
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="ok",
        MessageGroupId="g!#:~",
        MessageDeduplicationId="d-1.[x]",
        DelaySeconds=0,
    )
    assert len(sent["SequenceNumber"]) == 20
    # a standard queue takes a MessageGroupId (fair queues) and reports it
    sqs.send_message(QueueUrl=standard, MessageBody="tenant", MessageGroupId="tenant-1")
    got = sqs.receive_message(QueueUrl=standard, MessageSystemAttributeNames=["All"])["Messages"][0]
    assert got["Attributes"]["MessageGroupId"] == "tenant-1"
    assert "SequenceNumber" not in got["Attributes"] and "MessageDeduplicationId" not in got["Attributes"]


def test_duplicates_within_five_minutes_are_acknowledged_but_not_queued(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs)
    first = sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="d")
    again = sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="d")
    assert again["MessageId"] == first["MessageId"] and again["SequenceNumber"] == first["SequenceNumber"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["one"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    lbx.advance(200)  # deleted, but still within the window
    dup = sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="d")
    assert dup["MessageId"] == first["MessageId"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    lbx.advance(101)  # five minutes after the first send
    later = sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="d")
    assert later["MessageId"] != first["MessageId"]
    assert int(later["SequenceNumber"]) > int(first["SequenceNumber"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["one"]


def test_content_based_deduplication_uses_the_body_s_sha256(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs, ContentBasedDeduplication="true")
    a = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    b = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="other")
    c = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g", MessageDeduplicationId="own")
    assert a["MessageId"] == b["MessageId"] and c["MessageId"] != a["MessageId"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    messages = got["Messages"]
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == [
        hashlib.sha256(b"same").hexdigest(),
        "own",
    ]
    assert messages[0]["Attributes"]["MessageGroupId"] == "g"
    assert messages[0]["Attributes"]["SequenceNumber"] == a["SequenceNumber"]


def test_deduplication_scoped_per_message_group(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs, DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    a = sqs.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="g1", MessageDeduplicationId="d")
    b = sqs.send_message(QueueUrl=url, MessageBody="b", MessageGroupId="g2", MessageDeduplicationId="d")
    c = sqs.send_message(QueueUrl=url, MessageBody="c", MessageGroupId="g1", MessageDeduplicationId="d")
    assert a["MessageId"] != b["MessageId"] and c["MessageId"] == a["MessageId"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["a", "b"]


def test_sequence_numbers_increase_and_batches_deduplicate(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs)
    entries = [
        {"Id": "a", "MessageBody": "1", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
        {"Id": "b", "MessageBody": "2", "MessageGroupId": "g", "MessageDeduplicationId": "2"},
        {"Id": "c", "MessageBody": "1 again", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
        {"Id": "d", "MessageBody": "no group", "MessageDeduplicationId": "3"},
        {
            "Id": "e",
            "MessageBody": "late",
            "MessageGroupId": "g",
            "MessageDeduplicationId": "4",
            "DelaySeconds": 3,
        },
    ]
    out = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    ok = {e["Id"]: e for e in out["Successful"]}
    assert sorted(ok) == ["a", "b", "c"]
    assert (
        ok["c"]["MessageId"] == ok["a"]["MessageId"]
        and ok["c"]["SequenceNumber"] == ok["a"]["SequenceNumber"]
    )
    failed = {e["Id"]: (e["Code"], e["SenderFault"]) for e in out["Failed"]}
    assert failed == {"d": ("MissingParameter", True), "e": ("InvalidParameterValue", True)}
    numbers = [int(ok["a"]["SequenceNumber"]), int(ok["b"]["SequenceNumber"])]
    for n in range(3):
        sent = sqs.send_message(
            QueueUrl=url, MessageBody=f"more {n}", MessageGroupId="h", MessageDeduplicationId=f"m{n}"
        )
        numbers.append(int(sent["SequenceNumber"]))
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert all(len(str(n)) == 20 for n in numbers)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["1", "2", "more 0", "more 1", "more 2"]


# ============================================================================================
# receiving
# ============================================================================================


def test_a_group_is_held_while_one_of_its_messages_is_in_flight(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs, ContentBasedDeduplication="true", VisibilityTimeout="30")
    for body, group in (("a1", "A"), ("b1", "B"), ("a2", "A"), ("b2", "B"), ("a3", "A")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    # as many of one group as asked for before the next group's
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    assert [m["Body"] for m in first] == ["a1", "a2"]
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in second] == ["b1", "b2"]  # A is in flight: a3 waits
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # a2 is still in flight
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    assert [m["Body"] for m in again["Messages"]] == ["a2", "a3"]
    assert again["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"
    lbx.advance(31)  # the visibility timeout: both groups come back, in order
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["b1", "b2", "a2", "a3"]


def test_a_queue_delay_holds_back_the_rest_of_the_group(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs, ContentBasedDeduplication="true", DelaySeconds="10")
    sqs.send_message(QueueUrl=url, MessageBody="first", MessageGroupId="g")
    lbx.advance(5)
    sqs.send_message(QueueUrl=url, MessageBody="second", MessageGroupId="g")
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    lbx.advance(6)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == [
        "first"
    ]


def test_a_retried_receive_attempt_gets_the_same_messages(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs, ContentBasedDeduplication="true")
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", MessageGroupId=f"g{n}")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-1")[
        "Messages"
    ]
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-1")[
        "Messages"
    ]
    assert [(m["Body"], m["ReceiptHandle"]) for m in again] == [
        (m["Body"], m["ReceiptHandle"]) for m in first
    ]
    other = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-2")[
        "Messages"
    ]
    assert [m["Body"] for m in other] == ["m2"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    # the first attempt's messages are no longer all in flight: a retry is a new receive
    assert "Messages" not in sqs.receive_message(QueueUrl=url, ReceiveRequestAttemptId="try-1")


def test_order_per_group_under_concurrent_consumers(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs, VisibilityTimeout="600")
    groups, per_group = 6, 12
    for n in range(per_group):
        entries = [
            {
                "Id": f"g{g}",
                "MessageBody": f"{g}:{n}",
                "MessageGroupId": f"g{g}",
                "MessageDeduplicationId": f"{g}-{n}",
            }
            for g in range(groups)
        ]
        assert len(sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]) == groups
    processed: dict[str, list[int]] = {f"g{g}": [] for g in range(groups)}
    holding: dict[str, int] = {}
    problems: list[str] = []
    lock = threading.Lock()
    total = groups * per_group

    def consumer() -> None:
        client = lbx.client("sqs")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with lock:
                if sum(len(v) for v in processed.values()) >= total:
                    return
            got = client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=3, MessageSystemAttributeNames=["MessageGroupId"]
            ).get("Messages", [])
            mine: dict[str, list[dict[str, Any]]] = {}
            for m in got:
                mine.setdefault(m["Attributes"]["MessageGroupId"], []).append(m)
            with lock:
                for group, ms in mine.items():
                    if holding.get(group, 0):
                        problems.append(f"{group} received while another consumer holds it")
                    holding[group] = len(ms)
                    processed[group].extend(int(m["Body"].split(":")[1]) for m in ms)
            for group, ms in mine.items():
                for m in ms[:-1]:
                    client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                with lock:  # let go before the last delete frees the group on the server
                    holding[group] = 0
                client.delete_message(QueueUrl=url, ReceiptHandle=ms[-1]["ReceiptHandle"])

    threads = [threading.Thread(target=consumer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    assert processed == {f"g{g}": list(range(per_group)) for g in range(groups)}


# ============================================================================================
# dead letters and the query protocol
# ============================================================================================


def test_dead_letters_move_to_a_fifo_dead_letter_queue_in_order(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    dlq = _fifo(sqs, "dead.fifo")
    policy = f'{{"deadLetterTargetArn":"{_arn(sqs, dlq)}","maxReceiveCount":1}}'
    url = _fifo(sqs, "work.fifo", VisibilityTimeout="10", RedrivePolicy=policy)
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", MessageGroupId="g", MessageDeduplicationId=str(n))
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 3
    lbx.advance(11)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # received once: all moved
    got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    messages = got["Messages"]
    assert [m["Body"] for m in messages] == ["m0", "m1", "m2"]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"g"}
    assert messages[0]["Attributes"]["DeadLetterQueueSourceArn"] == _arn(sqs, url)
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]


def test_a_fifo_send_and_receive_over_the_query_protocol(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs, "query.fifo")
    form = urlencode(
        {
            "Action": "SendMessage",
            "Version": "2012-11-05",
            "QueueUrl": url,
            "MessageBody": "over query",
            "MessageGroupId": "g",
            "MessageDeduplicationId": "q1",
        }
    )

    def post(body: str) -> tuple[int, str]:
        request = AWSRequest(
            "POST",
            lbx.url + "/",
            data=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        SigV4Auth(Credentials("test", "test"), "sqs", "us-east-1").add_auth(request)
        split = urlsplit(lbx.url)
        conn = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
        try:
            conn.request("POST", "/", body.encode(), dict(request.prepare().headers))
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    status, answer = post(form)
    assert status == 200, answer
    assert "<SequenceNumber>" in answer and "<MessageId>" in answer
    receive = urlencode(
        {
            "Action": "ReceiveMessage",
            "Version": "2012-11-05",
            "QueueUrl": url,
            "MessageSystemAttributeName.1": "All",
            "ReceiveRequestAttemptId": "r1",
        }
    )
    status, answer = post(receive)
    assert status == 200, answer
    assert "<Body>over query</Body>" in answer
    assert "<Name>MessageGroupId</Name><Value>g</Value>" in answer.replace("\n", "").replace(" ", "")
    status, answer = post(
        urlencode({"Action": "SendMessage", "Version": "2012-11-05", "QueueUrl": url, "MessageBody": "x"})
    )
    assert status == 400 and "MissingParameter" in answer and "MessageGroupId" in answer


def test_messages_deduplication_and_sequence_survive_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        sqs = lbx.client("sqs")
        url = _fifo(sqs, "kept.fifo")
        first = sqs.send_message(
            QueueUrl=url, MessageBody="a", MessageGroupId="g", MessageDeduplicationId="1"
        )
        sqs.send_message(QueueUrl=url, MessageBody="b", MessageGroupId="g", MessageDeduplicationId="2")
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        sqs = lbx.client("sqs")
        dup = sqs.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="g", MessageDeduplicationId="1")
        assert (dup["MessageId"], dup["SequenceNumber"]) == (first["MessageId"], first["SequenceNumber"])
        later = sqs.send_message(
            QueueUrl=url, MessageBody="c", MessageGroupId="g", MessageDeduplicationId="3"
        )
        assert int(later["SequenceNumber"]) > int(first["SequenceNumber"])
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
        assert [m["Body"] for m in got["Messages"]] == ["a", "b", "c"]
        assert got["Messages"][0]["Attributes"]["SequenceNumber"] == first["SequenceNumber"]


def test_an_earlier_receive_s_handle_deletes_nothing(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    url = _fifo(sqs, ContentBasedDeduplication="true", VisibilityTimeout="10")
    sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g")
    stale = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    lbx.advance(11)
    latest = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=stale)  # succeeds, deletes nothing
    out = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "1", "ReceiptHandle": stale}])
    assert [e["Id"] for e in out["Successful"]] == ["1"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=latest)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
