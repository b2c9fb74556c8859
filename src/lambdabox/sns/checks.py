"""What Publish and PublishBatch check, in SNS's words: the message and its size, the subject, a
MessageStructure of "json", the message attributes, and a FIFO topic's MessageGroupId and
MessageDeduplicationId (required, unless ContentBasedDeduplication derives the latter; refused
on a standard topic)."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from lambdabox import user_json
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.sns.models import MessageAttributes

MAX_MESSAGE_BYTES = 256 * 1024
_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\.[^\s]{1,255})?")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_SUBJECT = re.compile(r"[\x20-\x7e]{1,99}")
#: a MessageGroupId or MessageDeduplicationId: 1 to 128 alphanumeric and punctuation characters
_FIFO_ID = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")


def invalid(reason: str) -> ServiceError:
    return client_error("InvalidParameter", f"Invalid parameter: {reason}")


def invalid_value(message: str) -> ServiceError:
    return client_error("ParameterValueInvalid", message)


def check_entry(entry: dict[str, Any], fifo: bool = False) -> MessageAttributes:
    """Check one message to publish (Publish's params or a PublishBatch entry) to a standard
    topic, or a FIFO one (`fifo`: its ids are `fifo_ids`'); its attributes."""
    message = entry.get("Message")
    if not message:
        raise invalid("Empty message")
    subject = entry.get("Subject")
    if subject is not None and not _SUBJECT.fullmatch(subject):
        raise invalid("Subject")
    for fifo_only in ("MessageGroupId", "MessageDeduplicationId"):
        if not fifo and entry.get(fifo_only) is not None:
            raise invalid(
                f"{fifo_only} Reason: The request includes {fifo_only} parameter that is not valid for this topic type"
            )
    structure = entry.get("MessageStructure")
    if structure is not None:
        if structure != "json":
            raise invalid("MessageStructure")
        try:
            per_protocol = user_json.loads(message)
        except ValueError:
            raise invalid("Message Structure - JSON message body failed to parse") from None
        if not isinstance(per_protocol, dict):
            raise invalid("Message Structure - JSON message body failed to parse")
        if "default" not in per_protocol:
            raise invalid("Message Structure - No default entry in JSON message body")
    attributes: MessageAttributes = {k: dict(v) for k, v in (entry.get("MessageAttributes") or {}).items()}
    check_attributes(attributes)
    if len(message.encode()) + attributes_size(attributes) > MAX_MESSAGE_BYTES:
        raise invalid("Message too long")
    return attributes


def fifo_ids(entry: dict[str, Any], content_based: bool) -> tuple[str, str]:
    """(MessageGroupId, MessageDeduplicationId) of a message to a FIFO topic, or SNS's error: the
    group is required, and the deduplication id unless the topic's ContentBasedDeduplication
    derives it (SHA-256 of the message body, in hex); one given overrides the derived one."""
    group = entry.get("MessageGroupId")
    if not group:
        raise invalid("The MessageGroupId parameter is required for FIFO topics")
    dedup = entry.get("MessageDeduplicationId")
    for name, value in (("MessageGroupId", group), ("MessageDeduplicationId", dedup)):
        if value is not None and not _FIFO_ID.fullmatch(value):
            raise invalid(
                f"{name} Reason: {name} can only include alphanumeric and punctuation characters. 1 to 128 in length."
            )
    if dedup is None:
        if not content_based:
            raise invalid(
                "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                "provided explicitly"
            )
        dedup = hashlib.sha256(str(entry["Message"]).encode("utf-8")).hexdigest()
    return str(group), str(dedup)


def attributes_size(attributes: MessageAttributes) -> int:
    size = 0
    for name, value in attributes.items():
        data = value.get("BinaryValue")
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        size += (
            len(data)
            if isinstance(data, bytes | bytearray)
            else len(str(value.get("StringValue", "")).encode())
        )
    return size


def check_attributes(attributes: MessageAttributes) -> None:
    """Message attributes as SNS checks them (String, Number, Binary and String.Array)."""
    for name, value in attributes.items():
        if (
            not _ATTR_NAME.fullmatch(name)
            or name.lower().startswith(("aws.", "amazon."))
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
        ):
            raise invalid_value(f"The message attribute name '{name}' is invalid.")
        data_type = str(value.get("DataType", ""))
        kind = _DATA_TYPE.fullmatch(data_type)
        if kind is None:
            raise invalid_value(
                f"The message attribute '{name}' has an invalid message attribute type, the set of supported "
                "type prefixes is Binary, Number, and String."
            )
        if kind[1] == "Binary":
            if not value.get("BinaryValue"):
                raise invalid_value(
                    f"The message attribute '{name}' must contain non-empty message attribute value for "
                    "message attribute type 'Binary'."
                )
            continue
        text = value.get("StringValue")
        if not text:
            raise invalid_value(
                f"The message attribute '{name}' must contain non-empty message attribute value for message "
                f"attribute type '{kind[1]}'."
            )
        if kind[1] == "Number" and (not _NUMBER.fullmatch(text) or not math.isfinite(float(text))):
            raise invalid_value(f"Could not cast message attribute '{name}' value to number.")
        if data_type == "String.Array":
            try:
                values = user_json.loads(text)
            except ValueError:
                values = None
            if not isinstance(values, list) or any(isinstance(v, dict | list) for v in values):
                raise invalid_value(
                    f"The message attribute '{name}' with type 'String.Array' has to be an array of strings, "
                    "numbers, booleans or nulls."
                )
