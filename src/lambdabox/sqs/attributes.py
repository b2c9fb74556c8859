"""Queue attributes as CreateQueue and SetQueueAttributes take them: each checked with AWS's error
codes and messages, numbers normalised, the redrive policies parsed; and queue tags with AWS's
limits. Pure: whether a dead-letter target exists is `redrive.py`'s question."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.sqs.models import CONFIGURABLE, FIFO_SETTINGS, MAX_TAGS, POLICIES, SWITCHES

_DIGITS = re.compile(r"\d+")
_PERMISSIONS = ("allowAll", "denyAll", "byQueue")
MAX_SOURCE_QUEUES = 10


@dataclass(frozen=True)
class RedrivePolicy:
    """A source queue's: move a message received more than `max_receive_count` times to the target."""

    target_arn: str
    max_receive_count: int


@dataclass(frozen=True)
class RedriveAllowPolicy:
    """A dead-letter queue's: which source queues may name it as their target."""

    permission: str  # allowAll | denyAll | byQueue
    sources: tuple[str, ...] = ()

    def allows(self, source_arn: str) -> bool:
        if self.permission == "byQueue":
            return source_arn in self.sources
        return self.permission == "allowAll"


def _bad_attribute(name: str, reason: str = "") -> ServiceError:
    tail = f" Reason: {reason}" if reason else ""
    return client_error("InvalidAttributeValue", f"Invalid value for the parameter {name}.{tail}")


def _bad_policy(name: str, value: str, reason: str) -> ServiceError:
    return client_error(
        "InvalidParameterValue", f"Value {value} for parameter {name} is invalid. Reason: {reason}"
    )


def parse_queue_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, name) of an SQS queue ARN, None if `arn` is not one."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not all(parts[3:]):
        return None
    return parts[3], parts[4], parts[5]


def checked(given: dict[str, str], fifo: bool = False) -> dict[str, str]:
    """`given` as stored: numbers normalised, the redrive policy in AWS's spelling; "" for a policy
    means "remove it". Raises AWS's error for an unknown name or a bad value (a FIFO queue's
    attributes are unknown to a standard queue; `FifoQueue` itself is CreateQueue's to take)."""
    out: dict[str, str] = {}
    for name, value in given.items():
        if name == "FifoQueue":
            raise _bad_attribute(name, "Modifying queue type is not supported.")
        if name in FIFO_SETTINGS and fifo:
            allowed, _ = FIFO_SETTINGS[name]
            choice = value.lower() if name == "ContentBasedDeduplication" else value
            if choice not in allowed:
                raise _bad_attribute(name)
            out[name] = choice
        elif name in CONFIGURABLE:
            low, high, _ = CONFIGURABLE[name]
            if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
                raise _bad_attribute(name)
            out[name] = str(int(value))
        elif name in SWITCHES:
            if value.lower() not in ("true", "false"):
                raise _bad_attribute(name)
            out[name] = value.lower()
        elif name == "Policy":
            out[name] = value if value == "" else _policy(value)
        elif name == "RedrivePolicy":
            out[name] = value if value == "" else _redrive(value)
        elif name == "RedriveAllowPolicy":
            out[name] = value if value == "" else _redrive_allow(value)
        else:
            raise client_error("InvalidAttributeName", f"Unknown Attribute {name}.")
    return out


def applied(current: dict[str, str], changes: dict[str, str]) -> dict[str, str]:
    """The attributes after `changes` (checked), an empty policy removing it; AWS's error when a
    FIFO queue's throughput would be per message group with deduplication across the queue."""
    out = dict(current)
    for name, value in changes.items():
        if name in POLICIES and value == "":
            out.pop(name, None)
        else:
            out[name] = value
    if (
        out.get("FifoThroughputLimit") == "perMessageGroupId"
        and out.get("DeduplicationScope") != "messageGroup"
    ):
        raise _bad_attribute(
            "FifoThroughputLimit",
            "The perMessageGroupId value is allowed only when the value for DeduplicationScope is messageGroup.",
        )
    return out


def _json_map(value: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _policy(value: str) -> str:
    parsed = _json_map(value)
    if parsed is None or "Statement" not in parsed:
        raise _bad_attribute("Policy")
    return value


def _redrive(value: str) -> str:
    parsed = _json_map(value)
    if parsed is None:
        raise _bad_attribute("RedrivePolicy", "Redrive policy is not a valid JSON map.")
    for key in ("maxReceiveCount", "deadLetterTargetArn"):
        if key not in parsed:
            raise _bad_policy(
                "RedrivePolicy", value, f"Redrive policy does not contain mandatory attribute: {key}."
            )
    extra = set(parsed) - {"deadLetterTargetArn", "maxReceiveCount"}
    if extra:
        raise _bad_policy(
            "RedrivePolicy",
            value,
            "Only following attributes are supported: [maxReceiveCount, deadLetterTargetArn].",
        )
    count = parsed["maxReceiveCount"]
    number = count if isinstance(count, int) and not isinstance(count, bool) else None
    if isinstance(count, str) and re.fullmatch(r"-?\d+", count):
        number = int(count)
    if number is None or not 1 <= number <= 1000:
        raise _bad_policy(
            "RedrivePolicy",
            value,
            f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 both inclusive.",
        )
    target = parsed["deadLetterTargetArn"]
    if not isinstance(target, str) or parse_queue_arn(target) is None:
        raise _bad_policy("RedrivePolicy", value, "Dead-letter target ARN should be fully qualified ARN.")
    return json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": number}, separators=(",", ":"))


def _redrive_allow(value: str) -> str:
    unsupported = _bad_attribute(
        "RedriveAllowPolicy",
        "Amazon SQS can't create the redrive allow policy, as it\u2019s in an unsupported format.",
    )
    parsed = _json_map(value)
    if parsed is None or parsed.get("redrivePermission") not in _PERMISSIONS:
        raise unsupported
    if set(parsed) - {"redrivePermission", "sourceQueueArns"}:
        raise unsupported
    sources = parsed.get("sourceQueueArns")
    if sources is not None and (
        not isinstance(sources, list) or not all(isinstance(a, str) for a in sources)
    ):
        raise unsupported
    cant = "Amazon SQS can't create the redrive allow policy."
    if parsed["redrivePermission"] != "byQueue":
        if sources:
            raise _bad_policy(
                "RedriveAllowPolicy",
                value,
                f"{cant} To specify one or more source queue ARNs, you must set redrivePermission to byQueue.",
            )
    elif not sources:
        raise _bad_policy(
            "RedriveAllowPolicy",
            value,
            f"{cant} When you specify the byQueue permission type, you must also specify one or more "
            "sourceQueueArns values.",
        )
    elif len(sources) > MAX_SOURCE_QUEUES:
        raise _bad_policy(
            "RedriveAllowPolicy",
            value,
            f"{cant} The maximum number of source queue ARNs you can specify is {MAX_SOURCE_QUEUES}.",
        )
    return value


def redrive_policy(attributes: dict[str, str]) -> RedrivePolicy | None:
    text = attributes.get("RedrivePolicy")
    if not text:
        return None
    parsed = json.loads(text)
    return RedrivePolicy(str(parsed["deadLetterTargetArn"]), int(parsed["maxReceiveCount"]))


def redrive_allow_policy(attributes: dict[str, str]) -> RedriveAllowPolicy:
    """The queue's policy; without one every source queue may use it (allowAll)."""
    text = attributes.get("RedriveAllowPolicy")
    if not text:
        return RedriveAllowPolicy("allowAll")
    parsed = json.loads(text)
    return RedriveAllowPolicy(str(parsed["redrivePermission"]), tuple(parsed.get("sourceQueueArns") or ()))


def check_tags(name: str, have: dict[str, str], adding: dict[str, str]) -> dict[str, str]:
    """The queue `name`'s tags `have` with `adding` added, within AWS's limits."""
    for key, value in adding.items():
        if not 1 <= len(key) <= 128:
            raise client_error(
                "InvalidParameterValue", "Tag keys must be between 1 and 128 characters in length."
            )
        if len(value) > 256:
            raise client_error(
                "InvalidParameterValue", "Tag values must be between 0 and 256 characters in length."
            )
    merged = {**have, **adding}
    if len(merged) > MAX_TAGS:
        raise client_error("InvalidParameterValue", f"Too many tags added for queue {name}.")
    return merged
