"""No acknowledged SQS state is lost on `kill -9`: a real `lambdabox serve` process gets messages
(singles and batches, with message attributes of every type, delays, a trace header; a FIFO
queue's groups, sequence numbers and deduplication ids), receives
(in flight for an hour, received again and again until the redrive policy moves one to its
dead-letter queue), deletes and queue configuration (attributes, tags), while a sender keeps
sending; the server is killed with SIGKILL, restarted on the same data directory, and every
acknowledged send is there with the same body, attributes and MD5s, receive counts and
visibility are as they were, deleted messages stay deleted, and receipt handles issued before
the kill still change visibility and delete, as AWS's keep working for as long as the message
is in flight."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from conftest import start_server

ATTRS: dict[str, Any] = {
    "kind": {"DataType": "String", "StringValue": "order"},
    "amount": {"DataType": "Number", "StringValue": "12.50"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xffbytes"},
    "custom": {"DataType": "String.json", "StringValue": '{"a": 1}'},
}
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"


def _attrs(sqs: Any, url: str, *names: str) -> dict[str, str]:
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))["Attributes"])


def _configured(sqs: Any, url: str) -> dict[str, str]:
    """The queue's attributes but its message counts."""
    return {k: v for k, v in _attrs(sqs, url, "All").items() if not k.startswith("Approximate")}


def _receive_all(sqs: Any, url: str) -> dict[str, dict[str, Any]]:
    """Every visible message of the queue (now hidden for an hour), by MessageId."""
    out: dict[str, dict[str, Any]] = {}
    while True:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=3600,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return out
        out.update({m["MessageId"]: m for m in got})


def test_acknowledged_sqs_state_survives_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    sqs = srv.client("sqs")
    dlq = sqs.create_queue(QueueName="dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = _attrs(sqs, dlq, "QueueArn")["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    main = sqs.create_queue(
        QueueName="main",
        Attributes={"VisibilityTimeout": "3600", "RedrivePolicy": redrive, "MaximumMessageSize": "65536"},
        tags={"team": "payments", "env": "test"},
    )["QueueUrl"]
    sqs.tag_queue(QueueUrl=main, Tags={"added": "later"})
    configured = _configured(sqs, main)

    #: MessageId -> what SendMessage answered and what was sent
    sent: dict[str, dict[str, Any]] = {}
    for i in range(20):
        kw: dict[str, Any] = {"QueueUrl": main, "MessageBody": f"single {i} ünïcode"}
        if i % 2:
            kw["MessageAttributes"] = ATTRS
        if i % 5 == 0:
            kw["MessageSystemAttributes"] = {"AWSTraceHeader": {"DataType": "String", "StringValue": TRACE}}
        r = sqs.send_message(**kw)
        sent[r["MessageId"]] = {**r, "Body": kw["MessageBody"], "attrs": kw.get("MessageAttributes", {})}
    for b in range(3):
        entries = [
            {"Id": str(j), "MessageBody": f"batch {b}/{j}", "MessageAttributes": ATTRS if j % 3 == 0 else {}}
            for j in range(10)
        ]
        r = sqs.send_message_batch(QueueUrl=main, Entries=entries)
        assert not r.get("Failed"), r["Failed"]
        for ok in r["Successful"]:
            e = entries[int(ok["Id"])]
            sent[ok["MessageId"]] = {**ok, "Body": e["MessageBody"], "attrs": e["MessageAttributes"]}
    delayed: set[str] = set()
    for i in range(3):
        r = sqs.send_message(QueueUrl=main, MessageBody=f"delayed {i}", DelaySeconds=900)
        delayed.add(r["MessageId"])
        sent[r["MessageId"]] = {**r, "Body": f"delayed {i}", "attrs": {}}

    # received and held for an hour (their handles must work after the restart)
    held = sqs.receive_message(QueueUrl=main, MaxNumberOfMessages=5)["Messages"]
    held_handles = {m["MessageId"]: m["ReceiptHandle"] for m in held}
    # received once, made visible again: its count (1) must survive
    (once,) = sqs.receive_message(QueueUrl=main, VisibilityTimeout=0)["Messages"]
    # received twice from a queue of its own: the next receive moves it to the dead-letter queue
    retried = sqs.create_queue(QueueName="retried", Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    sqs.send_message(QueueUrl=retried, MessageBody="poison", MessageAttributes=ATTRS)
    for _ in range(2):
        (poison,) = sqs.receive_message(QueueUrl=retried, VisibilityTimeout=0)["Messages"]
    deleted: set[str] = set()
    got = sqs.receive_message(QueueUrl=main, MaxNumberOfMessages=4)["Messages"]
    for m in got[:3]:
        sqs.delete_message(QueueUrl=main, ReceiptHandle=m["ReceiptHandle"])
        deleted.add(m["MessageId"])
    if len(got) == 4:
        sqs.delete_message_batch(
            QueueUrl=main, Entries=[{"Id": "d", "ReceiptHandle": got[3]["ReceiptHandle"]}]
        )
        deleted.add(got[3]["MessageId"])
    held_handles.update({m["MessageId"]: m["ReceiptHandle"] for m in got if m["MessageId"] not in deleted})

    # a sender keeps sending while the server is killed: whatever was acknowledged must be kept
    # a FIFO queue: sequence numbers, groups and the deduplication window are kept too
    fifo = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    fifo_sent = [
        sqs.send_message(
            QueueUrl=fifo, MessageBody=f"f{i}", MessageGroupId=f"g{i % 2}", MessageDeduplicationId=f"d{i}"
        )
        for i in range(4)
    ]
    other = sqs.create_queue(QueueName="busy")["QueueUrl"]
    acknowledged: list[tuple[str, str]] = []
    stop = threading.Event()

    def keep_sending() -> None:
        client = srv.client("sqs")
        n = 0
        while not stop.is_set():
            try:
                r = client.send_message(QueueUrl=other, MessageBody=f"busy {n}")
            except (BotoCoreError, ClientError):
                return
            acknowledged.append((r["MessageId"], f"busy {n}"))
            n += 1

    sender = threading.Thread(target=keep_sending)
    sender.start()
    while len(acknowledged) < 50:
        threading.Event().wait(0.01)
    srv.stop(signal.SIGKILL)
    stop.set()
    sender.join(timeout=60)

    srv = start_server(data)
    try:
        sqs = srv.client("sqs")
        main = sqs.get_queue_url(QueueName="main")["QueueUrl"]
        dlq = sqs.get_queue_url(QueueName="dlq")["QueueUrl"]
        other = sqs.get_queue_url(QueueName="busy")["QueueUrl"]
        retried = sqs.get_queue_url(QueueName="retried")["QueueUrl"]
        names = sorted(u.rsplit("/", 1)[1] for u in sqs.list_queues()["QueueUrls"])
        assert names == ["busy", "dlq", "main", "orders.fifo", "retried"]
        fifo = sqs.get_queue_url(QueueName="orders.fifo")["QueueUrl"]
        again_sent = sqs.send_message(
            QueueUrl=fifo, MessageBody="f0", MessageGroupId="g0", MessageDeduplicationId="d0"
        )
        assert again_sent["MessageId"] == fifo_sent[0]["MessageId"]  # still a duplicate
        assert again_sent["SequenceNumber"] == fifo_sent[0]["SequenceNumber"]
        got = _receive_all(sqs, fifo)
        assert {mid: (m["Body"], m["Attributes"]["SequenceNumber"]) for mid, m in got.items()} == {
            r["MessageId"]: (f"f{i}", r["SequenceNumber"]) for i, r in enumerate(fifo_sent)
        }
        assert _configured(sqs, main) == configured
        assert sqs.list_queue_tags(QueueUrl=main)["Tags"] == {
            "team": "payments",
            "env": "test",
            "added": "later",
        }
        counts = _attrs(
            sqs, main, "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"
        )
        assert counts == {
            "ApproximateNumberOfMessagesNotVisible": str(len(held_handles)),
            "ApproximateNumberOfMessagesDelayed": str(len(delayed)),
        }

        # what is visible: every acknowledged send but the deleted, held and delayed ones
        visible = _receive_all(sqs, main)
        expected = set(sent) - deleted - set(held_handles) - delayed
        assert set(visible) == expected
        for mid, m in visible.items():
            s = sent[mid]
            assert m["Body"] == s["Body"] and m["MD5OfBody"] == s["MD5OfMessageBody"]
            assert m.get("MessageAttributes", {}) == s["attrs"]
            assert m.get("MD5OfMessageAttributes") == s.get("MD5OfMessageAttributes")
            count = 2 if mid == once["MessageId"] else 1
            assert m["Attributes"]["ApproximateReceiveCount"] == str(count), mid
            if "MD5OfMessageSystemAttributes" in s:
                assert m["Attributes"]["AWSTraceHeader"] == TRACE
        assert _receive_all(sqs, retried) == {}  # this receive moves the twice-received one
        (dead,) = _receive_all(sqs, dlq).values()
        assert dead["MessageId"] == poison["MessageId"] and dead["Body"] == "poison"
        assert dead["MessageAttributes"] == ATTRS and dead["MD5OfBody"] == poison["MD5OfBody"]
        assert dead["Attributes"]["DeadLetterQueueSourceArn"].endswith(":retried")
        assert dead["Attributes"]["ApproximateReceiveCount"] == "3"

        # handles issued before the kill: visibility changes, then deletes
        first, *rest = held_handles
        sqs.change_message_visibility(QueueUrl=main, ReceiptHandle=held_handles[first], VisibilityTimeout=0)
        (again,) = sqs.receive_message(QueueUrl=main, MessageSystemAttributeNames=["All"])["Messages"]
        assert again["MessageId"] == first and again["Attributes"]["ApproximateReceiveCount"] == "2"
        sqs.delete_message(QueueUrl=main, ReceiptHandle=again["ReceiptHandle"])
        for mid in rest:
            sqs.delete_message(QueueUrl=main, ReceiptHandle=held_handles[mid])
        assert _attrs(sqs, main, "ApproximateNumberOfMessagesNotVisible")[
            "ApproximateNumberOfMessagesNotVisible"
        ] == str(len(visible))

        # every send the busy sender had acknowledged is there, with its body
        busy = {mid: m["Body"] for mid, m in _receive_all(sqs, other).items()}
        assert len(acknowledged) >= 50
        for mid, body in acknowledged:
            assert busy.get(mid) == body, mid
    finally:
        srv.stop()
