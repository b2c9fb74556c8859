"""Subscription filter policies: the event pattern language (`lambdabox.patterns`) with SNS's
rules, checked as SNS checks them and matched against a published message.

Scope `MessageAttributes` (the default) matches a flat policy's keys against the message's
attributes: a String attribute as a string, a Number as a number, a String.Array as the list of
its values; Binary attributes are not compared (to a policy they are absent). Scope `MessageBody`
matches a policy (nested objects allowed) against the message body, which must be a JSON object.
A policy has at most 5 keys and 150 combinations of values, and is at most 256 KB.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lambdabox import user_json
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.patterns import Pattern, PatternError, compile_pattern
from lambdabox.sns.models import MessageAttributes

SCOPES = ("MessageAttributes", "MessageBody")
MAX_KEYS, MAX_COMBINATIONS, MAX_SIZE = 5, 150, 256 * 1024
#: the matchers SNS filter policies know
_OPERATORS = frozenset(
    {"prefix", "suffix", "anything-but", "equals-ignore-case", "numeric", "exists", "cidr"}
)


def _invalid(reason: str) -> ServiceError:
    return client_error("InvalidParameter", f"Invalid parameter: FilterPolicy: {reason}")


def check_policy(text: str, scope: str) -> Pattern:
    """The policy `text` compiled for `scope`; raises AWS's InvalidParameter for one SNS refuses."""
    if len(text.encode()) > MAX_SIZE:
        raise _invalid("Filter policy is too long")
    try:
        policy = user_json.loads(text)
    except ValueError:
        raise _invalid("failed to parse JSON.") from None
    if not isinstance(policy, dict):
        raise _invalid("Filter policy must be a JSON object")
    nested = scope == "MessageAttributes"
    keys, combinations = _measure(policy, flat=nested)
    if keys > MAX_KEYS:
        raise _invalid(f"Filter policy can not have more than {MAX_KEYS} keys")
    if combinations > MAX_COMBINATIONS:
        raise _invalid("Filter policy is too complex")
    try:
        return compile_pattern(policy)
    except PatternError as exc:
        raise _invalid(str(exc)) from None


def _measure(policy: dict[str, Any], *, flat: bool) -> tuple[int, int]:
    """(the number of keys, the number of value combinations) of a policy object."""
    keys, combinations = 0, 1
    for key, value in policy.items():
        if key == "$or" and isinstance(value, list):
            options = [_measure(p, flat=flat) for p in value if isinstance(p, dict)]
            keys += max((k for k, _ in options), default=0)
            combinations *= max(sum(c for _, c in options), 1)
        elif isinstance(value, dict):
            if flat:
                raise _invalid("Filter policy scope MessageAttributes does not support nested filter policy")
            k, c = _measure(value, flat=flat)
            keys, combinations = keys + k, combinations * c
        elif isinstance(value, list):
            for matcher in value:
                if isinstance(matcher, dict):
                    for op in matcher:
                        if op not in _OPERATORS:
                            raise _invalid(f"Unrecognized match type {op}")
            keys, combinations = keys + 1, combinations * max(len(value), 1)
        else:
            raise _invalid(f'"{key}" must be an object or an array')
    return keys, combinations


def attributes_event(attributes: MessageAttributes) -> dict[str, Any]:
    """The message's attributes as a policy of scope MessageAttributes sees them."""
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        kind = str(value.get("DataType", "")).split(".", 1)
        text = value.get("StringValue")
        if kind[0] == "Binary" or text is None:
            continue
        if kind[0] == "Number":
            number = float(text)
            out[name] = int(number) if number.is_integer() and math.isfinite(number) else number
        elif value.get("DataType") == "String.Array":
            try:
                values = user_json.loads(text)
            except ValueError:
                continue
            out[name] = values if isinstance(values, list) else [values]
        else:
            out[name] = text
    return out


class Subject:
    """One message as filter policies see it: its body decoded (per protocol, once) and its
    attributes as an event (once), however many subscriptions look at it."""

    def __init__(self, text_for: Callable[[str], str], attributes: MessageAttributes) -> None:
        self._text_for = text_for
        self._attributes = attributes
        self._bodies: dict[str, Any] = {}
        self._attributes_event: dict[str, Any] | None = None

    def body(self, protocol: str) -> Any:
        """The JSON body the protocol is sent, decoded (None when it is not JSON)."""
        if protocol not in self._bodies:
            try:
                self._bodies[protocol] = user_json.loads(self._text_for(protocol))
            except ValueError:
                self._bodies[protocol] = None
        return self._bodies[protocol]

    def attributes(self) -> dict[str, Any]:
        if self._attributes_event is None:
            self._attributes_event = attributes_event(self._attributes)
        return self._attributes_event


def matches(pattern: Pattern, scope: str, subject: Subject, protocol: str) -> bool:
    """Whether a message passes a subscription's policy (`protocol`: what it is sent as)."""
    if scope == "MessageBody":
        event = subject.body(protocol)
        return isinstance(event, dict) and pattern.matches(event)
    return pattern.matches(subject.attributes())
