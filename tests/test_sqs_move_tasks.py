"""SQS message move tasks (dead-letter queue redrive) through boto3 against a real server on the
manual clock: StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask, AWS's refusals,
the rate per second of the clock, default destinations, failures and a restart mid-task."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import wait_until
from lambdabox.testing import LocalLambdabox


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    err = exc.value.response["Error"]
    return str(err["Code"]), str(err["Message"]), exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _count(sqs: Any, url: str) -> int:
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(got["Attributes"]["ApproximateNumberOfMessages"])


def _latest(sqs: Any, arn: str) -> dict[str, Any]:
    (task,) = sqs.list_message_move_tasks(SourceArn=arn)["Results"]
    return dict(task)


def _dead_letters(lbx: LocalLambdabox, sqs: Any, src_name: str, dlq: str, bodies: list[str]) -> str:
    """A source queue whose messages `bodies` went to `dlq` (received once, max receive count 1)."""
    src = sqs.create_queue(
        QueueName=src_name,
        Attributes={
            "VisibilityTimeout": "5",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": _arn(sqs, dlq), "maxReceiveCount": 1}),
        },
    )["QueueUrl"]
    attrs = {
        "kind": {"DataType": "String", "StringValue": "order"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    for body in bodies:
        sqs.send_message(QueueUrl=src, MessageBody=body, MessageAttributes=attrs)
    got = 0
    while got < len(bodies):
        got += len(sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10).get("Messages", []))
    lbx.advance(6)
    assert "Messages" not in sqs.receive_message(QueueUrl=src)  # the receive moves them to the dlq
    return str(src)


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return out
        out.extend(got)


def test_a_task_moves_the_dead_letters_back_to_their_sources_as_new_messages(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    a = _dead_letters(lbx, sqs, "a", dlq, ["a1", "a2"])
    b = _dead_letters(lbx, sqs, "b", dlq, ["b1"])
    dead = {m["Body"]: m for m in _drain(sqs, dlq)}
    assert set(dead) == {"a1", "a2", "b1"}
    lbx.advance(31)  # visible again in the dlq
    handle = sqs.start_message_move_task(SourceArn=_arn(sqs, dlq))["TaskHandle"]
    wait_until(lambda: _latest(sqs, _arn(sqs, dlq))["Status"] == "COMPLETED")
    task = _latest(sqs, _arn(sqs, dlq))
    assert task["ApproximateNumberOfMessagesMoved"] == 3 and task["ApproximateNumberOfMessagesToMove"] == 3
    assert task["SourceArn"] == _arn(sqs, dlq)
    assert (
        "TaskHandle" not in task
        and "DestinationArn" not in task
        and "MaxNumberOfMessagesPerSecond" not in task
    )
    assert isinstance(task["StartedTimestamp"], int)
    assert json.loads(base64.b64decode(handle))["sourceArn"] == _arn(sqs, dlq)
    assert _count(sqs, dlq) == 0
    back = {m["Body"]: m for m in _drain(sqs, a) + _drain(sqs, b)}
    assert set(back) == {"a1", "a2", "b1"}
    assert [m["Body"] for m in _drain(sqs, a)] == []
    for body, m in back.items():
        old = dead[body]
        assert m["MessageId"] != old["MessageId"]  # a new message
        assert (
            m["MD5OfBody"] == old["MD5OfBody"]
            and m["MD5OfMessageAttributes"] == old["MD5OfMessageAttributes"]
        )
        assert m["MessageAttributes"] == old["MessageAttributes"]
        assert m["Attributes"]["ApproximateReceiveCount"] == "1"
        assert "DeadLetterQueueSourceArn" not in m["Attributes"]
        assert int(m["Attributes"]["SentTimestamp"]) > int(old["Attributes"]["SentTimestamp"])


def test_a_rate_moves_that_many_per_second_of_the_clock_and_a_cancel_stops_it(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    _dead_letters(lbx, sqs, "src", dlq, [f"m{i}" for i in range(10)])
    dest = sqs.create_queue(QueueName="dest")["QueueUrl"]
    dlq_arn = _arn(sqs, dlq)
    handle = sqs.start_message_move_task(
        SourceArn=dlq_arn, DestinationArn=_arn(sqs, dest), MaxNumberOfMessagesPerSecond=2
    )["TaskHandle"]
    running = _latest(sqs, dlq_arn)
    assert running == {
        "Status": "RUNNING",
        "TaskHandle": handle,
        "SourceArn": dlq_arn,
        "DestinationArn": _arn(sqs, dest),
        "MaxNumberOfMessagesPerSecond": 2,
        "ApproximateNumberOfMessagesMoved": 0,
        "ApproximateNumberOfMessagesToMove": 10,
        "StartedTimestamp": running["StartedTimestamp"],
    }
    with pytest.raises(ClientError) as exc:
        sqs.start_message_move_task(SourceArn=dlq_arn)
    assert _error(exc) == (
        "InvalidParameterValue",
        "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
        400,
    )
    lbx.advance(1)
    wait_until(lambda: _count(sqs, dest) == 2)
    lbx.advance(2)
    wait_until(lambda: _count(sqs, dest) == 6)
    assert _latest(sqs, dlq_arn)["ApproximateNumberOfMessagesMoved"] == 6
    assert sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"] == 6
    wait_until(lambda: _latest(sqs, dlq_arn)["Status"] == "CANCELLED")
    lbx.advance(5)
    assert _count(sqs, dest) == 6 and _count(sqs, dlq) == 4
    cancelled = _latest(sqs, dlq_arn)
    assert "TaskHandle" not in cancelled and cancelled["ApproximateNumberOfMessagesMoved"] == 6
    with pytest.raises(ClientError) as exc:
        sqs.cancel_message_move_task(TaskHandle=handle)
    assert _error(exc) == ("ResourceNotFoundException", "Task does not exist.", 404)

    # a new task may start now; the listing is most recent first
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=_arn(sqs, dest))
    wait_until(lambda: _latest(sqs, dlq_arn)["Status"] == "COMPLETED")
    listed = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]
    assert [t["Status"] for t in listed] == ["COMPLETED", "CANCELLED"]
    assert listed[0]["ApproximateNumberOfMessagesMoved"] == 4 and _count(sqs, dest) == 10


def test_aws_refusals(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    _dead_letters(lbx, sqs, "src", dlq, ["x"])
    plain = sqs.create_queue(QueueName="plain")["QueueUrl"]
    dlq_arn = _arn(sqs, dlq)
    gone = dlq_arn.rsplit(":", 1)[0] + ":nope"
    cases: list[tuple[dict[str, Any], tuple[str, str, int]]] = [
        ({"SourceArn": _arn(sqs, plain)}, ("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.", 400)),
        ({"SourceArn": gone}, ("ResourceNotFoundException", "The resource that you specified for the SourceArn parameter doesn't exist.", 404)),
        ({"SourceArn": dlq_arn, "DestinationArn": gone}, ("ResourceNotFoundException", "The resource that you specified for the DestinationArn parameter doesn't exist.", 404)),
        ({"SourceArn": dlq_arn, "DestinationArn": dlq_arn}, ("InvalidParameterValue", "Source queue arn and destination queue arn cannot be the same.", 400)),
    ]  # fmt: skip
    for rate in (0, 501):
        reason = "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500."
        cases.append(
            (
                {"SourceArn": dlq_arn, "MaxNumberOfMessagesPerSecond": rate},
                ("InvalidParameterValue", reason, 400),
            )
        )
    for params, expected in cases:
        with pytest.raises(ClientError) as exc:
            sqs.start_message_move_task(**params)
        assert _error(exc) == expected, params
    assert sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"] == []
    with pytest.raises(ClientError) as exc:
        sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=11)
    assert _error(exc)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        sqs.list_message_move_tasks(SourceArn=gone)
    assert _error(exc)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        sqs.cancel_message_move_task(TaskHandle="not a handle")
    assert _error(exc) == ("InvalidParameterValue", "Value for parameter TaskHandle is invalid.", 400)
    unknown = base64.b64encode(json.dumps({"taskId": "x", "sourceArn": dlq_arn}).encode()).decode()
    with pytest.raises(ClientError) as exc:
        sqs.cancel_message_move_task(TaskHandle=unknown)
    assert _error(exc) == ("ResourceNotFoundException", "Task does not exist.", 404)
    elsewhere = base64.b64encode(json.dumps({"taskId": "x", "sourceArn": gone}).encode()).decode()
    with pytest.raises(ClientError) as exc:
        sqs.cancel_message_move_task(TaskHandle=elsewhere)
    assert _error(exc) == ("ResourceNotFoundException", "The resource that you specified for the SourceArn parameter doesn't exist.", 404)  # fmt: skip


def test_a_deleted_destination_or_a_message_without_a_source_fails_the_task(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    _dead_letters(lbx, sqs, "src", dlq, ["a", "b", "c"])
    dest = sqs.create_queue(QueueName="dest")["QueueUrl"]
    dlq_arn = _arn(sqs, dlq)
    sqs.start_message_move_task(
        SourceArn=dlq_arn, DestinationArn=_arn(sqs, dest), MaxNumberOfMessagesPerSecond=1
    )
    lbx.advance(1)
    wait_until(lambda: _latest(sqs, dlq_arn)["ApproximateNumberOfMessagesMoved"] == 1)
    sqs.delete_queue(QueueUrl=dest)
    lbx.advance(1)
    wait_until(lambda: _latest(sqs, dlq_arn)["Status"] == "FAILED")
    failed = _latest(sqs, dlq_arn)
    assert failed["FailureReason"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert failed["ApproximateNumberOfMessagesMoved"] == 1 and _count(sqs, dlq) == 2

    # a message sent straight to the dead-letter queue has no source to go back to
    sqs.purge_queue(QueueUrl=dlq)
    sqs.send_message(QueueUrl=dlq, MessageBody="direct")
    sqs.start_message_move_task(SourceArn=dlq_arn)
    wait_until(lambda: _latest(sqs, dlq_arn)["Status"] == "FAILED")
    assert _latest(sqs, dlq_arn)["FailureReason"] == "CouldNotDetermineMessageSource"
    assert _count(sqs, dlq) == 1


def test_a_running_task_resumes_after_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as first:
        sqs = first.client("sqs")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        _dead_letters(first, sqs, "src", dlq, [f"m{i}" for i in range(5)])
        dest = sqs.create_queue(QueueName="dest")["QueueUrl"]
        dlq_arn = _arn(sqs, dlq)
        handle = sqs.start_message_move_task(
            SourceArn=dlq_arn, DestinationArn=_arn(sqs, dest), MaxNumberOfMessagesPerSecond=2
        )["TaskHandle"]
        stopped_at = first.advance(1)
        wait_until(lambda: _count(sqs, dest) == 2)
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as second:
        sqs = second.client("sqs")
        second.set(stopped_at)  # this clock starts at the wall time, before the first one's end
        dlq, dest = (
            sqs.get_queue_url(QueueName="dlq")["QueueUrl"],
            sqs.get_queue_url(QueueName="dest")["QueueUrl"],
        )
        task = _latest(sqs, dlq_arn)
        assert task["Status"] == "RUNNING" and task["TaskHandle"] == handle
        assert task["ApproximateNumberOfMessagesMoved"] == 2
        second.advance(1)
        wait_until(lambda: _count(sqs, dest) == 4)
        second.advance(1)
        wait_until(lambda: _latest(sqs, dlq_arn)["Status"] == "COMPLETED")
        assert _count(sqs, dest) == 5 and _count(sqs, dlq) == 0


def test_a_fifo_dead_letter_queue_moves_back_in_group_order_to_a_fifo_queue_only(lbx: LocalLambdabox) -> None:
    sqs = lbx.client("sqs")
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    dlq = sqs.create_queue(QueueName="dlq.fifo", Attributes=fifo)["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": _arn(sqs, dlq), "maxReceiveCount": 1})
    src = sqs.create_queue(
        QueueName="src.fifo", Attributes={**fifo, "VisibilityTimeout": "5", "RedrivePolicy": redrive}
    )["QueueUrl"]
    sent = [("a", "a1"), ("b", "b1"), ("a", "a2")]
    for group, body in sent:
        sqs.send_message(QueueUrl=src, MessageBody=body, MessageGroupId=group)
    got = 0
    while got < len(sent):
        got += len(sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10).get("Messages", []))
        lbx.advance(6)
    assert "Messages" not in sqs.receive_message(QueueUrl=src)  # all in the dead-letter queue now
    assert _count(sqs, dlq) == 3
    standard = sqs.create_queue(QueueName="standard")["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs.start_message_move_task(SourceArn=_arn(sqs, dlq), DestinationArn=_arn(sqs, standard))
    assert _error(exc)[0] == "InvalidParameterValue"
    sqs.start_message_move_task(SourceArn=_arn(sqs, dlq))
    wait_until(lambda: _latest(sqs, _arn(sqs, dlq))["Status"] == "COMPLETED")
    back = []
    while len(back) < 3:
        for m in sqs.receive_message(
            QueueUrl=src, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId"]
        ).get("Messages", []):
            back.append((m["Attributes"]["MessageGroupId"], m["Body"]))
            sqs.delete_message(QueueUrl=src, ReceiptHandle=m["ReceiptHandle"])
    assert [b for g, b in back if g == "a"] == ["a1", "a2"] and sorted(back) == sorted(sent)
