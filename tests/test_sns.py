"""SNS through boto3 against a real server: topics and their errors, subscriptions, Publish and
PublishBatch delivered to SQS queues (AWS's notification envelope, or raw) and Lambda functions
(AWS's SNS event), filter policies of both scopes, dead-letter queues, restarts, and Lambda's
destinations and dead-letter queues on SNS topics."""

from __future__ import annotations

import base64
import datetime
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy, wait_until
from lambdabox.sns.engine import TOTAL_ATTEMPTS, retry_delay
from lambdabox.testing import LocalLambdabox
from test_async_invoke import FAILS, invoke_event

EVENTS = Path(__file__).parent / "events"
ACCOUNT = "000000000000"
LOGS_EVENT = {
    "app.py": "import json\ndef handler(event, context):\n    print('EVENT ' + json.dumps(event))\n    return 'ok'\n"
}


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def queue(lbx: LocalLambdabox, name: str) -> tuple[str, str]:
    sqs = lbx.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def received(lbx: LocalLambdabox, url: str, n: int = 1) -> list[dict[str, Any]]:
    """The next `n` messages of a queue (waiting for the deliveries), deleted."""
    sqs = lbx.client("sqs")
    got: list[dict[str, Any]] = []

    def more() -> bool:
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        for m in out.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(got) >= n

    wait_until(more)
    return got


def empty(lbx: LocalLambdabox, url: str) -> bool:
    """Whether the queue holds nothing once every owed delivery is made."""
    wait_until(lambda: lbx.app.sns_deliveries.backlog == 0)
    return "Messages" not in lbx.client("sqs").receive_message(QueueUrl=url)


def subscribed_queue(lbx: LocalLambdabox, topic: str, name: str, **attributes: str) -> tuple[str, str]:
    """A new queue subscribed to the topic: (its URL, the subscription's ARN)."""
    url, arn = queue(lbx, name)
    sub = lbx.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return url, str(sub["SubscriptionArn"])


def logged_events(lbx: LocalLambdabox, name: str) -> list[dict[str, Any]]:
    logs = lbx.client("logs")
    try:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"EVENT "')["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    lines = [str(e["message"]) for e in found]
    return [json.loads(line.split("EVENT ", 1)[1]) for line in lines if "EVENT " in line]


# ================================================================================================
# topics
# ================================================================================================


def test_topics_are_created_idempotently_described_listed_and_deleted(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    arn = sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"})["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:{ACCOUNT}:orders"
    assert sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"})["TopicArn"] == arn
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name="orders", Attributes={"DisplayName": "Other"})
    assert aws_error(exc) == (
        "InvalidParameter", "Invalid parameter: Attributes Reason: Topic already exists with different attributes", 400
    )  # fmt: skip
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["TopicArn"] == arn and attrs["Owner"] == ACCOUNT and attrs["DisplayName"] == "Orders"
    assert (attrs["SubscriptionsConfirmed"], attrs["SubscriptionsPending"], attrs["SubscriptionsDeleted"]) == (
        "0", "0", "0"
    )  # fmt: skip
    policy = json.loads(attrs["Policy"])
    assert policy["Statement"][0]["Resource"] == arn
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}
    assert (
        json.loads(attrs["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    )
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Renamed")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Renamed"
    with pytest.raises(ClientError) as exc:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Nope", AttributeValue="x")
    assert aws_error(exc) == ("InvalidParameter", "Invalid parameter: AttributeName", 400)

    for i in range(101):
        sns.create_topic(Name=f"t{i:03d}")
    first = sns.list_topics()
    assert len(first["Topics"]) == 100 and "NextToken" in first
    second = sns.list_topics(NextToken=first["NextToken"])
    assert len(second["Topics"]) == 2 and "NextToken" not in second
    listed = [t["TopicArn"] for t in first["Topics"] + second["Topics"]]
    assert sorted(listed) == listed and arn in listed and len(set(listed)) == 102

    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # a topic that is not there: no error
    with pytest.raises(sns.exceptions.NotFoundException) as nf:
        sns.get_topic_attributes(TopicArn=arn)
    assert aws_error(nf) == ("NotFound", "Topic does not exist", 404)


def test_bad_topics_are_refused_in_sns_s_words(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Name": "bad name"}, "Invalid parameter: Topic Name"),
        ({"Name": "x" * 257}, "Invalid parameter: Topic Name"),
        ({"Name": "q.fifo", "Attributes": {"FifoTopic": "true"}}, "FifoTopic"),
        ({"Name": "plain", "Attributes": {"Colour": "red"}}, "Invalid parameter: Attributes Reason: Unknown"),
    ]
    for params, message in cases:
        with pytest.raises(sns.exceptions.InvalidParameterException) as exc:
            sns.create_topic(**params)
        assert message in aws_error(exc)[1], params
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:absent", Message="x")
    assert aws_error(exc) == ("NotFound", "Topic does not exist", 404)


def test_tags_are_set_listed_and_removed(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    arn = sns.create_topic(Name="tagged", Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.create_topic(Name="tagged", Tags=[{"Key": "team", "Value": "b"}])
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "a"},
        {"Key": "env", "Value": "dev"},
    ]
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(sns.exceptions.ResourceNotFoundException):
        sns.list_tags_for_resource(ResourceArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:none")


# ================================================================================================
# subscriptions
# ================================================================================================


def test_subscriptions_are_listed_described_changed_and_removed(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    _, qarn = queue(lbx, "q")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    assert sub.startswith(topic + ":")
    assert sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"] == sub
    entry = {"SubscriptionArn": sub, "Owner": ACCOUNT, "Protocol": "sqs", "Endpoint": qarn, "TopicArn": topic}
    assert sns.list_subscriptions()["Subscriptions"] == [entry]
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == [entry]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "1"
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert {k: attrs[k] for k in ("TopicArn", "Endpoint", "Protocol", "Owner", "PendingConfirmation")} == {
        "TopicArn": topic, "Endpoint": qarn, "Protocol": "sqs", "Owner": ACCOUNT, "PendingConfirmation": "false"
    }  # fmt: skip
    assert attrs["RawMessageDelivery"] == "false" and "FilterPolicy" not in attrs

    sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    policy = json.dumps({"kind": ["order"]})
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=policy)
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert (attrs["RawMessageDelivery"], attrs["FilterPolicy"], attrs["FilterPolicyScope"]) == (
        "true", policy, "MessageAttributes"
    )  # fmt: skip
    bad = {
        (
            "RawMessageDelivery",
            "maybe",
        ): "Invalid parameter: RawMessageDelivery: Invalid value [maybe]. Must be true or false.",
        (
            "FilterPolicyScope",
            "Body",
        ): "Invalid parameter: FilterPolicyScope: Invalid value [Body]. Please use either "
        "MessageBody or MessageAttributes",
        (
            "RedrivePolicy",
            '{"deadLetterTargetArn": "nope"}',
        ): "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn",
        ("Colour", "red"): "Invalid parameter: AttributeName",
    }
    for (name, value), message in bad.items():
        with pytest.raises(ClientError) as exc:
            sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName=name, AttributeValue=value)
        assert aws_error(exc) == ("InvalidParameter", message, 400)

    sns.unsubscribe(SubscriptionArn=sub)
    assert sns.list_subscriptions()["Subscriptions"] == []
    with pytest.raises(ClientError) as exc:
        sns.get_subscription_attributes(SubscriptionArn=sub)
    assert aws_error(exc) == ("NotFound", "Subscription does not exist", 404)


def test_protocols_lambdabox_does_not_deliver_to_are_refused(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    cases = {
        ("sms", "+15555550100"): "lambdabox does not deliver to sms endpoints",
        (
            "application",
            "arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/1",
        ): "lambdabox does not deliver",
        ("http", "https://127.0.0.1/hook"): "Invalid parameter: HTTP endpoint URL",
        ("email", "nobody"): "Invalid parameter: Email address",
        ("pigeon", "roof"): "Invalid parameter: Amazon SNS does not support this protocol string: pigeon",
        ("sqs", "not-an-arn"): "Invalid parameter: SQS endpoint ARN",
        ("lambda", "arn:aws:sqs:us-east-1:000000000000:q"): "Invalid parameter: Lambda endpoint ARN",
    }
    for (protocol, endpoint), message in cases.items():
        with pytest.raises(sns.exceptions.InvalidParameterException) as exc:
            sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint)
        assert message in aws_error(exc)[1], protocol


def test_another_account_s_queue_topic_and_subscriptions_are_refused(tmp_path: Path) -> None:
    with LocalLambdabox(
        tmp_path / "data", manual_clock=True, root_keys="test:test,other:other:222222222222"
    ) as lbx:
        sns = lbx.client("sns")
        topic = sns.create_topic(Name="t")["TopicArn"]
        other_queue = "arn:aws:sqs:us-east-1:222222222222:theirs"
        with pytest.raises(ClientError) as exc:
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=other_queue)
        code, message, status = aws_error(exc)
        assert (code, status) == ("AuthorizationError", 403) and other_queue in message
        with pytest.raises(ClientError) as exc:
            sns.subscribe(
                TopicArn=topic, Protocol="lambda", Endpoint="arn:aws:lambda:us-east-1:222222222222:function:f"
            )
        assert aws_error(exc)[0] == "AuthorizationError"
        theirs = lbx.client("sns", key="other", secret="other")
        with pytest.raises(ClientError) as exc:
            theirs.publish(TopicArn=topic, Message="hi")
        assert aws_error(exc)[:1] == ("AuthorizationError",) and topic in aws_error(exc)[1]
        assert theirs.list_topics()["Topics"] == []


# ================================================================================================
# publishing to queues
# ================================================================================================


def test_a_queue_receives_aws_s_notification_envelope(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="orders")["TopicArn"]
    url, sub = subscribed_queue(lbx, topic, "q")
    attributes = {
        "kind": {"DataType": "String", "StringValue": "order"},
        "n": {"DataType": "Number", "StringValue": "7"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "tags": {"DataType": "String.Array", "StringValue": '["a", "b"]'},
    }
    before = lbx.now()
    mid = sns.publish(TopicArn=topic, Message="hello", Subject="Greeting", MessageAttributes=attributes)[
        "MessageId"
    ]
    (m,) = received(lbx, url)
    body = json.loads(m["Body"])
    assert list(body) == [
        "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
        "SigningCertURL", "UnsubscribeURL", "MessageAttributes",
    ]  # fmt: skip
    assert (body["Type"], body["MessageId"], body["TopicArn"]) == ("Notification", mid, topic)
    assert (body["Subject"], body["Message"], body["SignatureVersion"]) == ("Greeting", "hello", "1")
    stamp = datetime.datetime.strptime(body["Timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.UTC
    )
    assert len(body["Timestamp"]) == 24 and abs(stamp.timestamp() - before) < 1
    assert base64.b64decode(body["Signature"])  # verified in test_sns_http.py
    assert body["SigningCertURL"].startswith(lbx.url) and body["SigningCertURL"].endswith(".pem")
    assert body["UnsubscribeURL"] == f"{lbx.url}/?Action=Unsubscribe&SubscriptionArn={sub}"
    assert body["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "order"},
        "n": {"Type": "Number", "Value": "7"},
        "raw": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01").decode()},
        "tags": {"Type": "String.Array", "Value": '["a", "b"]'},
    }
    assert "MessageAttributes" not in m  # in the envelope, not on the SQS message

    sns.publish(TopicArn=topic, Message="plain")
    (m,) = received(lbx, url)
    body = json.loads(m["Body"])
    assert "Subject" not in body and "MessageAttributes" not in body and body["Message"] == "plain"


def test_raw_message_delivery_sends_the_message_with_its_attributes(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="raw")["TopicArn"]
    url, _ = subscribed_queue(lbx, topic, "q", RawMessageDelivery="true")
    attributes = {
        "kind": {"DataType": "String", "StringValue": "order"},
        "n": {"DataType": "Number", "StringValue": "7"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    sns.publish(TopicArn=topic, Message='{"id": 1}', MessageAttributes=attributes)
    (m,) = received(lbx, url)
    assert m["Body"] == '{"id": 1}'
    assert m["MessageAttributes"] == attributes


def test_message_structure_json_sends_each_protocol_its_message(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    url, _ = subscribed_queue(lbx, topic, "q")
    sns.publish(
        TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": "d", "sqs": "for queues"})
    )
    sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": "d", "email": "e"}))
    got = sorted(json.loads(m["Body"])["Message"] for m in received(lbx, url, 2))
    assert got == ["d", "for queues"]
    for message, reason in (
        ('{"sqs": "x"}', "Invalid parameter: Message Structure - No default entry in JSON message body"),
        ("not json", "Invalid parameter: Message Structure - JSON message body failed to parse"),
    ):
        with pytest.raises(ClientError) as exc:
            sns.publish(TopicArn=topic, MessageStructure="json", Message=message)
        assert aws_error(exc) == ("InvalidParameter", reason, 400)


def test_bad_messages_are_refused(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"Message": ""}, "InvalidParameter", "Invalid parameter: Empty message"),
        ({"Message": "x" * (256 * 1024 + 1)}, "InvalidParameter", "Invalid parameter: Message too long"),
        ({"Message": "x", "Subject": "a\nb"}, "InvalidParameter", "Invalid parameter: Subject"),
        ({"Message": "x", "MessageGroupId": "g"}, "InvalidParameter", "Invalid parameter: MessageGroupId Reason: "
         "The request includes MessageGroupId parameter that is not valid for this topic type"),
        ({"Message": "x", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "seven"}}},
         "ParameterValueInvalid", "Could not cast message attribute 'n' value to number."),
        ({"Message": "x", "MessageAttributes": {"n": {"DataType": "Text", "StringValue": "v"}}},
         "ParameterValueInvalid", "The message attribute 'n' has an invalid message attribute type, the set of "
         "supported type prefixes is Binary, Number, and String."),
    ]  # fmt: skip
    for params, code, message in cases:
        with pytest.raises(ClientError) as exc:
            sns.publish(TopicArn=topic, **params)
        assert aws_error(exc) == (code, message, 400), params


def test_publish_batch_answers_per_entry_and_refuses_bad_batches(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    url, _ = subscribed_queue(lbx, topic, "q")
    out = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "one", "Message": "first"},
            {"Id": "two", "Message": ""},
            {"Id": "three", "Message": "third", "Subject": "S"},
        ],
    )
    assert [s["Id"] for s in out["Successful"]] == ["one", "three"]
    assert out["Failed"] == [
        {
            "Id": "two",
            "Code": "InvalidParameter",
            "Message": "Invalid parameter: Empty message",
            "SenderFault": True,
        }
    ]
    bodies = [json.loads(m["Body"]) for m in received(lbx, url, 2)]
    assert sorted(b["Message"] for b in bodies) == ["first", "third"]
    assert {b["MessageId"] for b in bodies} == {s["MessageId"] for s in out["Successful"]}

    batches: list[tuple[list[dict[str, Any]], str]] = [
        ([], "EmptyBatchRequest"),
        ([{"Id": str(i), "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequest"),
        ([{"Id": "a", "Message": "m"}, {"Id": "a", "Message": "n"}], "BatchEntryIdsNotDistinct"),
        ([{"Id": "not ok", "Message": "m"}], "InvalidBatchEntryId"),
        ([{"Id": str(i), "Message": "x" * 60_000} for i in range(5)], "BatchRequestTooLong"),
    ]
    for entries, code in batches:
        with pytest.raises(ClientError) as exc:
            sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
        assert aws_error(exc)[0] == code


# ================================================================================================
# filter policies
# ================================================================================================


def test_filter_policies_on_message_attributes(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    policy = {
        "kind": ["order", {"prefix": "refund-"}],
        "amount": [{"numeric": [">", 100]}],
        "tags": ["urgent"],
    }
    url, _ = subscribed_queue(lbx, topic, "q", FilterPolicy=json.dumps(policy))

    def publish(name: str, **attrs: tuple[str, str]) -> None:
        sns.publish(
            TopicArn=topic, Message=name,
            MessageAttributes={k: {"DataType": t, "StringValue": v} for k, (t, v) in attrs.items()},
        )  # fmt: skip

    publish(
        "yes-1", kind=("String", "order"), amount=("Number", "150"), tags=("String.Array", '["x", "urgent"]')
    )
    publish(
        "yes-2", kind=("String", "refund-7"), amount=("Number", "1e3"), tags=("String.Array", '["urgent"]')
    )
    publish(
        "no-small", kind=("String", "order"), amount=("Number", "50"), tags=("String.Array", '["urgent"]')
    )
    publish(
        "no-number-as-string", kind=("String", "order"), amount=("String", "150"), tags=("String", "urgent")
    )
    publish("no-kind", amount=("Number", "150"), tags=("String.Array", '["urgent"]'))
    publish("no-tags", kind=("String", "order"), amount=("Number", "150"), tags=("String.Array", '["x"]'))
    sns.publish(
        TopicArn=topic, Message="no-binary",
        MessageAttributes={"kind": {"DataType": "Binary", "BinaryValue": b"order"},
                           "amount": {"DataType": "Number", "StringValue": "150"},
                           "tags": {"DataType": "String", "StringValue": "urgent"}},
    )  # fmt: skip
    got = sorted(json.loads(m["Body"])["Message"] for m in received(lbx, url, 2))
    assert got == ["yes-1", "yes-2"]
    assert empty(lbx, url)


def test_filter_policies_on_the_message_body(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    policy = {
        "order": {"status": ["paid"], "total": [{"numeric": [">=", 10]}]},
        "$or": [{"a": [1]}, {"b": [2]}],
    }
    url, _ = subscribed_queue(
        lbx,
        topic,
        "q",
        FilterPolicy=json.dumps(policy),
        FilterPolicyScope="MessageBody",
        RawMessageDelivery="true",
    )
    messages = [
        {"order": {"status": "paid", "total": 12}, "a": 1},
        {"order": {"status": "paid", "total": 12}, "b": 2},
        {"order": {"status": "open", "total": 12}, "a": 1},
        {"order": {"status": "paid", "total": 9}, "a": 1},
        {"order": {"status": "paid", "total": 12}},
    ]
    for m in messages:
        sns.publish(TopicArn=topic, Message=json.dumps(m))
    sns.publish(TopicArn=topic, Message="not json at all")
    got = [json.loads(m["Body"]) for m in received(lbx, url, 2)]
    assert sorted(got, key=json.dumps) == sorted(messages[:2], key=json.dumps)
    assert empty(lbx, url)


def test_bad_filter_policies_are_refused(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    _, qarn = queue(lbx, "q")
    too_complex = {f"k{i}": [str(v) for v in range(4)] for i in range(4)}  # 4*4*4*4 = 256 combinations
    cases = [
        ({"FilterPolicy": "{not json"}, "Invalid parameter: FilterPolicy: failed to parse JSON."),
        ({"FilterPolicy": json.dumps({"a": {"b": ["c"]}})}, "Invalid parameter: FilterPolicy: Filter policy scope "
         "MessageAttributes does not support nested filter policy"),
        ({"FilterPolicy": json.dumps({f"k{i}": ["v"] for i in range(6)})}, "Invalid parameter: FilterPolicy: "
         "Filter policy can not have more than 5 keys"),
        ({"FilterPolicy": json.dumps(too_complex)}, "Invalid parameter: FilterPolicy: Filter policy is too complex"),
        ({"FilterPolicy": json.dumps({"a": [{"wildcard": "x*"}]})}, "Invalid parameter: FilterPolicy: "
         "Unrecognized match type wildcard"),
        ({"FilterPolicy": json.dumps({"a": [{"numeric": [">", "x"]}]})}, "Invalid parameter: FilterPolicy: "),
    ]  # fmt: skip
    for attributes, message in cases:
        with pytest.raises(ClientError) as exc:
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes=attributes)
        code, text, status = aws_error(exc)
        assert (code, status) == ("InvalidParameter", 400) and text.startswith(message), text
    # a nested policy is fine for the body, but not once the scope goes back to attributes
    sub = sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=qarn,
        Attributes={"FilterPolicyScope": "MessageBody", "FilterPolicy": json.dumps({"a": {"b": ["c"]}})},
    )["SubscriptionArn"]  # fmt: skip
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.set_subscription_attributes(
            SubscriptionArn=sub, AttributeName="FilterPolicyScope", AttributeValue="MessageAttributes"
        )


# ================================================================================================
# Lambda
# ================================================================================================


def test_a_function_receives_aws_s_sns_event(lbx: LocalLambdabox) -> None:
    documented = json.loads((EVENTS / "sns-notification.json").read_text())["Records"][0]
    lam, sns = lbx.client("lambda"), lbx.client("sns")
    name = deploy(lam, LOGS_EVENT)
    fn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    topic = sns.create_topic(Name="parcels")["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn)["SubscriptionArn"]
    mid = sns.publish(
        TopicArn=topic, Message="parcel 42 left the depot", Subject="Parcel update",
        MessageAttributes={"carrier": {"DataType": "String", "StringValue": "bicycle"},
                           "weight": {"DataType": "Number", "StringValue": "1.5"}},
    )["MessageId"]  # fmt: skip
    wait_until(lambda: len(logged_events(lbx, name)) == 1)
    (event,) = logged_events(lbx, name)
    (record,) = event["Records"]
    assert set(record) == set(documented) and set(record["Sns"]) == set(documented["Sns"])
    assert (record["EventSource"], record["EventVersion"], record["EventSubscriptionArn"]) == (
        "aws:sns",
        "1.0",
        sub,
    )
    got = record["Sns"]
    assert (got["Type"], got["MessageId"], got["TopicArn"]) == ("Notification", mid, topic)
    assert (got["Subject"], got["Message"]) == ("Parcel update", "parcel 42 left the depot")
    assert got["MessageAttributes"] == documented["Sns"]["MessageAttributes"]
    assert got["UnsubscribeUrl"] == f"{lbx.url}/?Action=Unsubscribe&SubscriptionArn={sub}"
    from test_sns_http import verify  # (that module imports this one)

    verify(got)  # signed, the certificate served at its SigningCertUrl
    assert len(got["Timestamp"]) == len(documented["Sns"]["Timestamp"]) and got["Timestamp"].endswith("Z")

    sns.publish(TopicArn=topic, Message="no subject")
    wait_until(lambda: len(logged_events(lbx, name)) == 2)
    later = logged_events(lbx, name)[1]["Records"][0]["Sns"]
    assert later["Subject"] is None and later["MessageAttributes"] == {}


def test_a_lambda_dead_letter_queue_on_a_topic_is_delivered_to_its_subscribers(lbx: LocalLambdabox) -> None:
    lam, sns = lbx.client("lambda"), lbx.client("sns")
    topic = sns.create_topic(Name="failures")["TopicArn"]
    url, _ = subscribed_queue(lbx, topic, "dlq-copy")
    name = deploy(lam, FAILS, DeadLetterConfig={"TargetArn": topic})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    rid = invoke_event(lbx, name, b'{"order": 7}')
    (m,) = received(lbx, url)
    body = json.loads(m["Body"])
    assert (body["TopicArn"], json.loads(body["Message"])) == (topic, {"order": 7})
    attrs = body["MessageAttributes"]
    assert attrs["RequestID"] == {"Type": "String", "Value": rid}
    assert attrs["ErrorCode"]["Type"] == "Number" and "ErrorMessage" in attrs


def test_a_lambda_destination_on_a_topic_gets_the_invocation_record(lbx: LocalLambdabox) -> None:
    lam, sns = lbx.client("lambda"), lbx.client("sns")
    topic = sns.create_topic(Name="records")["TopicArn"]
    url, _ = subscribed_queue(lbx, topic, "records", RawMessageDelivery="true")
    name = deploy(lam, FAILS)
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": topic}}
    )
    invoke_event(lbx, name, b'{"n": 1}')
    (m,) = received(lbx, url)
    record = json.loads(m["Body"])
    assert (
        record["requestPayload"] == {"n": 1} and record["requestContext"]["condition"] == "RetriesExhausted"
    )


# ================================================================================================
# delivery: restarts, dead-letter queues, retries
# ================================================================================================


def test_a_restart_keeps_topics_subscriptions_and_undelivered_messages(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LocalLambdabox(data, manual_clock=True, async_dispatch="paused") as paused:
        sns = paused.client("sns")
        topic = sns.create_topic(Name="kept", Tags=[{"Key": "k", "Value": "v"}])["TopicArn"]
        url, sub = subscribed_queue(paused, topic, "q", RawMessageDelivery="true")
        ids = {sns.publish(TopicArn=topic, Message=f"m{i}")["MessageId"] for i in range(3)}
        assert len(ids) == 3 and paused.app.sns_deliveries.backlog == 3  # committed, not delivered
    with LocalLambdabox(data, manual_clock=True) as again:
        sns = again.client("sns")
        assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [topic]
        assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "k", "Value": "v"}]
        assert (
            sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]["RawMessageDelivery"] == "true"
        )
        assert sorted(m["Body"] for m in received(again, url, 3)) == ["m0", "m1", "m2"]
        assert empty(again, url)
    with LocalLambdabox(data, manual_clock=True) as third:  # delivered once: nothing owed any more
        assert third.app.sns_deliveries.backlog == 0


def test_a_delivery_to_a_deleted_queue_goes_to_the_dead_letter_queue(lbx: LocalLambdabox) -> None:
    sns, sqs = lbx.client("sns"), lbx.client("sqs")
    topic = sns.create_topic(Name="t")["TopicArn"]
    dlq_url, dlq_arn = queue(lbx, "dlq")
    url, sub = subscribed_queue(
        lbx, topic, "gone", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn})
    )
    plain_url, _ = subscribed_queue(lbx, topic, "also-gone")
    sqs.delete_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=plain_url)
    mid = sns.publish(TopicArn=topic, Message="lost?")["MessageId"]
    (m,) = received(lbx, dlq_url)
    body = json.loads(m["Body"])
    assert (body["MessageId"], body["Message"], body["UnsubscribeURL"].endswith(sub)) == (mid, "lost?", True)
    wait_until(lambda: lbx.app.sns_deliveries.backlog == 0)  # the other one, without a DLQ: dropped


def test_a_delivery_to_an_unsubscribed_endpoint_is_not_made(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LocalLambdabox(data, manual_clock=True, async_dispatch="paused") as paused:
        sns = paused.client("sns")
        topic = sns.create_topic(Name="t")["TopicArn"]
        url, sub = subscribed_queue(paused, topic, "q")
        sns.publish(TopicArn=topic, Message="m")
        sns.unsubscribe(SubscriptionArn=sub)
    with LocalLambdabox(data, manual_clock=True) as again:
        assert empty(again, url)


def test_retries_follow_aws_s_policy_for_aws_managed_endpoints() -> None:
    delays = [retry_delay(n) for n in range(1, 20)]
    assert delays[:3] == [0.0, 0.0, 0.0]  # immediate
    assert delays[3:5] == [1.0, 1.0]  # pre-backoff
    backoff = delays[5:15]
    assert backoff[0] == 1.0 and backoff[-1] == pytest.approx(20.0)
    assert all(a is not None and b is not None and a < b for a, b in itertools.pairwise(backoff))
    assert delays[15:] == [20.0] * 4  # post-backoff
    assert retry_delay(TOTAL_ATTEMPTS - 1) == 20.0 and retry_delay(TOTAL_ATTEMPTS) is None
