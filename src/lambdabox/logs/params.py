"""Request checks for the Logs API: parameter validation, AWS's error wording, pagination tokens.

Each check takes the member name as AWS spells it in messages and either returns the value with
its type narrowed or raises the `ServiceError` CloudWatch Logs answers with.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Literal

from lambdabox.aws import tag_keys
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.logs.models import POSITION_DIGITS

_GROUP_NAME_TEXT = r"[\.\-_/#A-Za-z0-9]+"
_GROUP_NAME = re.compile(_GROUP_NAME_TEXT)
_STREAM_NAME_TEXT = r"[^:*]*"
_STREAM_NAME = re.compile(_STREAM_NAME_TEXT)

NO_GROUP = "The specified log group does not exist."
NO_STREAM = "The specified log stream does not exist."
BAD_TOKEN = "The specified nextToken is invalid."


def invalid(message: str) -> ServiceError:
    return client_error("InvalidParameterException", message)


def not_found(message: str) -> ServiceError:
    return client_error("ResourceNotFoundException", message)


def constraint(member: str, value: Any, text: str) -> ServiceError:
    """AWS's one-failure validation message for `member`, as an InvalidParameterException."""
    shown = "null" if value is None else f"'{value}'"
    return invalid(
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy constraint: {text}"
    )


def required(params: dict[str, Any], member: str) -> Any:
    value = params.get(member)
    if value is None:
        raise constraint(member, None, "Member must not be null")
    return value


def _check_name(member: str, name: Any, pattern: re.Pattern[str], pattern_text: str) -> str:
    if not isinstance(name, str):
        raise constraint(member, name, "Member must not be null")
    if len(name) < 1:
        raise constraint(member, name, "Member must have length greater than or equal to 1")
    if len(name) > 512:
        raise constraint(member, name, "Member must have length less than or equal to 512")
    if not pattern.fullmatch(name):
        raise constraint(member, name, f"Member must satisfy regular expression pattern: {pattern_text}")
    return name


def check_group_name(member: str, name: Any) -> str:
    """A valid log group name (1-512 of ``[.-_/#A-Za-z0-9]``)."""
    return _check_name(member, name, _GROUP_NAME, _GROUP_NAME_TEXT)


def check_stream_name(member: str, name: Any) -> str:
    """A valid log stream name (1-512 characters, no ':' or '*')."""
    return _check_name(member, name, _STREAM_NAME, _STREAM_NAME_TEXT)


def int_param(params: dict[str, Any], member: str, *, lo: int, hi: int | None = None) -> int | None:
    """An optional integer member within [lo, hi]; None when absent."""
    value = params.get(member)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise constraint(member, value, "Member must be a number")
    if value < lo:
        raise constraint(member, value, f"Member must have value greater than or equal to {lo}")
    if hi is not None and value > hi:
        raise constraint(member, value, f"Member must have value less than or equal to {hi}")
    return value


def check_tags(member: str, value: Any) -> dict[str, str]:
    """A tag map of 1-50 entries, keys 1-128 characters not starting with ``aws:`` (but for
    CloudFormation's own ``aws:cloudformation:`` tags, which lambdabox's deployer sets in its
    place), values ≤ 256."""
    if not isinstance(value, dict) or not value:
        raise constraint(member, value, "Member must have length greater than or equal to 1")
    if len(value) > 50:
        raise constraint(member, value, "Member must have length less than or equal to 50")
    for k, v in value.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 128 or tag_keys.reserved([k]) is not None:
            raise constraint(
                member,
                value,
                "Map keys must satisfy constraint: [Member must have length less than or equal to 128]",
            )
        if not isinstance(v, str) or len(v) > 256:
            raise constraint(
                member,
                value,
                "Map value must satisfy constraint: [Member must have length less than or equal to 256]",
            )
    return dict(value)


def encode_token(payload: dict[str, Any]) -> str:
    """An opaque nextToken carrying `payload` (which names its kind under "k")."""
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_token(token: Any, kind: str) -> dict[str, Any]:
    """The payload of a nextToken made by `encode_token` for `kind`; InvalidParameter otherwise."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(str(token).encode()))
    except (ValueError, binascii.Error):
        raise invalid(BAD_TOKEN) from None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise invalid(BAD_TOKEN)
    return payload


def event_token(direction: Literal["f", "b"], pos: int) -> str:
    """A GetLogEvents forward/backward token at event position `pos`."""
    return f"{direction}/{max(pos, 0):0{POSITION_DIGITS}d}"
