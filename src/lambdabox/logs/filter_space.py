"""Space-delimited filter patterns: ``[ip, user, ..., status = 4* || status = 5*, bytes > 1000]``.

A message is split on spaces (`split_fields`), where ``"..."`` and ``[...]`` each make one field;
each pattern slot names a field and may carry conditions, ``...`` takes any number of fields and
an empty piece (``[a, , c]``, or a trailing comma) is an unnamed field. The condition language
itself lives in `filter_expr`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from lambdabox.logs.filter_expr import (
    FIELD_NAME,
    BoolOp,
    Expr,
    FilterPatternError,
    Matcher,
    Parser,
    Path,
    evaluate,
    read_quoted,
    read_regex,
    tokenize,
)

_ELLIPSIS: Final = "..."


@dataclass(frozen=True)
class _Slot:
    name: str | None  # None for an anonymous field (an empty piece) and for the ellipsis
    expr: Expr | None
    ellipsis: bool = False


def _split_top_level(body: str) -> list[str]:
    """Split on commas that are not inside quotes or %regex%."""
    parts: list[str] = []
    buf: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == '"':
            _, j = read_quoted(body, i)
            buf.append(body[i:j])
            i = j
        elif c == "%":
            _, j = read_regex(body, i)
            buf.append(body[i:j])
            i = j
        elif c == ",":
            parts.append("".join(buf))
            buf = []
            i += 1
        else:
            buf.append(c)
            i += 1
    parts.append("".join(buf))
    return parts


def compile_delimited(body: str) -> Matcher:
    """The matcher for a space-delimited pattern; `body` is the text between its brackets."""
    raw = [p.strip() for p in _split_top_level(body)]
    if raw == [""]:
        raise FilterPatternError("a space-delimited pattern needs at least one field")
    slots: list[_Slot] = []
    for piece in raw:
        if piece in (_ELLIPSIS, "…"):
            slots.append(_Slot(None, None, ellipsis=True))
            continue
        if not piece:  # an empty piece (e.g. after a trailing comma) is an unnamed field
            slots.append(_Slot(None, None))
            continue
        toks = tokenize(piece, json_mode=False)
        if len(toks) == 1:
            if toks[0][0] != "word" or not FIELD_NAME.fullmatch(toks[0][1]):
                raise FilterPatternError(f"invalid field {piece!r}")
            slots.append(_Slot(toks[0][1], None))
            continue
        expr = Parser(toks, json_mode=False).parse()
        slots.append(_Slot(_first_name(expr), expr))
    names = {s.name for s in slots if s.name is not None}
    fixed = sum(1 for s in slots if not s.ellipsis)
    has_ellipsis = len(slots) != fixed

    def match(message: str) -> bool:
        fields = split_fields(message)
        if len(fields) < fixed or (not has_ellipsis and len(fields) != fixed):
            return False
        return any(_check_slots(slots, binding, names) for binding in _align(slots, fields))

    return match


def _first_name(expr: Expr) -> str:
    while isinstance(expr, BoolOp):
        expr = expr.parts[0]
    assert isinstance(expr.ref, str)
    return expr.ref


def _align(slots: Sequence[_Slot], fields: Sequence[str]) -> Iterator[list[str]]:
    """Every way of assigning fields to slots (ellipses take any run); yields each slot's value."""
    out: list[str] = [""] * len(slots)
    remaining_fixed = [0] * (len(slots) + 1)
    for k in range(len(slots) - 1, -1, -1):
        remaining_fixed[k] = remaining_fixed[k + 1] + (not slots[k].ellipsis)

    def go(si: int, fi: int) -> Iterator[list[str]]:
        if si == len(slots):
            if fi == len(fields):
                yield out
            return
        if slots[si].ellipsis:
            for take in range(len(fields) - fi - remaining_fixed[si + 1], -1, -1):
                out[si] = " ".join(fields[fi : fi + take])
                yield from go(si + 1, fi + take)
            return
        if fi >= len(fields):
            return
        out[si] = fields[fi]
        yield from go(si + 1, fi + 1)

    return go(0, 0)


def _check_slots(slots: Sequence[_Slot], values: list[str], names: set[str]) -> bool:
    by_name = {s.name: v for s, v in zip(slots, values, strict=True) if s.name is not None}
    for slot, value in zip(slots, values, strict=True):
        if slot.expr is None:
            continue

        def resolve(ref: Path | str, own: str = value) -> Any:
            assert isinstance(ref, str)
            return by_name[ref] if ref in names else own

        if not evaluate(slot.expr, resolve):
            return False
    return True


def split_fields(message: str) -> list[str]:
    """Split a message into space-delimited fields; "..." and [...] each make one field."""
    fields: list[str] = []
    i, n = 0, len(message)
    while i < n:
        c = message[i]
        if c.isspace():
            i += 1
            continue
        if c in '"[':
            close = '"' if c == '"' else "]"
            j = message.find(close, i + 1)
            if j < 0:
                j = n
            fields.append(message[i + 1 : j])
            i = j + 1
            continue
        j = i
        while j < n and not message[j].isspace():
            j += 1
        fields.append(message[i:j])
        i = j
    return fields
