"""Review 18 (event source mappings from SQS, SNS): what AWS does where lambdabox, as reviewed,
does not. Each test asserts AWS's behaviour and is an expected failure naming its finding in
review18-findings.md until the finding is fixed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy, wait_until
from lambdabox.testing import LocalLambdabox
from test_event_source_mappings import LOGS_EVENT, counts, events, queue
from test_sns import subscribed_queue

#: JSON nested deeper than Python's recursion limit (well under every size limit)
DEEP_ARRAY = "[" * 5000 + "]" * 5000


def deep_object(depth: int, leaf: str = '["x"]') -> str:
    return '{"a":' * depth + leaf + "}" * depth


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


# ================================================================================================
# finding 2: a body or pattern nested past the recursion limit stops every poller of a mapping
# ================================================================================================


def test_a_deeply_nested_json_body_is_filtered_out_not_a_poller_crash(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "poison", VisibilityTimeout="30")
    name = deploy(lam, {"app.py": LOGS_EVENT})
    sqs.send_message(QueueUrl=url, MessageBody=DEEP_ARRAY)
    sqs.send_message(QueueUrl=url, MessageBody='{"kind": "order"}')
    pattern = json.dumps({"body": {"kind": ["order"]}})
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, FilterCriteria={"Filters": [{"Pattern": pattern}]}
    )
    # AWS: a message no filter lets through is deleted; the other one is invoked
    wait_until(lambda: counts(lbx, url) == (0, 0), limit=5)
    wait_until(lambda: len(events(lbx, name)) == 1, limit=5)


def test_a_deeply_nested_filter_pattern_is_refused_or_evaluated(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url, arn = queue(lbx, "deep-pattern", VisibilityTimeout="30")
    name = deploy(lam, {"app.py": LOGS_EVENT})
    pattern = '{"body":' + deep_object(300) + "}"  # 1,814 characters: within the 4,096 allowed
    try:
        lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=name, FilterCriteria={"Filters": [{"Pattern": pattern}]}
        )
    except ClientError as exc:  # refusing it is fine
        assert exc.response["Error"]["Code"] == "InvalidParameterValueException"
        return
    sqs.send_message(QueueUrl=url, MessageBody='{"b": 1}')
    wait_until(lambda: counts(lbx, url) == (0, 0), limit=5)  # filtered out: deleted


# ================================================================================================
# finding 1: a wildcard pattern that takes exponential time on the event loop
# ================================================================================================


def test_a_wildcard_pattern_is_matched_in_linear_time() -> None:
    # nine wildcards against 200 characters: microseconds for a linear matcher, hours for a
    # backtracking regex (the matcher runs on the server's event loop); bounded in a subprocess
    code = (
        "import json\n"
        "from lambdabox.patterns import compile_pattern\n"
        "p = compile_pattern(json.dumps({'body': [{'wildcard': '*a' * 9 + '*b'}]}))\n"
        "assert not p.matches({'body': 'a' * 200})\n"
    )
    src = str(Path(__file__).resolve().parent.parent / "src")
    try:
        subprocess.run(
            [sys.executable, "-c", code], check=True, timeout=5, env={"PYTHONPATH": src}, capture_output=True
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a 19-character wildcard pattern ran for more than 5 s on 200 characters")


# ================================================================================================
# finding 3: SNS answers 500 for JSON nested past the recursion limit
# ================================================================================================


def test_a_deeply_nested_filter_policy_is_refused_with_invalid_parameter(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="deep-policy")["TopicArn"]
    _, arn = queue(lbx, "deep-policy-q")
    for policy, scope in (
        (deep_object(5000), "MessageBody"),
        ('{"a":' + DEEP_ARRAY + "}", "MessageAttributes"),
    ):
        with pytest.raises(ClientError) as exc:
            sns.subscribe(
                TopicArn=topic, Protocol="sqs", Endpoint=arn,
                Attributes={"FilterPolicy": policy, "FilterPolicyScope": scope},
            )  # fmt: skip
        assert aws_error(exc)[0] == "InvalidParameter"
        assert aws_error(exc)[2] == 400


def test_deeply_nested_string_arrays_and_message_structures_are_refused(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="deep-publish")["TopicArn"]
    with pytest.raises(ClientError) as exc:
        sns.publish(
            TopicArn=topic, Message="m",
            MessageAttributes={"a": {"DataType": "String.Array", "StringValue": DEEP_ARRAY}},
        )  # fmt: skip
    assert aws_error(exc)[2] == 400
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=topic, Message='{"default":' + DEEP_ARRAY + "}", MessageStructure="json")
    assert aws_error(exc)[0] == "InvalidParameter"
    assert aws_error(exc)[2] == 400


def test_a_deeply_nested_body_is_published_past_a_message_body_policy(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="deep-body")["TopicArn"]
    subscribed_queue(lbx, topic, "deep-body-q", FilterPolicy='{"a": ["x"]}', FilterPolicyScope="MessageBody")
    assert sns.publish(TopicArn=topic, Message=DEEP_ARRAY)["MessageId"]
    out = sns.publish_batch(
        TopicArn=topic, PublishBatchRequestEntries=[{"Id": "deep", "Message": deep_object(5000, "1")}]
    )
    assert [s["Id"] for s in out["Successful"]] == ["deep"]


def test_a_subscription_s_policy_never_makes_publish_fail(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="deep-accepted")["TopicArn"]
    _, arn = queue(lbx, "deep-accepted-q")
    try:  # 300 levels: accepted by lambdabox as reviewed
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=arn,
            Attributes={"FilterPolicy": deep_object(300), "FilterPolicyScope": "MessageBody"},
        )  # fmt: skip
    except ClientError as exc:  # refusing it is fine
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        return
    # once accepted, no message may make Publish fail for the topic's owner
    assert sns.publish(TopicArn=topic, Message="{}")["MessageId"]


# ================================================================================================
# finding 5: RawMessageDelivery on a Lambda subscription
# ================================================================================================


def test_raw_message_delivery_is_refused_for_a_lambda_subscription(lbx: LocalLambdabox) -> None:
    sns, lam = lbx.client("sns"), lbx.client("lambda")
    topic = sns.create_topic(Name="raw-lambda")["TopicArn"]
    name = deploy(lam, {"app.py": LOGS_EVENT})
    function = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    with pytest.raises(ClientError) as exc:
        sns.subscribe(
            TopicArn=topic, Protocol="lambda", Endpoint=function, Attributes={"RawMessageDelivery": "true"}
        )
    assert aws_error(exc) == (
        "InvalidParameter",
        "Invalid parameter: Delivery protocol [lambda] does not support raw message delivery.",
        400,
    )


# ================================================================================================
# finding 6: topic Policy / DeliveryPolicy that are not JSON
# ================================================================================================


def test_a_topic_policy_that_is_not_json_is_refused(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="bad-policy")["TopicArn"]
    for name in ("Policy", "DeliveryPolicy"):
        with pytest.raises(ClientError) as exc:
            sns.set_topic_attributes(TopicArn=topic, AttributeName=name, AttributeValue="garbage")
        assert aws_error(exc)[0] == "InvalidParameter"
        assert aws_error(exc)[2] == 400
