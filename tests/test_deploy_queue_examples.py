"""examples/sns-sqs-fanout deployed as a user deploys it (`lambdabox deploy`, the real CLI, into a
server on the manual clock): orders published to its topic reach the queue's function and the
topic's; the orders the function reports as failed come back after the visibility timeout (the
clock moved past it, not waited for) and then wait in the dead-letter queue; a redeploy changes
nothing; `lambdabox remove` deletes the topic, the queues and the mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import wait_until
from lambdabox.testing.process import LambdaboxProcess
from test_deploy_examples import copy_example, lambdabox, plan_of

STACK = "sns-sqs-fanout-dev"


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LambdaboxProcess]:
    with LambdaboxProcess(tmp_path / "data", clock="manual") as server:
        yield server


def printed(lbx: LambdaboxProcess, function: str, word: str) -> list[str]:
    """What the function printed after `word` (its log lines that start with it), in order."""
    logs = lbx.client("logs")
    try:
        found = logs.filter_log_events(
            logGroupName=f"/aws/lambda/{STACK}-{function}", filterPattern=f'"{word} "'
        )
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [
        e["message"].split(f"{word} ", 1)[1].strip() for e in found["events"] if f"{word} " in e["message"]
    ]


def test_the_fanout_example_processes_retries_dead_letters_and_is_removed(
    lbx: LambdaboxProcess, tmp_path: Path
) -> None:
    project = copy_example("sns-sqs-fanout", tmp_path)
    yml = str(project / "serverless.yml")
    code, events, out = lambdabox("deploy", "-f", yml, "--endpoint-url", lbx.url)
    assert code == 0, out
    plan = plan_of(events)
    assert set(plan.values()) == {"create"}
    assert {
        "WorkerEventSourceMappingSQSOrdersQueue",
        "AuditSnsSubscriptionOrders",
        "AuditLambdaPermissionOrdersSNS",
        "OrdersQueuePolicy",
    } <= set(plan)
    outputs = {e["key"]: e["value"] for e in events if e.get("event") == "output"}
    sns, sqs = lbx.client("sns"), lbx.client("sqs")
    topic = outputs["OrdersTopicArn"]
    for body in ("order 1", "order 2: please fail", "order 3"):
        sns.publish(TopicArn=topic, Message=body)

    wait_until(lambda: sorted(printed(lbx, "worker", "PROCESSED")) == ["order 1", "order 3"])
    wait_until(lambda: printed(lbx, "worker", "FAILED") == ["order 2: please fail (receive 1)"])
    wait_until(lambda: len(printed(lbx, "audit", "AUDIT")) == 3)
    audited = [json.loads(line) for line in printed(lbx, "audit", "AUDIT")]
    assert sorted(a["message"] for a in audited) == ["order 1", "order 2: please fail", "order 3"]
    assert {a["topic"] for a in audited} == {topic}

    lbx.advance(31)  # past the visibility timeout: the failed order comes back, once more
    wait_until(lambda: len(printed(lbx, "worker", "FAILED")) == 2)
    assert printed(lbx, "worker", "FAILED")[1] == "order 2: please fail (receive 2)"
    lbx.advance(31)  # received twice (maxReceiveCount): the next receive moves it to the DLQ
    dlq = outputs["OrdersDeadLettersUrl"]

    def dead_lettered() -> bool:
        got = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return got["Attributes"]["ApproximateNumberOfMessages"] == "1"

    wait_until(dead_lettered)
    (message,) = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert message["Body"] == "order 2: please fail"  # raw delivery: the message as published
    assert len(printed(lbx, "worker", "FAILED")) == 2
    assert sorted(printed(lbx, "worker", "PROCESSED")) == ["order 1", "order 3"]

    code, events, out = lambdabox("deploy", "-f", yml, "--endpoint-url", lbx.url)
    assert code == 0, out
    assert set(plan_of(events).values()) == {"unchanged"}, out

    code, _, out = lambdabox("remove", "-f", yml, "--endpoint-url", lbx.url)
    assert code == 0, out
    assert not sqs.list_queues(QueueNamePrefix=STACK).get("QueueUrls")
    assert topic not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert not lbx.client("lambda").list_event_source_mappings()["EventSourceMappings"]
