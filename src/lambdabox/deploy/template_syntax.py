"""The syntax shared by the template modules: intrinsic functions, the pseudo parameters, UNKNOWN
(a value known only after apply) and AWS::NoValue."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any


class _Unknown:
    """A value known only after apply (the physical id of a resource not yet created)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"


UNKNOWN: Any = _Unknown()


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

Lookup = Callable[[str, "str | None"], Any]

PSEUDO = (
    "AWS::Region",
    "AWS::AccountId",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::NoValue",
    "AWS::NotificationARNs",
)
INTRINSICS = frozenset(
    [
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::If",
        "Fn::Equals",
        "Fn::And",
        "Fn::Or",
        "Fn::Not",
        "Condition",
        "Fn::GetAZs",
        "Fn::Base64",
        "Fn::FindInMap",
    ]
)
SUB_VAR = re.compile(r"\$\{([^}]*)\}")
LOGICAL_ID = re.compile(r"^[A-Za-z0-9]+$")


def contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def intrinsic(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        ((k, v),) = value.items()
        if k in INTRINSICS:
            return k, v
    return None


def sub_names(text: str) -> Iterator[str]:
    for m in SUB_VAR.finditer(text):
        if not m.group(1).startswith("!"):
            yield m.group(1).strip()
