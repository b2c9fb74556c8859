"""Check parsed request params against the model's constraints and word failures as AWS does.

AWS (Coral) validates every request before the service sees it: required members, lengths of
strings, blobs, lists and maps, numeric ranges and regular-expression patterns. Failures are
one `ValidationException` (HTTP 400) that counts and lists them:

    1 validation error detected: Value '100' at 'memorySize' failed to satisfy constraint:
    Member must have value greater than or equal to 128

Member paths are lowerCamelCase member names joined by dots and list elements `name.N.member`
(1-based); a map's keys and its values are judged as a whole ("Map keys must satisfy
constraint: [...]", "Map value must satisfy constraint: [...]", once each per map). Sensitive values are not echoed. String enums are
checked too ("Member must satisfy enum value set: [...]", as Lambda answers), except the few a
service judges itself (`SERVICE_CHECKED`: the service words the answer, so the operation checks
them). Checks are compiled once per shape into closures, so validating a hot request costs a few
microseconds.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.model import Shape

from lambdabox.aws.errors import ServiceError

#: check(value, path, errors): append AWS-worded failures for `value` found at `path`
Check = Callable[[Any, str, list[str]], None]

_NUMERIC = frozenset({"integer", "long", "float", "double"})
_SIZED = frozenset({"string", "blob"})

#: per service (the model's service name), the string enums AWS's request validation leaves to the
#: service, which answers them its own way: a shape name (wherever the shape is used) or
#: `Structure.Member` (that member only; the same shape elsewhere keeps its enum). A function's
#: Runtime may also be a runtime ARN, and Lambda answers InvalidParameterValueException "Value
#: cobol85 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [...] or
#: be a valid ARN" (CloudFormation and Serverless users quote it), not a ValidationException; the
#: layers' CompatibleRuntimes and CompatibleRuntime filters (the same Runtime shape) are refused by
#: the validation as any enum. SQS answers an unknown queue attribute name InvalidAttributeName
#: "Unknown Attribute X.", and ReceiveMessage's (legacy) AttributeNames, typed QueueAttributeName,
#: takes message attribute names (`AttributeName.1=SenderId`).
SERVICE_CHECKED: Mapping[str, frozenset[str]] = {
    "lambda": frozenset({"CreateFunctionRequest.Runtime", "UpdateFunctionConfigurationRequest.Runtime"}),
    "sqs": frozenset({"QueueAttributeName"}),
}

#: per service, (structure shape, list member) -> a sibling list member whose enum the list's items
#: may take too. SQS's ReceiveMessage `AttributeNames` (QueueAttributeName in the model) is the
#: deprecated spelling of `MessageSystemAttributeNames`, and SQS takes every message system
#: attribute name in it (`["ApproximateReceiveCount"]`, as most SQS code written before 2024 sends).
WIDER_ENUMS: Mapping[str, Mapping[tuple[str, str], str]] = {
    "sqs": {("ReceiveMessageRequest", "AttributeNames"): "MessageSystemAttributeNames"},
}


def camel(name: str) -> str:
    """AWS's member path spelling: the member name with its first letter lowercased."""
    return name[:1].lower() + name[1:]


def render(value: Any) -> str:
    """A value as AWS (Java) prints it inside `Value '...'`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def failure(value: Any, path: str, constraint: str, sensitive: bool = False) -> str:
    """One entry of a validation message."""
    if value is None:
        return f"Value null at '{path}' failed to satisfy constraint: {constraint}"
    if sensitive:
        return f"Value at '{path}' failed to satisfy constraint: {constraint}"
    return f"Value '{render(value)}' at '{path}' failed to satisfy constraint: {constraint}"


def validation_error(errors: list[str]) -> ServiceError:
    """The ValidationException AWS sends for these failures."""
    n = len(errors)
    plural = "error" if n == 1 else "errors"
    return ServiceError(
        f"{n} validation {plural} detected: " + "; ".join(errors),
        code="ValidationException",
        status=400,
        sender_fault=True,
    )


def _compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """The model's (Java) pattern as a Python regex, or None when Python reads it differently."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "possible nested set": Java and Python disagree
            return re.compile(pattern, re.ASCII)  # Java's \d, \w, \s are ASCII-only
    except (re.error, FutureWarning, DeprecationWarning):
        return None  # e.g. \p{L}: not worth emulating, the service checks what matters


def _descriptions(shape: Shape) -> list[str]:
    """AWS's wording of every constraint on a scalar shape, as listed inside `[...]`."""
    meta = shape.metadata
    out: list[str] = []
    word = "value" if shape.type_name in _NUMERIC else "length"
    if meta.get("max") is not None:
        out.append(f"Member must have {word} less than or equal to {meta['max']}")
    if meta.get("min") is not None:
        out.append(f"Member must have {word} greater than or equal to {meta['min']}")
    if meta.get("pattern") is not None and _compile_pattern(meta["pattern"]) is not None:
        out.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    if getattr(shape, "enum", None):
        out.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    return out


class Validator:
    """Compiled constraint checks for the shapes of one service model."""

    def __init__(self, service_name: str = "") -> None:
        """`service_name`: the model's, to leave the enums in `SERVICE_CHECKED` to the service."""
        self._checks: dict[tuple[str, bool], Check | None] = {}
        self._service_checked = SERVICE_CHECKED.get(service_name, frozenset())
        self._wider = WIDER_ENUMS.get(service_name, {})

    def validate(self, shape: Shape | None, params: Mapping[str, Any]) -> None:
        """Raise AWS's ValidationException if `params` break `shape`'s constraints."""
        if shape is None:
            return
        check = self.check_for(shape)
        if check is None:
            return
        errors: list[str] = []
        check(params, "", errors)
        if errors:
            raise validation_error(errors)

    def check_for(self, shape: Shape, sensitive: bool = False) -> Check | None:
        """The compiled check for `shape`, or None if nothing about it can fail."""
        sensitive = sensitive or bool(shape.metadata.get("sensitive"))
        key = (shape.name, sensitive)
        if key in self._checks:
            return self._checks[key]
        kind = shape.type_name
        if kind == "structure":
            # a trampoline first, so recursive shapes find their own check while it compiles
            slot: list[Check | None] = [None]

            def late(value: Any, path: str, errors: list[str]) -> None:
                real = slot[0]
                if real is not None:
                    real(value, path, errors)

            self._checks[key] = late
            slot[0] = self._structure(shape, sensitive)
            self._checks[key] = slot[0]
            return slot[0]
        if kind == "list":
            made = self._list(shape, sensitive)
        elif kind == "map":
            made = self._map(shape, sensitive)
        elif kind in _SIZED:
            made = self._sized(shape, sensitive)
        elif kind in _NUMERIC:
            made = self._number(shape, sensitive)
        else:
            made = None
        self._checks[key] = made
        return made

    def _structure(self, shape: Shape, sensitive: bool) -> Check | None:
        if shape.metadata.get("document"):
            return None
        required = set(shape.required_members)
        members: list[tuple[str, str, Check | None, bool]] = []
        for name, member in shape.members.items():
            also = self._wider.get((shape.name, name))
            if also is not None:
                sub = self._wider_list(member, shape.members[also], sensitive)
            elif f"{shape.name}.{name}" in self._service_checked and member.type_name == "string":
                sub = self._sized(member, sensitive, enum_values=[])  # its enum: the service's
            else:
                sub = self.check_for(member, sensitive)
            if sub is not None or name in required:
                members.append((name, camel(name), sub, name in required))
        if not members:
            return None
        plan = tuple(members)

        def check(value: Any, path: str, errors: list[str]) -> None:
            prefix = path + "." if path else ""
            for name, cname, sub, req in plan:
                v = value.get(name)
                if v is None:
                    if req:
                        errors.append(failure(None, prefix + cname, "Member must not be null"))
                elif sub is not None:
                    sub(v, prefix + cname, errors)

        return check

    def _sized(self, shape: Shape, sensitive: bool, enum_values: list[str] | None = None) -> Check | None:
        meta = shape.metadata
        length = _bounds(meta.get("min") or None, meta.get("max"), "length", len, sensitive)
        pattern: str | None = meta.get("pattern") if shape.type_name == "string" else None
        rx = _compile_pattern(pattern) if pattern is not None else None
        listed = () if shape.name in self._service_checked else getattr(shape, "enum", None) or ()
        if enum_values is not None:
            listed = enum_values
        enum: frozenset[str] = frozenset(listed)
        enum_words = ", ".join(listed)
        if length is None and rx is None and not enum:
            return None

        def check(value: Any, path: str, errors: list[str]) -> None:
            if enum and value not in enum:
                errors.append(
                    failure(value, path, f"Member must satisfy enum value set: [{enum_words}]", sensitive)
                )
                return
            if rx is not None and rx.fullmatch(value) is None:
                errors.append(
                    failure(
                        value, path, f"Member must satisfy regular expression pattern: {pattern}", sensitive
                    )
                )
            if length is not None:
                length(value, path, errors)

        return check

    def _number(self, shape: Shape, sensitive: bool) -> Check | None:
        return _bounds(shape.metadata.get("min"), shape.metadata.get("max"), "value", _identity, sensitive)

    def _count(self, shape: Shape, sensitive: bool) -> Check | None:
        return _bounds(shape.metadata.get("min") or None, shape.metadata.get("max"), "length", len, sensitive)

    def _wider_list(self, shape: Shape, other: Shape, sensitive: bool) -> Check | None:
        """The check of list `shape` whose items may also take the values of list `other`'s enum
        (not cached by shape name: the same list shape is strict elsewhere)."""
        own: list[str] = list(getattr(shape.member, "enum", None) or ())
        values = own + [v for v in getattr(other.member, "enum", None) or () if v not in own]
        return self._list(shape, sensitive, self._sized(shape.member, sensitive, values))

    def _list(self, shape: Shape, sensitive: bool, item_check: Check | None = None) -> Check | None:
        count = self._count(shape, sensitive)
        item = item_check if item_check is not None else self.check_for(shape.member, sensitive)
        if count is None and item is None:
            return None

        def check(value: Any, path: str, errors: list[str]) -> None:
            if count is not None:
                count(value, path, errors)
            for i, v in enumerate(value, 1):
                if v is None:
                    errors.append(failure(None, f"{path}.{i}.member", "Member must not be null"))
                elif item is not None:
                    item(v, f"{path}.{i}.member", errors)

        return check

    def _map(self, shape: Shape, sensitive: bool) -> Check | None:
        count = self._count(shape, sensitive)
        key_check = self.check_for(shape.key, sensitive)
        key_words = ", ".join(_descriptions(shape.key))
        value_check = self.check_for(shape.value, sensitive)
        value_words = ", ".join([*_descriptions(shape.value), "Member must not be null"])
        if count is None and key_check is None and value_check is None:
            return None

        def check(value: Any, path: str, errors: list[str]) -> None:
            if count is not None:
                count(value, path, errors)
            keys_failed = values_failed = False  # each reported once per map, as AWS does
            for k, v in value.items():
                found: list[str]
                if key_check is not None and not keys_failed:
                    found = []
                    key_check(k, path, found)
                    if found:
                        keys_failed = True
                        errors.append(
                            failure(
                                value, path, f"Map keys must satisfy constraint: [{key_words}]", sensitive
                            )
                        )
                if values_failed:
                    continue
                found = []
                if v is None:
                    found.append("null")
                elif value_check is not None:
                    value_check(v, path, found)
                if found:
                    values_failed = True
                    errors.append(
                        failure(value, path, f"Map value must satisfy constraint: [{value_words}]", sensitive)
                    )

        return check


def _identity(value: Any) -> Any:
    return value


def _bounds(lo: Any, hi: Any, noun: str, measure: Callable[[Any], Any], sensitive: bool) -> Check | None:
    """A min/max check worded as AWS does ("Member must have length less than or equal to 64")."""
    if lo is None and hi is None:
        return None

    def check(value: Any, path: str, errors: list[str]) -> None:
        n = measure(value)
        if hi is not None and n > hi:
            errors.append(
                failure(value, path, f"Member must have {noun} less than or equal to {hi}", sensitive)
            )
        if lo is not None and n < lo:
            errors.append(
                failure(value, path, f"Member must have {noun} greater than or equal to {lo}", sensitive)
            )

    return check
