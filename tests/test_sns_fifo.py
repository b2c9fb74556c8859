"""FIFO SNS topics through boto3 against a real server: creation and AWS's errors, SQS-only
subscriptions, MessageGroupId / MessageDeduplicationId on Publish and PublishBatch, the five-minute
deduplication window on the manual clock (explicit and content-based), SequenceNumbers, delivery
in order per group into FIFO queues (envelope and raw), restarts; and, over the delivery engine
with a failing fake queue, a group's order held through retries."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, wait_until
from lambdabox.clock import ManualClock
from lambdabox.sns import store as sql
from lambdabox.sns.engine import DeliveryEngine
from lambdabox.sns.models import Published, Subscription, Topic
from lambdabox.store.db import Store
from lambdabox.testing import LocalLambdabox

ACCOUNT = "000000000000"


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def fifo_topic(lbx: LocalLambdabox, name: str = "orders.fifo", **attributes: str) -> str:
    sns = lbx.client("sns")
    return str(sns.create_topic(Name=name, Attributes={"FifoTopic": "true", **attributes})["TopicArn"])


def fifo_queue(lbx: LocalLambdabox, name: str = "q.fifo") -> tuple[str, str]:
    sqs = lbx.client("sqs")
    attributes = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def subscribed(lbx: LocalLambdabox, topic: str, name: str = "q.fifo", **attributes: str) -> tuple[str, str]:
    """A new queue subscribed to the topic: (its URL, the subscription's ARN)."""
    url, arn = fifo_queue(lbx, name)
    sub = lbx.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return url, str(sub["SubscriptionArn"])


def drained(lbx: LocalLambdabox, url: str) -> list[dict[str, Any]]:
    """Every message the queue holds once every owed delivery is made, received (in the order a
    FIFO queue hands them out, a group held until its messages are deleted) and deleted."""
    wait_until(lambda: lbx.app.sns_deliveries.backlog == 0)
    sqs = lbx.client("sqs")
    got: list[dict[str, Any]] = []
    while True:
        out = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        )
        if not out.get("Messages"):
            return got
        for m in out["Messages"]:
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _body(m: dict[str, Any]) -> str:
    return str(json.loads(m["Body"])["Message"])


# ================================================================================================
# topics and subscriptions
# ================================================================================================


def test_a_fifo_topic_is_created_with_its_attributes(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    arn = fifo_topic(lbx)
    assert arn == f"arn:aws:sns:us-east-1:{ACCOUNT}:orders.fifo"
    assert fifo_topic(lbx) == arn  # the same name and attributes: the same topic
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (attrs["FifoTopic"], attrs["ContentBasedDeduplication"], attrs["FifoThroughputScope"]) == (
        "true", "false", "Topic"
    )  # fmt: skip
    sns.set_topic_attributes(TopicArn=arn, AttributeName="ContentBasedDeduplication", AttributeValue="true")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="FifoThroughputScope", AttributeValue="MessageGroup")
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (attrs["ContentBasedDeduplication"], attrs["FifoThroughputScope"]) == ("true", "MessageGroup")
    assert fifo_topic(lbx) == arn  # (the defaults it was created with are not "given attributes")
    other = fifo_topic(lbx, "cbd.fifo", ContentBasedDeduplication="true")
    assert sns.get_topic_attributes(TopicArn=other)["Attributes"]["ContentBasedDeduplication"] == "true"
    standard = sns.create_topic(Name="plain", Attributes={"FifoTopic": "false"})["TopicArn"]
    assert "FifoTopic" not in sns.get_topic_attributes(TopicArn=standard)["Attributes"]


def test_bad_fifo_topics_are_refused_in_sns_s_words(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    fifo_name = (
        "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII "
        "letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long."
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Name": "orders", "Attributes": {"FifoTopic": "true"}}, fifo_name),
        ({"Name": "bad name.fifo", "Attributes": {"FifoTopic": "true"}}, fifo_name),
        ({"Name": "orders.fifo"}, "Invalid parameter: Topic Name"),  # a .fifo name needs FifoTopic
        ({"Name": "orders.fifo", "Attributes": {"FifoTopic": "false"}}, "Invalid parameter: Topic Name"),
        ({"Name": "plain", "Attributes": {"ContentBasedDeduplication": "true"}},
         "Invalid parameter: ContentBasedDeduplication Reason: Content-based deduplication can only be set "
         "for FIFO topics"),
        ({"Name": "x.fifo", "Attributes": {"FifoTopic": "true", "FifoThroughputScope": "Queue"}},
         "Invalid parameter: FifoThroughputScope: Invalid value [Queue]. Please use either Topic or MessageGroup"),
    ]  # fmt: skip
    for params, message in cases:
        with pytest.raises(ClientError) as exc:
            sns.create_topic(**params)
        assert aws_error(exc) == ("InvalidParameter", message, 400), params
    standard = sns.create_topic(Name="plain")["TopicArn"]
    with pytest.raises(ClientError) as exc:
        sns.set_topic_attributes(
            TopicArn=standard, AttributeName="ContentBasedDeduplication", AttributeValue="true"
        )
    assert aws_error(exc)[0] == "InvalidParameter"
    with pytest.raises(ClientError) as exc:  # a topic's type never changes
        sns.set_topic_attributes(TopicArn=fifo_topic(lbx), AttributeName="FifoTopic", AttributeValue="false")
    assert aws_error(exc) == ("InvalidParameter", "Invalid parameter: AttributeName", 400)


def test_a_fifo_topic_takes_sqs_subscriptions_only(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = fifo_topic(lbx)
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"
    for protocol, endpoint in (
        ("lambda", function),
        ("http", "http://127.0.0.1:1/"),
        ("email", "a@b.example"),
    ):
        with pytest.raises(ClientError) as exc:
            sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint)
        assert aws_error(exc) == (
            "InvalidParameter",
            f"Invalid parameter: Invalid protocol type: {protocol}",
            400,
        )
    subscribed(lbx, topic, "fifo.fifo")
    subscribed(lbx, topic, "standard")  # a standard queue too (as AWS allows since 2023)
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "2"
    standard = sns.create_topic(Name="plain")["TopicArn"]
    _, queue_arn = fifo_queue(lbx, "other.fifo")
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=standard, Protocol="sqs", Endpoint=queue_arn)
    assert aws_error(exc) == (
        "InvalidParameter",
        "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
        "standard SNS topics",
        400,
    )


# ================================================================================================
# publishing
# ================================================================================================


def test_publishes_are_checked_as_sns_checks_them(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = fifo_topic(lbx)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Message": "x"}, "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"),
        ({"Message": "x", "MessageDeduplicationId": "d"},
         "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"),
        ({"Message": "x", "MessageGroupId": "g"},
         "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or "
         "MessageDeduplicationId provided explicitly"),
        ({"Message": "x", "MessageGroupId": "g", "MessageDeduplicationId": "a b"},
         "Invalid parameter: MessageDeduplicationId Reason: MessageDeduplicationId can only include "
         "alphanumeric and punctuation characters. 1 to 128 in length."),
    ]  # fmt: skip
    for params, message in cases:
        with pytest.raises(ClientError) as exc:
            sns.publish(TopicArn=topic, **params)
        assert aws_error(exc) == ("InvalidParameter", message, 400), params
    standard = sns.create_topic(Name="plain")["TopicArn"]
    with pytest.raises(ClientError) as exc:  # a standard topic still refuses them
        sns.publish(TopicArn=standard, Message="x", MessageDeduplicationId="d")
    assert aws_error(exc) == (
        "InvalidParameter",
        "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter "
        "that is not valid for this topic type",
        400,
    )


def test_messages_reach_a_fifo_queue_in_order_per_group(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = fifo_topic(lbx)
    url, _ = subscribed(lbx, topic)
    sequences = []
    for i in range(6):
        for group in ("a", "b", "c"):
            out = sns.publish(TopicArn=topic, Message=f"{group}{i}", MessageGroupId=group,
                              MessageDeduplicationId=f"{group}-{i}")  # fmt: skip
            sequences.append(int(out["SequenceNumber"]))
    assert sequences == sorted(sequences) and len(set(sequences)) == 18
    got = drained(lbx, url)
    assert len(got) == 18
    for group in ("a", "b", "c"):
        mine = [m for m in got if m["Attributes"]["MessageGroupId"] == group]
        assert [_body(m) for m in mine] == [f"{group}{i}" for i in range(6)]
        assert [m["Attributes"]["MessageDeduplicationId"] for m in mine] == [f"{group}-{i}" for i in range(6)]


def test_the_envelope_carries_the_sequence_number_unsigned(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = fifo_topic(lbx)
    url, sub = subscribed(lbx, topic)
    out = sns.publish(
        TopicArn=topic, Message="hello", Subject="Hi", MessageGroupId="g", MessageDeduplicationId="d",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
    )  # fmt: skip
    (m,) = drained(lbx, url)
    envelope = json.loads(m["Body"])
    assert list(envelope) == [
        "Type", "MessageId", "SequenceNumber", "TopicArn", "Subject", "Message", "Timestamp", "UnsubscribeURL",
        "MessageAttributes",
    ]  # fmt: skip
    assert envelope["MessageId"] == out["MessageId"] and envelope["SequenceNumber"] == out["SequenceNumber"]
    assert len(out["SequenceNumber"]) == 20
    assert (envelope["Type"], envelope["TopicArn"], envelope["Message"]) == ("Notification", topic, "hello")
    assert envelope["UnsubscribeURL"].endswith(f"SubscriptionArn={sub}")
    assert envelope["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}


def test_raw_delivery_sends_the_message_with_its_attributes_and_group(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = fifo_topic(lbx)
    url, _ = subscribed(lbx, topic, RawMessageDelivery="true")
    standard_url, _ = subscribed(lbx, topic, "standard", RawMessageDelivery="true")
    for i in range(3):
        sns.publish(TopicArn=topic, Message=f"m{i}", MessageGroupId="g", MessageDeduplicationId=str(i),
                    MessageAttributes={"n": {"DataType": "Number", "StringValue": str(i)}})  # fmt: skip
    got = drained(lbx, url)
    assert [m["Body"] for m in got] == ["m0", "m1", "m2"]
    assert [m["MessageAttributes"]["n"]["StringValue"] for m in got] == ["0", "1", "2"]
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"g"}
    assert sorted(m["Body"] for m in drained(lbx, standard_url)) == ["m0", "m1", "m2"]


def test_a_duplicate_within_five_minutes_is_answered_but_not_delivered(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = fifo_topic(lbx)
    url, _ = subscribed(lbx, topic, RawMessageDelivery="true")
    first = sns.publish(TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="d")
    assert [m["Body"] for m in drained(lbx, url)] == ["one"]
    lbx.advance(299)
    again = sns.publish(TopicArn=topic, Message="two", MessageGroupId="other", MessageDeduplicationId="d")
    assert (again["MessageId"], again["SequenceNumber"]) == (first["MessageId"], first["SequenceNumber"])
    assert drained(lbx, url) == []
    lbx.advance(2)  # five minutes after the first publish: the id is new again
    later = sns.publish(TopicArn=topic, Message="three", MessageGroupId="g", MessageDeduplicationId="d")
    assert later["MessageId"] != first["MessageId"]
    assert int(later["SequenceNumber"]) > int(first["SequenceNumber"])
    lbx.advance(300)  # (past the queue's own deduplication window of the same id too)
    assert [m["Body"] for m in drained(lbx, url)] == ["three"]


def test_deduplication_per_message_group(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = fifo_topic(lbx, FifoThroughputScope="MessageGroup")
    url, _ = subscribed(lbx, topic, RawMessageDelivery="true")
    a = sns.publish(TopicArn=topic, Message="a", MessageGroupId="g1", MessageDeduplicationId="d")
    b = sns.publish(TopicArn=topic, Message="b", MessageGroupId="g2", MessageDeduplicationId="d")
    c = sns.publish(TopicArn=topic, Message="c", MessageGroupId="g1", MessageDeduplicationId="d")
    assert a["MessageId"] != b["MessageId"] and c["MessageId"] == a["MessageId"]
    got = drained(lbx, url)
    assert sorted(m["Body"] for m in got) == ["a"]  # the queue deduplicates across itself: b is its duplicate


def test_content_based_deduplication_uses_the_body_s_sha256(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = fifo_topic(lbx, ContentBasedDeduplication="true")
    url, _ = subscribed(lbx, topic, RawMessageDelivery="true")
    first = sns.publish(TopicArn=topic, Message="same", MessageGroupId="g")
    attrs = {"a": {"DataType": "String", "StringValue": "other attributes, same body"}}
    dup = sns.publish(TopicArn=topic, Message="same", MessageGroupId="g", MessageAttributes=attrs)
    assert dup["MessageId"] == first["MessageId"]
    explicit = sns.publish(TopicArn=topic, Message="same", MessageGroupId="g", MessageDeduplicationId="mine")
    assert explicit["MessageId"] != first["MessageId"]  # a given id overrides the derived one
    got = drained(lbx, url)
    assert [m["Body"] for m in got] == ["same", "same"]
    assert got[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same").hexdigest()
    assert got[1]["Attributes"]["MessageDeduplicationId"] == "mine"


def test_publish_batch_numbers_each_entry_and_fails_bad_ones(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = fifo_topic(lbx)
    url, _ = subscribed(lbx, topic, RawMessageDelivery="true")
    out = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "one", "Message": "m1", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
            {"Id": "nogroup", "Message": "m2", "MessageDeduplicationId": "2"},
            {"Id": "two", "Message": "m3", "MessageGroupId": "g", "MessageDeduplicationId": "3"},
            {"Id": "dup", "Message": "m4", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
        ],
    )
    ok = {e["Id"]: e for e in out["Successful"]}
    assert sorted(ok) == ["dup", "one", "two"]
    assert int(ok["one"]["SequenceNumber"]) < int(ok["two"]["SequenceNumber"])
    assert (ok["dup"]["MessageId"], ok["dup"]["SequenceNumber"]) == (
        ok["one"]["MessageId"], ok["one"]["SequenceNumber"]
    )  # fmt: skip
    assert out["Failed"] == [
        {"Id": "nogroup", "Code": "InvalidParameter", "SenderFault": True,
         "Message": "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"}
    ]  # fmt: skip
    assert [m["Body"] for m in drained(lbx, url)] == ["m1", "m3"]


def test_messages_and_the_deduplication_window_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LocalLambdabox(data, manual_clock=True, async_dispatch="paused") as paused:
        sns = paused.client("sns")
        topic = fifo_topic(paused)
        url, _ = subscribed(paused, topic, RawMessageDelivery="true")
        firsts = [
            sns.publish(TopicArn=topic, Message=f"m{i}", MessageGroupId="g", MessageDeduplicationId=str(i))
            for i in range(4)
        ]
        assert paused.app.sns_deliveries.backlog == 4  # committed, not delivered
    with LocalLambdabox(data, manual_clock=True) as again:
        sns = again.client("sns")
        dup = sns.publish(TopicArn=topic, Message="x", MessageGroupId="g", MessageDeduplicationId="0")
        assert dup["MessageId"] == firsts[0]["MessageId"]
        nxt = sns.publish(TopicArn=topic, Message="m4", MessageGroupId="g", MessageDeduplicationId="4")
        assert int(nxt["SequenceNumber"]) > int(firsts[-1]["SequenceNumber"])
        assert [m["Body"] for m in drained(again, url)] == ["m0", "m1", "m2", "m3", "m4"]


# ================================================================================================
# a group's order under retries (the engine, its queue faked)
# ================================================================================================

REGION, OWNER = "us-east-1", "123456789012"
TOPIC = f"arn:aws:sns:{REGION}:{OWNER}:t.fifo"
QUEUE = f"arn:aws:sqs:{REGION}:{OWNER}:q.fifo"
SUB = f"{TOPIC}:1"


class FlakyQueue:
    """A FIFO queue that fails its first `failures` sends of message "a0", then takes them all."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[tuple[str, str | None, str | None]] = []

    async def send_to_queue(
        self, arn: str, body: str, attributes: object, sender: str,
        *, group: str | None = None, dedup: str | None = None,
    ) -> None:  # fmt: skip
        if body == "a0" and self.failures > 0:
            self.failures -= 1
            raise RuntimeError("service unavailable")
        self.sent.append((body, group, dedup))

    async def invoke_async(self, arn: str, payload: bytes, topic_arn: str) -> None:
        raise AssertionError("no function is subscribed")


async def _settle(clock: ManualClock, engine: DeliveryEngine, seconds: float = 0.0) -> None:
    clock.advance(seconds)
    for _ in range(200):
        await asyncio.sleep(0.005)
        activity = engine.activity()
        if activity.running == 0 and activity.due == 0:
            return


def test_a_retried_delivery_holds_back_its_group_only(tmp_path: Path) -> None:
    async def run() -> None:
        clock = ManualClock()
        store = Store(tmp_path / "state.db")
        store.open()
        store.migrate("sns", sql.SCHEMA)
        attrs = {"FifoTopic": "true"}
        await store.write(sql.create_topic(Topic(REGION, OWNER, "t.fifo", attrs, {}, clock.now())))
        raw = {"RawMessageDelivery": "true"}
        await store.write(
            sql.add_subscription(Subscription(SUB, TOPIC, OWNER, "sqs", QUEUE, raw, clock.now()))
        )
        fake = FlakyQueue(failures=5)  # 3 immediate retries, then 1 s apart
        engine = DeliveryEngine(
            store, clock, "http://x", fake.send_to_queue, fake.invoke_async, concurrency=8
        )
        await engine.start()
        batch = [
            (Published(f"id-{g}{i}", TOPIC, OWNER, f"{g}{i}", None, None, {}, clock.now(), group_id=g,
                       dedup_id=f"{g}{i}"), [SUB])
            for i in range(3) for g in ("a", "b")
        ]  # fmt: skip
        owed, answered = await store.write(sql.publish_fifo(TOPIC, batch, clock.now(), 300.0, False))
        assert [m.sequence for m in answered] == sorted(m.sequence or "" for m in answered)
        engine.add(owed)
        await _settle(clock, engine)
        assert [b for b, _, _ in fake.sent] == ["b0", "b1", "b2"]  # group a waits for a0's retry
        await _settle(clock, engine, 1.0)
        assert "a1" not in [b for b, _, _ in fake.sent]
        for _ in range(3):
            await _settle(clock, engine, 1.0)
        assert [b for b, _, _ in fake.sent if b.startswith("a")] == ["a0", "a1", "a2"]
        assert ("a1", "a", "a1") in fake.sent  # with its group and deduplication id
        assert engine.backlog == 0
        await engine.close()
        store.close()

    asyncio.run(run())
