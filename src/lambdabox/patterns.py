"""Event patterns: the JSON matching language of Lambda's event filtering (and of SNS filter
policies and EventBridge rules), checked once, then matched against events.

A pattern is a JSON object whose leaves are lists of matchers: literal strings, numbers, `null`,
or one-key objects — `prefix`, `suffix`, `equals-ignore-case`, `wildcard`, `anything-but`,
`numeric`, `exists` (and `cidr`) — with `$or` for alternatives. Every key of a pattern must match;
a key matches when any of its matchers matches the event's value (any element, when the event's
value is a list). A field the event does not have is matched only by `{"exists": false}`.

`compile_pattern(text)` raises `PatternError` (with the reason) for what AWS refuses, else returns
a `Pattern` whose `matches(event)` answers for one decoded JSON event.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdabox import user_json

Matcher = Callable[[Any, bool], bool]
"""(value, present) -> whether one value of the event's field matches."""

_NUMERIC_OPS = {"<", "<=", "=", ">", ">="}


class PatternError(ValueError):
    """A pattern AWS would refuse."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """A checked pattern."""

    _match: Callable[[Any], bool]

    def matches(self, event: Any) -> bool:
        """Whether the decoded JSON `event` matches."""
        return self._match(event)


def compile_pattern(text: str | dict[str, Any]) -> Pattern:
    """The pattern `text` (JSON, or an already decoded object), checked."""
    if isinstance(text, str):
        try:
            decoded = user_json.loads(text)
        except ValueError as exc:
            raise PatternError(f"the pattern is not JSON: {exc}") from exc
    else:
        decoded = text
    if not isinstance(decoded, dict) or not decoded:
        raise PatternError("a pattern is a non-empty JSON object")
    return Pattern(_object(decoded))


def _object(pattern: dict[str, Any]) -> Callable[[Any], bool]:
    checks: list[Callable[[Any], bool]] = []
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise PatternError("$or takes a list of at least two patterns")
            options = [_object(p) if isinstance(p, dict) and p else _bad("$or", p) for p in value]
            checks.append(_any_of(options))
        elif isinstance(value, dict):
            if not value:
                raise PatternError(f"the pattern of {key!r} is an empty object")
            inner = _object(value)
            checks.append(functools.partial(_nested, key=key, inner=inner))
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"the matchers of {key!r} are an empty list")
            matchers = [_matcher(m) for m in value]
            checks.append(functools.partial(_leaf, key=key, matchers=matchers))
        else:
            raise PatternError(f"the value of {key!r} must be an object or a list of matchers")
    return lambda event: all(check(event) for check in checks)


def _any_of(options: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    return lambda event: any(o(event) for o in options)


def _bad(where: str, value: Any) -> Callable[[Any], bool]:
    raise PatternError(f"{where}: {json.dumps(value)} is not a pattern")


def _nested(event: Any, key: str, inner: Callable[[Any], bool]) -> bool:
    if not isinstance(event, dict) or key not in event:
        return inner(_MISSING_OBJECT)
    value = event[key]
    if isinstance(value, list):
        return any(inner(v) for v in value if isinstance(v, dict))
    return isinstance(value, dict) and inner(value)


#: where a nested object is absent: every field in it is missing
_MISSING_OBJECT: dict[str, Any] = {}


def _leaf(event: Any, key: str, matchers: list[Matcher]) -> bool:
    if not isinstance(event, dict) or key not in event:
        return any(m(None, False) for m in matchers)
    value = event[key]
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        return any(m(None, False) for m in matchers)
    return any(m(v, True) for v in values for m in matchers)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _matcher(spec: Any) -> Matcher:
    if spec is None:
        return lambda v, present: present and v is None
    if isinstance(spec, bool):
        return lambda v, present: present and v is spec
    if isinstance(spec, str):
        return lambda v, present: present and isinstance(v, str) and v == spec
    number = _number(spec)
    if number is not None:
        return lambda v, present: present and _number(v) == number
    if not isinstance(spec, dict) or len(spec) != 1:
        raise PatternError(f"{json.dumps(spec)} is not a matcher")
    ((kind, arg),) = spec.items()
    if kind == "exists":
        if not isinstance(arg, bool):
            raise PatternError("exists takes true or false")
        return lambda v, present: present == arg
    if kind == "numeric":
        return _numeric(arg)
    if kind == "anything-but":
        return _anything_but(arg)
    if kind == "cidr":
        try:
            network = ipaddress.ip_network(str(arg), strict=False)
        except ValueError as exc:
            raise PatternError(f"cidr: {exc}") from exc
        return lambda v, present: present and isinstance(v, str) and _in_network(v, network)
    string = _string_matcher(kind, arg)
    return lambda v, present: present and isinstance(v, str) and string(v)


def _string_matcher(kind: str, arg: Any) -> Callable[[str], bool]:
    if kind in ("prefix", "suffix") and isinstance(arg, dict):
        if list(arg) != ["equals-ignore-case"] or not isinstance(arg["equals-ignore-case"], str):
            raise PatternError(f"{kind} takes a string or {{'equals-ignore-case': string}}")
        folded = arg["equals-ignore-case"].casefold()
        if kind == "prefix":
            return lambda v: v.casefold().startswith(folded)
        return lambda v: v.casefold().endswith(folded)
    if not isinstance(arg, str):
        raise PatternError(f"{kind} takes a string")
    if kind == "prefix":
        return lambda v: v.startswith(arg)
    if kind == "suffix":
        return lambda v: v.endswith(arg)
    if kind == "equals-ignore-case":
        folded = arg.casefold()
        return lambda v: v.casefold() == folded
    if kind == "wildcard":
        if "**" in arg:
            raise PatternError("wildcard: consecutive wildcard characters are not allowed")
        return functools.partial(_wildcard, arg.split("*"))
    raise PatternError(f"unknown matcher {kind!r}")


def _wildcard(parts: list[str], value: str) -> bool:
    """Whether `value` matches a wildcard pattern split at its `*`s: the first part a prefix, the
    last a suffix, the others found in order in between (greedy and linear, never backtracking:
    the leftmost place of each part is the best one)."""
    if len(parts) == 1:
        return value == parts[0]
    first, *middle, last = parts
    if len(value) < len(first) + len(last) or not value.startswith(first) or not value.endswith(last):
        return False
    at, end = len(first), len(value) - len(last)
    for part in middle:
        found = value.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return True


def _numeric(arg: Any) -> Matcher:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise PatternError("numeric takes one or two (operator, number) pairs")
    bounds: list[tuple[str, float]] = []
    for i in range(0, len(arg), 2):
        op, num = arg[i], _number(arg[i + 1])
        if op not in _NUMERIC_OPS or num is None or math.isinf(num):
            raise PatternError(f"numeric: {json.dumps(arg)} is not a range")
        bounds.append((op, num))
    if len(bounds) == 2 and not (bounds[0][0] in (">", ">=") and bounds[1][0] in ("<", "<=")):
        raise PatternError("numeric: a range is a lower bound (> or >=) then an upper bound (< or <=)")

    def match(v: Any, present: bool) -> bool:
        n = _number(v)
        return present and n is not None and all(_compare(n, op, b) for op, b in bounds)

    return match


def _compare(n: float, op: str, bound: float) -> bool:
    if op == "<":
        return n < bound
    if op == "<=":
        return n <= bound
    if op == "=":
        return n == bound
    if op == ">":
        return n > bound
    return n >= bound


def _anything_but(arg: Any) -> Matcher:
    if isinstance(arg, dict):
        if len(arg) != 1:
            raise PatternError("anything-but takes one matcher")
        ((kind, inner),) = arg.items()
        if kind == "equals-ignore-case" and isinstance(inner, list):
            if not inner or not all(isinstance(s, str) for s in inner):
                raise PatternError("anything-but equals-ignore-case takes strings")
            folded = {s.casefold() for s in inner}
            return lambda v, present: present and isinstance(v, str) and v.casefold() not in folded
        if kind not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            raise PatternError(f"anything-but cannot take {kind!r}")
        string = _string_matcher(kind, inner)
        return lambda v, present: present and isinstance(v, str) and not string(v)
    values = arg if isinstance(arg, list) else [arg]
    if not values or not all(isinstance(x, str) or _number(x) is not None for x in values):
        raise PatternError("anything-but takes strings or numbers")
    strings = {x for x in values if isinstance(x, str)}
    numbers = {_number(x) for x in values if not isinstance(x, str)}

    def match(v: Any, present: bool) -> bool:
        if not present:
            return False
        if isinstance(v, str):
            return v not in strings
        n = _number(v)
        return n not in numbers if n is not None else v is not None or bool(strings or numbers)

    return match


def _in_network(value: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(value) in network
    except ValueError:
        return False
