"""SQS as Lambda's event source: the messages a poller receives, the event Lambda builds from them,
event filtering, and what a function's answer says about which messages to delete.

The event is AWS's (`{"Records": [...]}`, each record with `messageId`, `receiptHandle`, `body`,
`attributes`, `messageAttributes`, `md5OfBody`, `md5OfMessageAttributes` when there are message
attributes, `eventSource` `aws:sqs`, `eventSourceARN`, `awsRegion`). Filtering matches a pattern
against the record with its body decoded when it is JSON (AWS: a body that is not JSON is matched
as a plain string). A partial batch response follows AWS's rules: the batch succeeds entirely for
an empty or null `batchItemFailures` (or an empty or null answer), fails entirely for an answer
that is not JSON or names an item that is empty, null, under the wrong key or not in the batch.
From a FIFO queue the record's attributes also carry `MessageGroupId`, `MessageDeduplicationId`
and `SequenceNumber`, and a failed item holds back the rest of its message group.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lambdabox import user_json
from lambdabox.lambda_.lineage import Lineage
from lambdabox.patterns import Pattern


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """A message as the poller received it (system attributes and message attributes as SQS's
    ReceiveMessage answers them)."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str] = field(default_factory=dict)
    message_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    md5_of_attributes: str | None = None


class QueueSource(Protocol):
    """What a poller needs of SQS, for a queue named by its ARN in the mapping's own account."""

    async def visibility_timeout(self, queue_arn: str) -> int | None:
        """The queue's VisibilityTimeout, None when there is no such queue."""

    async def receive(self, queue_arn: str, limit: int, wait: float) -> list[QueueMessage]:
        """Up to `limit` (≤ 10) messages, waiting up to `wait` seconds for the first; LookupError
        when the queue is gone."""

    async def delete(self, queue_arn: str, handles: Sequence[str]) -> None:
        """Delete received messages (handles of messages gone already are ignored)."""

    async def release(self, queue_arn: str, handles: Sequence[str]) -> None:
        """Make received messages visible again at once."""


def record(m: QueueMessage, queue_arn: str, region: str) -> dict[str, Any]:
    """The event record of one message."""
    out: dict[str, Any] = {
        "messageId": m.message_id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": dict(m.attributes),
        "messageAttributes": {name: _attribute(value) for name, value in m.message_attributes.items()},
        "md5OfBody": m.md5_of_body,
    }
    if m.md5_of_attributes is not None:
        out["md5OfMessageAttributes"] = m.md5_of_attributes
    out.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return out


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        raw = value["BinaryValue"]
        out["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes | bytearray) else raw
    out["stringListValues"] = list(value.get("StringListValues") or [])
    out["binaryListValues"] = [
        base64.b64encode(v).decode() if isinstance(v, bytes | bytearray) else v
        for v in value.get("BinaryListValues") or []
    ]
    out["dataType"] = value["DataType"]
    return out


def trace_header(batch: Sequence[QueueMessage]) -> str | None:
    """The X-Ray trace header a batch's invocation continues: the longest chain (by its Lineage)
    its messages' AWSTraceHeader attributes carry, None when none carries one."""
    headers = [m.attributes["AWSTraceHeader"] for m in batch if m.attributes.get("AWSTraceHeader")]
    return max(
        headers,
        key=lambda h: max((c for _, c in Lineage.of_trace_header(h).entries), default=0),
        default=None,
    )


def event(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"Records": records}, separators=(",", ":")).encode()


def passes(rec: dict[str, Any], patterns: Sequence[Pattern]) -> bool:
    """Whether a record is let through by a mapping's filters (any of them; no filters: all)."""
    if not patterns:
        return True
    subject = dict(rec)
    with contextlib.suppress(ValueError):
        subject["body"] = user_json.loads(rec["body"])
    return any(p.matches(subject) for p in patterns)


def settled(batch: Sequence[QueueMessage], failed: set[str], fifo: bool) -> list[QueueMessage]:
    """The messages of a batch to delete after a partial batch response naming `failed`: all the
    others; from a FIFO queue, none of a message group from its first failed message on."""
    held: set[str] = set()
    out = []
    for x in batch:
        group = x.attributes.get("MessageGroupId", "")
        if x.message_id in failed:
            held.add(group)
        elif not (fifo and group in held):
            out.append(x)
    return out


def failed_items(answer: bytes, message_ids: Sequence[str]) -> set[str] | None:
    """The message ids a partial batch response reports as failed; None when the answer makes the
    whole batch a failure."""
    text = answer.strip()
    if not text or text == b"null":
        return set()
    try:
        decoded = user_json.loads(text)
    except ValueError:
        return None
    if decoded is None or decoded == {}:
        return set()
    if not isinstance(decoded, dict):
        return set()  # a string or a number: not a batch response, the batch succeeded
    failures = decoded.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    known = set(message_ids)
    out: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident or ident not in known:
            return None
        out.add(ident)
    return out
