"""SQS's data: queues and messages as stored, the attributes a queue is configured with (a FIFO
queue's among them), and the MD5 digests AWS documents for a message's body and attributes."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any

#: attribute name -> (lowest, highest, default): what CreateQueue configures and stores
CONFIGURABLE: dict[str, tuple[int, int, int]] = {
    "VisibilityTimeout": (0, 43_200, 30),
    "DelaySeconds": (0, 900, 0),
    "MessageRetentionPeriod": (60, 1_209_600, 345_600),
    "MaximumMessageSize": (1_024, 1_048_576, 262_144),
    "ReceiveMessageWaitTimeSeconds": (0, 20, 0),
}
#: attribute name -> default: the true/false ones (server-side encryption is reported, data is not
#: encrypted at rest by lambdabox)
SWITCHES: dict[str, str] = {"SqsManagedSseEnabled": "true"}
#: a FIFO queue's own attributes -> (allowed values, default); refused on a standard queue
FIFO_SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "ContentBasedDeduplication": (("true", "false"), "false"),
    "DeduplicationScope": (("messageGroup", "queue"), "queue"),
    "FifoThroughputLimit": (("perQueue", "perMessageGroupId"), "perQueue"),
}
#: how long a FIFO queue remembers a deduplication id (and a ReceiveRequestAttemptId)
DEDUPLICATION_WINDOW = 300.0
#: the JSON-valued attributes: an access policy (kept, not enforced) and the redrive policies
POLICIES = ("Policy", "RedrivePolicy", "RedriveAllowPolicy")
#: attributes GetQueueAttributes computes
COMPUTED = (
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
)
#: the message system attributes ReceiveMessage returns
SYSTEM_ATTRIBUTES = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "DeadLetterQueueSourceArn",
    "AWSTraceHeader",
    "MessageDeduplicationId",
    "MessageGroupId",
    "SequenceNumber",
)
MAX_MESSAGE_ATTRIBUTES = 10
MAX_TAGS = 50

#: message attribute name -> {"DataType": ..., "StringValue": ... | "BinaryValue": bytes}
MessageAttributes = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Queue:
    id: int
    region: str
    account: str
    name: str
    attributes: dict[str, str]  # the configured ones, every CONFIGURABLE name present
    created: float
    modified: float
    tags: dict[str, str] = field(default_factory=dict)
    #: when PurgeQueue last ran (None: never)
    purged: float | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{self.name}"

    @property
    def fifo(self) -> bool:
        """Whether it is a FIFO queue (whose names, and only theirs, end in `.fifo`)."""
        return self.name.endswith(".fifo")

    def setting(self, name: str) -> int:
        return int(self.attributes[name])


@dataclass(frozen=True)
class Counts:
    visible: int
    in_flight: int
    delayed: int


@dataclass
class Message:
    """A stored message; `receipt` is the token of its latest receive."""

    queue_id: int
    message_id: str
    body: str
    attributes: MessageAttributes
    md5_body: str
    md5_attributes: str | None
    sender_id: str
    sent: float
    visible: float
    expires: float
    receive_count: int = 0
    first_receive: float | None = None
    receipt: str = ""
    seq: int = field(default=0)
    #: the ARN of the queue a dead-letter queue's message was moved from
    dead_letter_source: str | None = None
    #: the AWSTraceHeader system attribute it was sent with
    trace_header: str | None = None
    #: its MessageGroupId (FIFO queues; on a standard queue, a fair queue's tenant)
    group_id: str | None = None
    #: a FIFO queue's: the MessageDeduplicationId sent or derived from the body
    dedup_id: str | None = None
    #: a FIFO queue's: the SequenceNumber it was given
    sequence: str | None = None


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: MessageAttributes) -> str | None:
    """AWS's digest of message attributes: by name, each as length-prefixed name, data type, a
    transport byte (1 string, 2 binary) and length-prefixed value. None without attributes."""
    if not attributes:
        return None
    out = bytearray()

    def chunk(data: bytes) -> None:
        out.extend(struct.pack(">I", len(data)))
        out.extend(data)

    for name in sorted(attributes):
        value = attributes[name]
        chunk(name.encode("utf-8"))
        chunk(str(value["DataType"]).encode("utf-8"))
        if "BinaryValue" in value:
            out.append(2)
            chunk(bytes(value["BinaryValue"]))
        else:
            out.append(1)
            chunk(str(value["StringValue"]).encode("utf-8"))
    return hashlib.md5(bytes(out), usedforsecurity=False).hexdigest()


def attributes_size(attributes: MessageAttributes) -> int:
    """What attributes count towards a message's size: names, data types and values."""
    total = 0
    for name, value in attributes.items():
        total += len(name.encode()) + len(str(value["DataType"]).encode())
        if "BinaryValue" in value:
            total += len(bytes(value["BinaryValue"]))
        else:
            total += len(str(value.get("StringValue", "")).encode())
    return total
