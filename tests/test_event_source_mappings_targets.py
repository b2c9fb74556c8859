"""Event source mappings from SQS, beyond the basics: a mapping on an alias or a version ARN
invokes what the qualifier names, and a consumer that always fails ends each message in the
queue's dead-letter queue after maxReceiveCount receives, nothing lost and nothing looping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import deploy, make_zip, wait_until
from lambdabox.testing import LocalLambdabox
from test_event_source_mappings import FAILS, counts, queue, records

SAYS = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    print("RAN %s" % context.function_version)
"""


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def versions_ran(lbx: LocalLambdabox, name: str) -> list[str]:
    logs = lbx.client("logs")
    try:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"RAN "')
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [str(e["message"]).split("RAN ", 1)[1].strip() for e in found["events"]]


def test_a_mapping_on_an_alias_or_a_version_invokes_what_it_names(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    name = deploy(lam, {"app.py": SAYS})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": SAYS + "\n# $LATEST\n"}))
    wait_until(
        lambda: lam.get_function(FunctionName=name)["Configuration"]["LastUpdateStatus"] == "Successful"
    )
    alias_arn = lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)["AliasArn"]
    by_alias_url, by_alias = queue(lbx, "by-alias")
    by_version_url, by_version = queue(lbx, "by-version")
    version_arn = alias_arn.rsplit(":", 1)[0] + f":{version}"
    made = lam.create_event_source_mapping(EventSourceArn=by_alias, FunctionName=alias_arn)
    assert made["FunctionArn"] == alias_arn
    made = lam.create_event_source_mapping(EventSourceArn=by_version, FunctionName=version_arn)
    assert made["FunctionArn"] == version_arn
    sqs = lbx.client("sqs")
    sqs.send_message(QueueUrl=by_alias_url, MessageBody="to the alias")
    sqs.send_message(QueueUrl=by_version_url, MessageBody="to the version")
    wait_until(lambda: len(versions_ran(lbx, name)) == 2)
    assert versions_ran(lbx, name) == [version, version]  # never $LATEST
    wait_until(lambda: counts(lbx, by_alias_url) == (0, 0) and counts(lbx, by_version_url) == (0, 0))
    listed = lam.list_event_source_mappings(FunctionName=alias_arn)["EventSourceMappings"]
    assert [m["EventSourceArn"] for m in listed] == [by_alias]


def test_a_consumer_that_always_fails_ends_in_the_dead_letter_queue(lbx: LocalLambdabox) -> None:
    lam, sqs = lbx.client("lambda"), lbx.client("sqs")
    dlq_url, dlq_arn = queue(lbx, "poison-dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    url, arn = queue(lbx, "poison", VisibilityTimeout="30", RedrivePolicy=redrive)
    name = deploy(lam, {"app.py": FAILS})
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"poison {i}")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10)
    for receives in (1, 2, 3):
        wait_until(lambda n=receives: len(records(lbx, name)) == 3 * n)
        wait_until(lambda: counts(lbx, url) == (0, 3))
        lbx.advance(31)
    # the fourth receive moves them to the dead-letter queue instead of handing them out
    wait_until(lambda: counts(lbx, dlq_url) == (3, 0))
    assert counts(lbx, url) == (0, 0)
    lbx.advance(120)
    assert len(records(lbx, name)) == 9  # three receives each, then never again
    moved = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    assert sorted(m["Body"] for m in moved["Messages"]) == ["poison 0", "poison 1", "poison 2"]
    assert {m["Attributes"]["DeadLetterQueueSourceArn"] for m in moved["Messages"]} == {arn}
