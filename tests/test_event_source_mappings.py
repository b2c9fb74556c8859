"""Event source mappings from SQS: a queue's messages reach the function as AWS's SQS event and
are deleted when it succeeds, come back after the visibility timeout when it fails, partial batch
responses delete all but the failed items (a malformed one fails the batch), filters drop what
they do not let through, batching windows fill batches, and the API answers as AWS does."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy, wait_until
from lambdabox.testing import LocalLambdabox

EVENTS = Path(__file__).parent / "events"

LOGS_EVENT = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    return "done"
"""
FAILS = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    raise RuntimeError("no")
"""
PARTIAL = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    bad = [r["messageId"] for r in event["Records"] if r["body"].startswith("bad")]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in bad]}
"""
MALFORMED = """
def handler(event, context):
    return {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]}
"""


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def queue(lbx: LocalLambdabox, name: str, **attributes: str) -> tuple[str, str]:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def counts(lbx: LocalLambdabox, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    got = lbx.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(got["ApproximateNumberOfMessages"]), int(got["ApproximateNumberOfMessagesNotVisible"])


def events(lbx: LocalLambdabox, name: str) -> list[dict[str, Any]]:
    """The events the function logged, in order."""
    logs = lbx.client("logs")
    try:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"EVENT "')["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    lines = [str(e["message"]) for e in found]
    return [json.loads(line.split("EVENT ", 1)[1]) for line in lines if "EVENT " in line]


def records(lbx: LocalLambdabox, name: str) -> list[dict[str, Any]]:
    return [r for ev in events(lbx, name) for r in ev["Records"]]


def test_messages_reach_the_function_as_aws_s_sqs_event_and_are_deleted(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "orders")
    name = deploy(lam, {"app.py": LOGS_EVENT})
    for n in range(3):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=f"order {n}",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}},
        )
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert created["State"] == "Creating" and created["BatchSize"] == 10
    wait_until(lambda: len(records(lbx, name)) == 3)
    wait_until(lambda: counts(lbx, url) == (0, 0))
    sample = json.loads((EVENTS / "sqs-receive.json").read_text())["Records"][0]
    got = sorted(records(lbx, name), key=lambda r: r["body"])
    assert [r["body"] for r in got] == ["order 0", "order 1", "order 2"]
    for r in got:
        assert set(r) == set(sample)
        assert set(r["attributes"]) == set(sample["attributes"])
        assert r["attributes"]["ApproximateReceiveCount"] == "1"
        assert r["messageAttributes"] == {
            "kind": {
                "stringValue": "order",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
        }
        assert r["md5OfBody"] == hashlib.md5(r["body"].encode()).hexdigest()
        assert (r["eventSource"], r["eventSourceARN"], r["awsRegion"]) == ("aws:sqs", arn, lbx.region)
    got_mapping = lam.get_event_source_mapping(UUID=created["UUID"])
    assert got_mapping["State"] == "Enabled" and got_mapping["FunctionArn"].endswith(f":function:{name}")


def test_a_failed_batch_comes_back_after_the_visibility_timeout(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    url, arn = queue(lbx, "retry", VisibilityTimeout="30")
    name = deploy(lam, {"app.py": FAILS})
    lbx.client("sqs").send_message(QueueUrl=url, MessageBody="try me")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    wait_until(lambda: len(records(lbx, name)) == 1)
    wait_until(lambda: counts(lbx, url) == (0, 1))  # in flight, not deleted
    lbx.advance(31)
    wait_until(lambda: len(records(lbx, name)) == 2)
    assert records(lbx, name)[1]["attributes"]["ApproximateReceiveCount"] == "2"


def test_a_partial_batch_response_deletes_all_but_the_failed_items(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "partial")
    name = deploy(lam, {"app.py": PARTIAL})
    for body in ("good 1", "bad 1", "good 2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    wait_until(lambda: len(records(lbx, name)) >= 3)
    wait_until(lambda: counts(lbx, url) == (0, 1))  # only the failed one is left, in flight
    lbx.advance(31)
    wait_until(lambda: any(r["body"] == "bad 1" and r["attributes"]["ApproximateReceiveCount"] == "2"
                           for r in records(lbx, name)))  # fmt: skip


def test_a_malformed_partial_batch_response_fails_the_whole_batch(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "malformed")
    name = deploy(lam, {"app.py": MALFORMED})
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    wait_until(lambda: counts(lbx, url) == (0, 2))
    # without ReportBatchItemFailures the same answer is a success
    uuid = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"][0]["UUID"]
    lam.update_event_source_mapping(UUID=uuid, FunctionResponseTypes=[])
    lbx.advance(31)
    wait_until(lambda: counts(lbx, url) == (0, 0))


def test_filters_let_through_what_matches_and_the_rest_is_deleted(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "filtered")
    name = deploy(lam, {"app.py": LOGS_EVENT})
    for body in (
        '{"kind": "order", "n": 1}',
        '{"kind": "refund"}',
        "plain text",
        '{"kind": "order", "n": 2}',
    ):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    pattern = json.dumps({"body": {"kind": ["order"], "n": [{"numeric": [">", 1]}]}})
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, FilterCriteria={"Filters": [{"Pattern": pattern}]}
    )
    wait_until(lambda: counts(lbx, url) == (0, 0))
    wait_until(lambda: len(records(lbx, name)) == 1)
    assert json.loads(records(lbx, name)[0]["body"]) == {"kind": "order", "n": 2}


def test_a_batching_window_fills_batches_past_ten(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "window")
    name = deploy(lam, {"app.py": LOGS_EVENT})
    for i in range(25):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, BatchSize=50, MaximumBatchingWindowInSeconds=5,
        ScalingConfig={"MaximumConcurrency": 2},
    )  # fmt: skip
    wait_until(lambda: counts(lbx, url) == (0, 25))  # received, held for the window
    assert events(lbx, name) == []
    lbx.advance(5)
    wait_until(lambda: sum(len(e["Records"]) for e in events(lbx, name)) == 25)
    sizes = [len(e["Records"]) for e in events(lbx, name)]
    assert len(sizes) <= 2 and max(sizes) > 10  # at most one batch per poller, past ReceiveMessage's 10
    wait_until(lambda: counts(lbx, url) == (0, 0))


def test_the_api_refuses_what_aws_refuses(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    url, arn = queue(lbx, "checks", VisibilityTimeout="10")
    name = deploy(lam, {"app.py": LOGS_EVENT}, Timeout=30)
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    assert aws_error(exc) == (
        "InvalidParameterValueException",
        "Queue visibility timeout: 10 seconds is less than Function timeout: 30 seconds",
        400,
    )
    _, arn2 = queue(lbx, "checks2", VisibilityTimeout="60")
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn2, FunctionName=name, BatchSize=11)
    assert aws_error(exc)[0] == "InvalidParameterValueException"
    assert "Maximum batch window in seconds must be greater than 0" in aws_error(exc)[1]
    missing = arn2.rsplit(":", 1)[0] + ":nope"
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=missing, FunctionName=name)
    assert aws_error(exc)[0] == "InvalidParameterValueException" and "NonExistentQueue" in aws_error(exc)[1]
    other_account = arn2.replace(f":{arn2.split(':')[4]}:", ":999999999999:")
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=other_account, FunctionName=name)
    assert "NonExistentQueue" in aws_error(exc)[1]
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn2, FunctionName=name, StartingPosition="LATEST")
    assert aws_error(exc) == (
        "InvalidParameterValueException",
        "Unsupported StartingPosition parameter for given event source mapping type.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(
            EventSourceArn=arn2, FunctionName=name, FilterCriteria={"Filters": [{"Pattern": "{not json"}]}
        )
    assert aws_error(exc) == ("InvalidParameterValueException", "Invalid filter pattern definition.", 400)
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn2, FunctionName="no-such-function")
    assert aws_error(exc)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:  # another account's function is not the caller's to map
        lam.create_event_source_mapping(
            EventSourceArn=arn2, FunctionName=f"arn:aws:lambda:{lbx.region}:999999999999:function:{name}"
        )
    assert aws_error(exc)[2] in (403, 404)
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(
            EventSourceArn=f"arn:aws:kinesis:{lbx.region}:000000000000:stream/s", FunctionName=name
        )
    assert aws_error(exc)[0] == "InvalidParameterValueException"
    first = lam.create_event_source_mapping(EventSourceArn=arn2, FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lam.create_event_source_mapping(EventSourceArn=arn2, FunctionName=name)
    code, message, status = aws_error(exc)
    assert (code, status) == ("ResourceConflictException", 409) and first["UUID"] in message
    with pytest.raises(ClientError) as exc:
        lam.get_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000")
    assert aws_error(exc) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    assert counts(lbx, url) == (0, 0)


def test_update_disable_list_delete_and_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        lam, sqs = lbx.client("lambda"), lbx.client("sqs")
        url, arn = queue(lbx, "life")
        name = deploy(lam, {"app.py": LOGS_EVENT}, FunctionName="life-fn")
        uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, Enabled=False)["UUID"]
        assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
        sqs.send_message(QueueUrl=url, MessageBody="waits")
        listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
        assert [m["UUID"] for m in listed] == [uuid]
        assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"][0]["UUID"] == uuid
        assert lam.list_event_source_mappings(FunctionName="other")["EventSourceMappings"] == []
        assert counts(lbx, url) == (1, 0)
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        lam = lbx.client("lambda")
        assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
        assert counts(lbx, url) == (1, 0)
        updated = lam.update_event_source_mapping(UUID=uuid, Enabled=True, BatchSize=5)
        assert (updated["State"], updated["BatchSize"]) == ("Enabling", 5)
        wait_until(lambda: counts(lbx, url) == (0, 0))
        assert [r["body"] for r in records(lbx, name)] == ["waits"]
        deleted = lam.delete_event_source_mapping(UUID=uuid)
        assert deleted["State"] == "Deleting"
        with pytest.raises(ClientError) as exc:
            lam.get_event_source_mapping(UUID=uuid)
        assert aws_error(exc)[2] == 404


LOOPS = """
import os
import boto3

sqs = boto3.client("sqs")

def handler(event, context):
    for r in event["Records"]:
        n = int(r["body"])
        print("HOP %d" % n)
        sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=str(n + 1))
"""


def test_a_function_feeding_its_own_queue_is_stopped_after_16_invocations(lbx: LocalLambdabox) -> None:
    """Recursive loop detection through a queue: the function's SDK sends its invocation's trace
    header, SQS keeps it as the message's AWSTraceHeader, the mapping's next invocation continues
    the chain; the 17th is not run."""
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "loop", VisibilityTimeout="30")
    name = deploy(lam, {"app.py": LOOPS}, Environment={"Variables": {"QUEUE_URL": url}})
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1)
    sqs.send_message(QueueUrl=url, MessageBody="1")

    def hops() -> list[int]:
        logs = lbx.client("logs")
        try:
            found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"HOP "')[
                "events"
            ]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return sorted(int(str(e["message"]).split("HOP ", 1)[1]) for e in found)

    wait_until(lambda: len(hops()) == 16, limit=120)
    wait_until(lambda: counts(lbx, url) == (0, 1))  # the 17th message, refused, back after its timeout
    lbx.advance(31)
    wait_until(lambda: counts(lbx, url) == (0, 1))
    assert hops() == list(range(1, 17))


SLOW = """
import time

def handler(event, context):
    time.sleep(1.5)
    print("EVENT done")
    return None
"""


def test_a_change_of_the_mapping_lets_the_batch_in_progress_finish(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "busy")
    name = deploy(lam, {"app.py": SLOW})
    sqs.send_message(QueueUrl=url, MessageBody="slow one")
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name)["UUID"]
    wait_until(lambda: lbx.app.event_sources.in_flight == 1)  # the function is running with it
    lam.update_event_source_mapping(UUID=uuid, BatchSize=5)
    lam.delete_event_source_mapping(UUID=uuid)
    # the invocation was not cut short: its batch is deleted, without the visibility timeout passing
    wait_until(lambda: counts(lbx, url) == (0, 0))
