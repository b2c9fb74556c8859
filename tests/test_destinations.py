"""Destinations of asynchronous invocations: the invocation record a Lambda function destination
receives, in AWS's shape, for Success, RetriesExhausted and EventAgeExceeded, through a version
or alias; and a record whose destination fails is kept and retried, never lost."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import deploy, wait_until
from lambdabox.testing import LocalLambdabox
from test_async_invoke import FAILS, OK, invoke_event, settled, starts

#: a destination that logs the record it was given, one line of JSON
RECORDS = {"app.py": "import json\ndef handler(event, context):\n    print('RECORD ' + json.dumps(event))\n"}
_ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def records(lbx: LocalLambdabox, name: str) -> list[dict[str, Any]]:
    logs = lbx.client("logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"RECORD "')[
            "events"
        ]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [json.loads(e["message"].split("RECORD ", 1)[1]) for e in events]


def quiet(lbx: LocalLambdabox) -> bool:
    """Nothing running or waiting in the async engine and the outbox."""
    return settled(lbx) and lbx.app.async_engine.backlog == 0 and lbx.app.outbox.backlog == 0


def arn(lbx: LocalLambdabox, name: str) -> str:
    return str(lbx.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def test_on_success_a_function_destination_gets_aws_s_record(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    dest = deploy(lam, RECORDS)
    name = deploy(lam, OK)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn(lbx, dest)}}
    )
    rid = invoke_event(lbx, name, b'{"order": 7}')
    wait_until(lambda: len(records(lbx, dest)) == 1)
    (rec,) = records(lbx, dest)
    assert list(rec) == [
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    ]
    assert rec["version"] == "1.0" and _ISO_MS.fullmatch(rec["timestamp"])
    assert rec["requestContext"] == {
        "requestId": rid,
        "functionArn": arn(lbx, name) + ":$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert rec["requestPayload"] == {"order": 7}
    assert rec["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert rec["responsePayload"] == "done"


def test_on_failure_after_the_retries_the_record_says_retries_exhausted(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    dest = deploy(lam, RECORDS)
    name = deploy(lam, FAILS)
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": arn(lbx, dest)}},
    )
    rid = invoke_event(lbx, name)
    wait_until(lambda: starts(lbx, name, rid) == 1 and settled(lbx))
    lbx.advance(60)
    wait_until(lambda: len(records(lbx, dest)) == 1)
    (rec,) = records(lbx, dest)
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["requestContext"]["approximateInvokeCount"] == 2
    assert rec["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert rec["responsePayload"]["errorType"] == "RuntimeError"
    assert rec["responsePayload"]["errorMessage"] == "always"
    lbx.advance(3600)
    wait_until(lambda: quiet(lbx))
    assert len(records(lbx, dest)) == 1  # once


def test_an_event_older_than_its_maximum_age_is_recorded_as_event_age_exceeded(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    dest = deploy(lam, RECORDS)
    name = deploy(lam, FAILS)
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": arn(lbx, dest)}},
    )
    rid = invoke_event(lbx, name)
    wait_until(lambda: starts(lbx, name, rid) == 1 and settled(lbx))
    lbx.advance(61)
    wait_until(lambda: len(records(lbx, dest)) == 1)
    (rec,) = records(lbx, dest)
    assert rec["requestContext"]["condition"] == "EventAgeExceeded"
    assert rec["requestContext"]["approximateInvokeCount"] == 1
    assert rec["responseContext"]["functionError"] == "Unhandled"


def test_an_alias_s_destination_names_the_alias_and_the_version_that_ran(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    dest = deploy(lam, RECORDS)
    name = deploy(lam, OK, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_function_event_invoke_config(
        FunctionName=name, Qualifier="live", DestinationConfig={"OnSuccess": {"Destination": arn(lbx, dest)}}
    )
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")  # unqualified: no destination
    got = lam.invoke(FunctionName=name, Qualifier="live", InvocationType="Event", Payload=b"{}")
    rid = got["ResponseMetadata"]["RequestId"]
    wait_until(lambda: len(records(lbx, dest)) == 1 and quiet(lbx))
    (rec,) = records(lbx, dest)
    assert rec["requestContext"]["requestId"] == rid
    assert rec["requestContext"]["functionArn"] == arn(lbx, name) + ":live"
    assert rec["responseContext"]["executedVersion"] == "1"


def test_a_record_whose_destination_is_gone_is_kept_and_retried_until_it_is_delivered(
    lbx: LocalLambdabox,
) -> None:
    lam = lbx.client("lambda")
    dest = deploy(lam, RECORDS)
    name = deploy(lam, OK)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn(lbx, dest)}}
    )
    lam.delete_function(FunctionName=dest)
    invoke_event(lbx, name)
    wait_until(lambda: settled(lbx) and lbx.app.async_engine.backlog == 0)
    wait_until(lambda: lbx.app.outbox.backlog == 1)  # the delivery failed: kept for a retry
    lbx.advance(600)
    assert lbx.app.outbox.backlog == 1
    deploy(lam, RECORDS, FunctionName=dest)
    lbx.advance(600)  # the next retry delivers it
    wait_until(lambda: len(records(lbx, dest)) == 1 and quiet(lbx))


def test_dead_letter_config_is_checked_kept_and_removed(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    queue = "arn:aws:sqs:us-east-1:000000000000:dlq"
    name = deploy(lam, OK, DeadLetterConfig={"TargetArn": queue})
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {"TargetArn": queue}
    bad = {
        "arn:aws:s3:::bucket": "The service specified by the TargetArn is not supported for dead letter configuration.",
        "arn:aws:sqs:eu-west-1:000000000000:q": "The resource specified by the TargetArn must be in the same "
        "region as the Lambda function it's associated with.",
        "arn:aws:sqs:us-east-1:000000000000:q.fifo": "FIFO SQS queue is not supported for dead letter configuration",
    }
    for target, reason in bad.items():
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as err:
            lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": target})
        assert err.value.response["Error"]["Message"] == "Invalid dead letter queue ARN: " + reason
    wait_until(lambda: lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful")
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)


def health(lbx: LocalLambdabox) -> dict[str, Any]:
    with urllib.request.urlopen(f"{lbx.url}/_lambdabox/health", timeout=30) as r:
        return dict(json.load(r)["async"])


def test_a_record_for_a_service_not_served_yet_is_kept_and_counted_as_parked(tmp_path: Path) -> None:
    bus = "arn:aws:events:us-east-1:000000000000:event-bus/default"  # (EventBridge: not served yet)
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        lam = lbx.client("lambda")
        name = deploy(lam, FAILS)
        lam.put_function_event_invoke_config(
            FunctionName=name, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": bus}}
        )
        rid = invoke_event(lbx, name)
        wait_until(lambda: starts(lbx, name, rid) == 1 and quiet(lbx) and health(lbx)["parked"] == 1)
        assert health(lbx) == {"queued": 0, "running": 0, "outbox": 0, "parked": 1}
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as again:  # kept in the store
        wait_until(lambda: health(again)["parked"] == 1)


EVENTS = Path(__file__).parent / "events"
EXITS = {"app.py": "import os\ndef handler(event, context):\n    os._exit(1)\n"}


def skeleton(value: Any) -> Any:
    """Keys (in order) and value types, without the values."""
    if isinstance(value, dict):
        return [(k, skeleton(v)) for k, v in value.items()]
    return type(value).__name__


def test_the_record_of_a_crashed_function_has_the_shape_of_aws_s_documented_example(
    lbx: LocalLambdabox,
) -> None:
    documented = json.loads((EVENTS / "lambda-destination-retries-exhausted.json").read_text())
    lam = lbx.client("lambda")
    dest = deploy(lam, RECORDS)
    name = deploy(lam, EXITS)
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn(lbx, dest)}},
    )
    payload = documented["requestPayload"]
    rid = invoke_event(lbx, name, json.dumps(payload).encode())
    wait_until(lambda: len(records(lbx, dest)) == 1)
    (rec,) = records(lbx, dest)
    # (the payload is the runtime's error object: today's runtimes add errorType Runtime.ExitError
    # to the 2019 example's errorMessage)
    assert skeleton({**rec, "responsePayload": {}}) == skeleton({**documented, "responsePayload": {}})
    assert rec["responsePayload"]["errorType"] == "Runtime.ExitError"
    assert rec["requestPayload"] == payload
    assert rec["requestContext"]["requestId"] == rid
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["responseContext"] == documented["responseContext"]
    assert rec["responsePayload"]["errorMessage"].startswith(f"RequestId: {rid} Error: Runtime exited")
    assert _ISO_MS.fullmatch(rec["timestamp"]) and _ISO_MS.fullmatch(documented["timestamp"])
