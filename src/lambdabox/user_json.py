"""JSON that users send inside requests (message bodies, filter patterns and policies, attribute
values): decoded as AWS's services decode it — `NaN`, `Infinity` and `-Infinity` are not JSON,
and a document nested deeper than `MAX_DEPTH` is refused rather than letting the decoder's
recursion limit surface as a server error. Either way `ValueError`, like any other text that
is not JSON."""

from __future__ import annotations

import json
from typing import Any

#: the deepest nesting of objects and arrays accepted
MAX_DEPTH = 64


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str | bytes) -> Any:
    """The decoded document; ValueError for what is not JSON or is nested too deeply."""
    if _too_deep(text):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def _too_deep(text: str | bytes) -> bool:
    """Whether brackets open deeper than MAX_DEPTH (counted outside strings, in one pass)."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    if raw.count("[") + raw.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False
