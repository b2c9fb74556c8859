"""What Publish and PublishBatch check, in SNS's words: the message and its size, the subject, a
MessageStructure of "json", the message attributes, and FIFO-only parameters on a standard topic."""

from __future__ import annotations

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


def invalid(reason: str) -> ServiceError:
    return client_error("InvalidParameter", f"Invalid parameter: {reason}")


def invalid_value(message: str) -> ServiceError:
    return client_error("ParameterValueInvalid", message)


def check_entry(entry: dict[str, Any]) -> MessageAttributes:
    """Check one message to publish (Publish's params or a PublishBatch entry); its attributes."""
    message = entry.get("Message")
    if not message:
        raise invalid("Empty message")
    subject = entry.get("Subject")
    if subject is not None and not _SUBJECT.fullmatch(subject):
        raise invalid("Subject")
    for fifo_only in ("MessageGroupId", "MessageDeduplicationId"):
        if entry.get(fifo_only) is not None:
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
