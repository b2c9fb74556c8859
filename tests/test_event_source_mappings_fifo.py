"""Event source mappings from SQS FIFO queues: AWS's FIFO SQS event, concurrent pollers that
never reorder a message group, a partial batch response that holds back the rest of a failed
item's group until the visibility timeout, and the settings Lambda refuses for a FIFO queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy, wait_until
from lambdabox.lambda_.esm_sqs import QueueMessage, record, settled
from lambdabox.testing import LocalLambdabox
from test_event_source_mappings import LOGS_EVENT, counts, queue, records

EVENTS = Path(__file__).parent / "events"

#: forwards each record, in the batch's order, to a FIFO queue in the record's group: that
#: queue's order per group is the order the function processed them in
FORWARDS = """
import json
import os
import boto3

sqs = boto3.client("sqs")

def handler(event, context):
    print("EVENT " + json.dumps(event))
    for r in event["Records"]:
        a = r["attributes"]
        sqs.send_message(
            QueueUrl=os.environ["OUT"], MessageBody=r["body"], MessageGroupId=a["MessageGroupId"],
            MessageDeduplicationId=a["MessageDeduplicationId"],
        )
"""
#: fails, on its first delivery, every record whose body starts with "bad", naming only that one
FAILS_FIRST_TIME = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    bad = [
        r["messageId"] for r in event["Records"]
        if r["body"].startswith("bad") and r["attributes"]["ApproximateReceiveCount"] == "1"
    ]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in bad]}
"""


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def _send(sqs: Any, url: str, group: str, *bodies: str) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body)


def test_a_fifo_mapping_with_concurrency_keeps_each_group_in_order(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "in.fifo", FifoQueue="true", VisibilityTimeout="60")
    out, _ = queue(lbx, "out.fifo", FifoQueue="true")
    groups, per_group = 5, 8
    for n in range(per_group):
        for g in range(groups):
            _send(sqs, url, f"g{g}", f"g{g}-{n:02d}")
    name = deploy(lam, {"app.py": FORWARDS}, Environment={"Variables": {"OUT": out}})
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, BatchSize=3, ScalingConfig={"MaximumConcurrency": 4}
    )
    wait_until(lambda: counts(lbx, url) == (0, 0), limit=120)
    seen: dict[str, list[str]] = {}
    while True:
        got = sqs.receive_message(QueueUrl=out, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
        if not got.get("Messages"):
            break
        for m in got["Messages"]:
            seen.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
        sqs.delete_message_batch(
            QueueUrl=out,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got["Messages"])
            ],
        )
    assert seen == {f"g{g}": [f"g{g}-{n:02d}" for n in range(per_group)] for g in range(groups)}
    got_records = records(lbx, name)
    assert len(got_records) == groups * per_group
    sample = json.loads((EVENTS / "sqs-receive-fifo.json").read_text())["Records"][0]
    for r in got_records:
        assert set(r) == set(sample)
        assert set(r["attributes"]) == set(sample["attributes"])
        assert r["attributes"]["MessageDeduplicationId"] == r["body"]
        assert len(r["attributes"]["SequenceNumber"]) == 20
        assert r["eventSourceARN"] == arn
    for ev_records in (
        [r for r in got_records if r["attributes"]["MessageGroupId"] == f"g{g}"] for g in range(groups)
    ):
        numbers = [int(r["attributes"]["SequenceNumber"]) for r in ev_records]
        assert numbers == sorted(numbers)


def test_a_failed_item_holds_back_the_rest_of_its_group(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "partial.fifo", FifoQueue="true", VisibilityTimeout="30")
    _send(sqs, url, "A", "a0", "bad-a1", "a2")
    _send(sqs, url, "B", "b0", "b1")
    name = deploy(lam, {"app.py": FAILS_FIRST_TIME})
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    wait_until(lambda: counts(lbx, url) == (0, 2))  # bad-a1 and a2 in flight, the rest deleted
    assert sorted(r["body"] for r in records(lbx, name)) == ["a0", "a2", "b0", "b1", "bad-a1"]
    lbx.advance(31)
    wait_until(lambda: counts(lbx, url) == (0, 0))
    again = records(lbx, name)[5:]
    assert [r["body"] for r in again] == ["bad-a1", "a2"]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in again] == ["2", "2"]


def test_what_lambda_refuses_for_a_fifo_queue(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    _, arn = queue(lbx, "checks.fifo", FifoQueue="true", VisibilityTimeout="60")
    name = deploy(lam, {"app.py": LOGS_EVENT})
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=name, BatchSize=100, MaximumBatchingWindowInSeconds=5
        )
    assert aws_error(exc) == (
        "InvalidParameterValueException",
        "Batching window is not supported for FIFO queues",
        400,
    )
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=11)
    assert aws_error(exc) == (
        "InvalidParameterValueException",
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
        400,
    )
    made = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10)
    assert made["BatchSize"] == 10 and made["MaximumBatchingWindowInSeconds"] == 0
    with pytest.raises(ClientError) as exc:
        lam.update_event_source_mapping(UUID=made["UUID"], MaximumBatchingWindowInSeconds=1)
    assert aws_error(exc)[1] == "Batching window is not supported for FIFO queues"


def test_the_record_of_a_fifo_message_is_aws_s_and_a_failure_holds_its_group() -> None:
    sample = json.loads((EVENTS / "sqs-receive-fifo.json").read_text())["Records"][0]
    m = QueueMessage(
        sample["messageId"],
        sample["receiptHandle"],
        sample["body"],
        sample["md5OfBody"],
        dict(sample["attributes"]),
    )
    assert record(m, sample["eventSourceARN"], sample["awsRegion"]) == sample

    def msg(ident: str, group: str) -> QueueMessage:
        return QueueMessage(ident, f"h-{ident}", ident, "", {"MessageGroupId": group})

    batch = [msg("a1", "A"), msg("b1", "B"), msg("a2", "A"), msg("a3", "A"), msg("b2", "B")]
    assert [x.message_id for x in settled(batch, {"a2"}, fifo=True)] == ["a1", "b1", "b2"]
    assert [x.message_id for x in settled(batch, {"a2"}, fifo=False)] == ["a1", "b1", "a3", "b2"]
