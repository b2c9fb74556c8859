"""SQS as the target of Lambda's asynchronous invocations: a dead-letter queue gets the event with
AWS's RequestID / ErrorCode / ErrorMessage attributes, an OnSuccess queue the invocation record, and
a record for a queue that does not exist yet is delivered once it does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import deploy, wait_until
from lambdabox.testing import LocalLambdabox
from test_async_invoke import FAILS, OK, invoke_event
from test_destinations import quiet


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return list(got.get("Messages", []))


def test_a_failing_event_lands_in_its_dead_letter_queue(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    name = deploy(lam, FAILS, DeadLetterConfig={"TargetArn": _arn(sqs, url)})
    rid = invoke_event(lbx, name, b'{"order": 7}')
    for _ in range(3):
        wait_until(lambda: quiet(lbx) or lbx.app.async_engine.backlog > 0)
        lbx.advance(180)
    wait_until(lambda: quiet(lbx))
    wait_until(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1")  # fmt: skip
    (m,) = _drain(sqs, url)
    assert json.loads(m["Body"]) == {"order": 7}
    attrs = {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
    assert attrs["RequestID"] == rid and attrs["ErrorCode"] == "200"
    assert "always" in attrs["ErrorMessage"]


def test_on_success_the_record_goes_to_the_queue(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url = sqs.create_queue(QueueName="ok")["QueueUrl"]
    name = deploy(lam, OK)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": _arn(sqs, url)}}
    )
    rid = invoke_event(lbx, name, b'{"n": 1}')
    out: list[dict[str, Any]] = []
    wait_until(lambda: out.extend(_drain(sqs, url)) or out)
    rec = json.loads(out[0]["Body"])
    assert rec["requestContext"]["requestId"] == rid and rec["requestContext"]["condition"] == "Success"
    assert rec["requestPayload"] == {"n": 1} and rec["responsePayload"] == "done"


def test_a_record_for_a_queue_created_later_is_delivered_once_it_exists(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    region = lam.meta.region_name
    account = lbx.client("sts").get_caller_identity()["Account"]
    arn = f"arn:aws:sqs:{region}:{account}:later"
    name = deploy(lam, OK)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}}
    )
    invoke_event(lbx, name)
    wait_until(lambda: lbx.app.outbox.backlog == 1 and lbx.app.async_engine.backlog == 0)
    url = sqs.create_queue(QueueName="later")["QueueUrl"]
    lbx.advance(600)
    out: list[dict[str, Any]] = []
    wait_until(lambda: out.extend(_drain(sqs, url)) or out)
    assert json.loads(out[0]["Body"])["requestContext"]["condition"] == "Success"


def test_a_dead_letter_queue_of_another_account_never_receives_the_event(tmp_path: Path) -> None:
    # resource policies are not enforced: a function must not write into another tenant's queue
    with LocalLambdabox(
        tmp_path / "data", manual_clock=True, root_keys="test:test,other:other:222222222222"
    ) as lbx:
        victim = lbx.client("sqs", key="other", secret="other")
        url = victim.create_queue(QueueName="private")["QueueUrl"]
        lam = lbx.client("lambda")
        name = deploy(lam, FAILS, DeadLetterConfig={"TargetArn": _arn(victim, url)})
        lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
        invoke_event(lbx, name, b'{"spy": 1}')
        wait_until(lambda: quiet(lbx) or lbx.app.outbox.backlog > 0)
        for _ in range(3):
            lbx.advance(60)
            lbx.settle()
        assert _drain(victim, url) == []
        assert lbx.app.outbox.backlog == 1  # kept, retried: never delivered into the other account
