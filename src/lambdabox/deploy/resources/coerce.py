"""CloudFormation's types for the API's: a template's scalars are often strings (a `Number`
parameter is handed over as one, `MemorySize: "256"` is common), and CloudFormation converts
them to the property's type. Before each call the deploy engine makes, `coerce` converts strings
to the integers, floats and booleans the operation's input shape asks for (botocore's model),
and leaves anything it cannot convert for botocore to refuse."""

from __future__ import annotations

from typing import Any

from botocore.model import Shape

_INTEGERS = frozenset({"integer", "long"})
_FLOATS = frozenset({"float", "double"})


def value(v: Any, shape: Shape) -> Any:
    """`v` converted where `shape` wants a number or a boolean and `v` is a string saying one."""
    kind = shape.type_name
    if isinstance(v, str):
        text = v.strip()
        if kind in _INTEGERS:
            try:
                return int(text)
            except ValueError:
                return v
        if kind in _FLOATS:
            try:
                return float(text)
            except ValueError:
                return v
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        return v
    if kind == "structure" and isinstance(v, dict):
        members = shape.members
        return {k: value(x, members[k]) if k in members else x for k, x in v.items()}
    if kind == "list" and isinstance(v, list):
        return [value(x, shape.member) for x in v]
    if kind == "map" and isinstance(v, dict):
        return {k: value(x, shape.value) for k, x in v.items()}
    return v


def coerce(params: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore's `before-parameter-build` hook: convert `params` in place for `model`'s input."""
    shape = model.input_shape
    if shape is None:
        return
    params.update(value(params, shape))
