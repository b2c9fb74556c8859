"""A message as SendMessage (and each SendMessageBatch entry) takes it, checked with AWS's codes and
messages (a FIFO queue's MessageGroupId and MessageDeduplicationId among them), and as
ReceiveMessage answers it: system attributes and the message attributes asked for."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.sqs.models import (
    MAX_MESSAGE_ATTRIBUTES,
    SYSTEM_ATTRIBUTES,
    Message,
    MessageAttributes,
    Queue,
    attributes_size,
    md5_of_attributes,
)

_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\.[^\s]{1,255})?")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: what a MessageGroupId, MessageDeduplicationId may hold: alphanumerics and punctuation
_FIFO_ID = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")
_NOT_FOR_QUEUE_TYPE = "The request include parameter that is not valid for this queue type."
#: what a message body may hold (XML 1.0's characters)
_BAD_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def invalid(message: str) -> ServiceError:
    return client_error("InvalidParameterValue", message)


def bad_value(param: str, value: object, reason: str) -> ServiceError:
    return invalid(f"Value {value} for parameter {param} is invalid. Reason: {reason}")


def check_message(q: Queue, body: str, attributes: MessageAttributes, delay: int | None) -> None:
    """Raise AWS's error for a message `q` would refuse (list-valued attributes are dropped)."""
    if delay is not None and not 0 <= delay <= 900:
        raise bad_value("DelaySeconds", delay, "DelaySeconds must be >= 0 and <= 900.")
    if delay and q.fifo:
        raise bad_value("DelaySeconds", delay, _NOT_FOR_QUEUE_TYPE)
    if not body:
        raise client_error("MissingParameter", "The request must contain the parameter MessageBody.")
    if not body.isprintable() and _BAD_CHARS.search(body):  # (printable text is all allowed)
        raise client_error(
            "InvalidMessageContents",
            "Invalid characters found. Valid characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
            "#xE000 to #xFFFD | #x10000 to #x10FFFF",
        )
    check_attributes(attributes)
    limit = q.setting("MaximumMessageSize")
    if message_size(body, attributes) > limit:
        raise invalid(
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
        )


def check_attempt_id(attempt: str | None) -> None:
    """AWS's error for a ReceiveRequestAttemptId it refuses (any queue's: a standard one ignores a
    well-formed one)."""
    if attempt is not None and not _FIFO_ID.fullmatch(attempt):
        raise bad_value(
            "ReceiveRequestAttemptId",
            attempt,
            "ReceiveRequestAttemptId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
        )


def fifo_ids(q: Queue, body: str, group: str | None, dedup: str | None) -> tuple[str | None, str | None]:
    """(MessageGroupId, MessageDeduplicationId) of a message to `q`, or AWS's error: a FIFO queue
    needs a group and a deduplication id (unless ContentBasedDeduplication derives it, SHA-256 of
    the body); a standard queue takes a group (a fair queue's tenant), never a deduplication id."""
    for name, value in (("MessageGroupId", group), ("MessageDeduplicationId", dedup)):
        if value is not None and not _FIFO_ID.fullmatch(value):
            raise bad_value(
                name,
                value,
                f"{name} can only include alphanumeric and punctuation characters. 1 to 128 in length.",
            )
    if not q.fifo:
        if dedup is not None:
            raise bad_value("MessageDeduplicationId", dedup, _NOT_FOR_QUEUE_TYPE)
        return group, None
    if group is None:
        raise client_error("MissingParameter", "The request must contain the parameter MessageGroupId.")
    if dedup is None:
        if q.attributes.get("ContentBasedDeduplication") != "true":
            raise invalid(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                "provided explicitly"
            )
        dedup = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return group, dedup


def message_size(body: str, attributes: MessageAttributes) -> int:
    return len(body.encode()) + attributes_size(attributes)


def check_attributes(attributes: MessageAttributes) -> None:
    """Raise AWS's error for message attributes SQS refuses."""
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise invalid(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}]."
        )
    for name, value in attributes.items():
        lowered = name.lower()
        if (
            not _ATTR_NAME.fullmatch(name)
            or lowered.startswith(("aws.", "amazon."))
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
        ):
            raise invalid(f"Message attribute name '{name}' is invalid.")
        data_type = str(value.get("DataType", ""))
        kind = _DATA_TYPE.fullmatch(data_type)
        if kind is None:
            raise invalid(
                f"The type of message (user) attribute '{name}' is invalid. You must use only the following "
                "supported type prefixes: Binary, Number, String."
            )
        if "StringListValues" in value or "BinaryListValues" in value:
            raise invalid(f"Message (user) attribute '{name}' uses list values, which SQS does not support.")
        if kind[1] == "Binary":
            if not value.get("BinaryValue") or value.get("StringValue") is not None:
                raise invalid(
                    f"Message (user) attribute '{name}' must contain a non-empty value of type 'Binary'."
                )
        else:
            text = value.get("StringValue")
            if not text or "BinaryValue" in value:
                raise invalid(
                    f"Message (user) attribute '{name}' must contain a non-empty message attribute value."
                )
            if kind[1] == "Number" and (not _NUMBER.fullmatch(text) or not math.isfinite(float(text))):
                raise invalid(f"Can't cast the value of message (user) attribute '{name}' to a number.")
            if _BAD_CHARS.search(text):
                raise invalid(f"Message (user) attribute '{name}' value contains invalid characters.")
        value.pop("StringListValues", None)
        value.pop("BinaryListValues", None)


def trace_header(system: MessageAttributes) -> str | None:
    """The AWSTraceHeader of SendMessage's `MessageSystemAttributes` (the only one it takes); without
    one, SQS keeps the request's X-Amzn-Trace-Id header (the caller's)."""
    value = system.get("AWSTraceHeader")
    if value is None:
        return None
    text = value.get("StringValue")
    if value.get("DataType") != "String" or not text or "BinaryValue" in value:
        raise invalid(
            "Message system attribute 'AWSTraceHeader' must contain a non-empty value of type 'String'."
        )
    return str(text)


def sent(m: Message) -> dict[str, Any]:
    """What SendMessage (and a SendMessageBatch entry) answers for the message `m`."""
    out: dict[str, Any] = {"MD5OfMessageBody": m.md5_body, "MessageId": m.message_id}
    if m.md5_attributes is not None:
        out["MD5OfMessageAttributes"] = m.md5_attributes
    if m.trace_header is not None:
        system = {"AWSTraceHeader": {"DataType": "String", "StringValue": m.trace_header}}
        out["MD5OfMessageSystemAttributes"] = md5_of_attributes(system)
    if m.sequence is not None:
        out["SequenceNumber"] = m.sequence
    return out


def system_names(*lists: list[str] | None) -> set[str]:
    """The system attributes asked for by ReceiveMessage's `AttributeNames` (the legacy spelling,
    whose queue attribute names ask for nothing) and `MessageSystemAttributeNames`."""
    names = {n for names in lists for n in names or ()}
    return set(SYSTEM_ATTRIBUTES) if "All" in names else names & set(SYSTEM_ATTRIBUTES)


def _selected(name: str, selectors: list[str]) -> bool:
    for s in selectors:
        if s in ("All", ".*") or s == name or (s.endswith(".*") and name.startswith(s[:-1])):
            return True
    return False


def received(m: Message, handle: str, system: set[str], selectors: list[str]) -> dict[str, Any]:
    """One message of ReceiveMessage's answer (its receipt `handle`), with the system attributes
    `system` and the message attributes `selectors` ask for."""
    out: dict[str, Any] = {
        "MessageId": m.message_id,
        "ReceiptHandle": handle,
        "MD5OfBody": m.md5_body,
        "Body": m.body,
    }
    values = {
        "SenderId": m.sender_id,
        "SentTimestamp": str(int(m.sent * 1000)),
        "ApproximateReceiveCount": str(m.receive_count),
        "ApproximateFirstReceiveTimestamp": str(int((m.first_receive or m.sent) * 1000)),
    }
    if m.dead_letter_source is not None:
        values["DeadLetterQueueSourceArn"] = m.dead_letter_source
    if m.trace_header is not None:
        values["AWSTraceHeader"] = m.trace_header
    for name, value in (
        ("MessageGroupId", m.group_id),
        ("MessageDeduplicationId", m.dedup_id),
        ("SequenceNumber", m.sequence),
    ):
        if value is not None:
            values[name] = value
    if system:
        out["Attributes"] = {k: values[k] for k in SYSTEM_ATTRIBUTES if k in system and k in values}
    chosen = {k: v for k, v in m.attributes.items() if _selected(k, selectors)}
    if chosen:
        out["MessageAttributes"] = chosen
        out["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
    return out


def paged(names: list[str], limit: int | None, token: str | None, out: dict[str, Any]) -> list[str]:
    """One page of sorted queue names for MaxResults / NextToken (ListQueues,
    ListDeadLetterSourceQueues): all of them without MaxResults, else up to `limit` after the
    token, setting `out["NextToken"]` when more follow."""
    if limit is None:
        return names
    if not 1 <= limit <= 1000:
        raise bad_value("MaxResults", limit, "MaxResults must be an integer between 1 and 1000.")
    if token:
        names = [n for n in names if n > token]
    if len(names) > limit:
        names = names[:limit]
        out["NextToken"] = names[-1]
    return names
