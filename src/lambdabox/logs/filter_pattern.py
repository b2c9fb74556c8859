"""CloudWatch Logs filter patterns: compile a pattern once, then test log messages against it.

Three pattern kinds, chosen by the pattern's first character, as in the CloudWatch Logs user guide
("Filter pattern syntax"):

* unstructured terms: ``ERROR Exception`` (all terms, case-sensitive substring match), quoted
  phrases ``"Failed to process"``, ``?ERROR ?WARN`` (at least one), ``-Exiting`` / ``- "Exiting"``
  (none of), ``%regex%``; the empty pattern matches everything;
* JSON ``{ $.a.b[0] = "x*" && ($.n > 5 || $.f IS TRUE) }`` with ``= != < > <= >=``, ``IS NULL``,
  ``IS TRUE``, ``IS FALSE``, ``EXISTS``, ``NOT EXISTS``, ``*`` wildcards at either end of a string,
  ``%regex%`` values; only messages that are JSON can match;
* space-delimited ``[ip, user, ..., status = 4* || status = 5*, bytes > 1000]`` over a message split
  on spaces, where ``"..."`` and ``[...]`` group one field, ``...`` skips any number of fields and
  an empty piece (``[a, , c]``, or a trailing comma) is an unnamed field.

`compile_pattern` raises `FilterPatternError` for a pattern AWS would refuse.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = ["FilterPattern", "FilterPatternError", "compile_pattern", "matches", "split_fields"]


class FilterPatternError(ValueError):
    """The filter pattern is not valid CloudWatch Logs syntax."""


Matcher = Callable[[str], bool]


@dataclass(frozen=True)
class FilterPattern:
    """A compiled filter pattern; call it (or `.matches`) with a log message."""

    source: str
    kind: Literal["all", "terms", "json", "delimited"]
    _match: Matcher

    def matches(self, message: str) -> bool:
        return self._match(message)

    def __call__(self, message: str) -> bool:
        return self._match(message)


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> FilterPattern:
    """Parse `pattern`; raise `FilterPatternError` if it is not valid filter pattern syntax."""
    text = pattern.strip()
    if not text:
        return FilterPattern(pattern, "all", _always)
    if text[0] == "{":
        if text[-1] != "}":
            raise FilterPatternError("JSON pattern must end with '}'")
        return FilterPattern(pattern, "json", _compile_json(text[1:-1]))
    if text[0] == "[":
        if text[-1] != "]":
            raise FilterPatternError("space-delimited pattern must end with ']'")
        return FilterPattern(pattern, "delimited", _compile_delimited(text[1:-1]))
    return FilterPattern(pattern, "terms", _compile_terms(text))


def matches(pattern: str, message: str) -> bool:
    """Whether `message` matches `pattern` (compiling and caching the pattern)."""
    return compile_pattern(pattern).matches(message)


def _always(_: str) -> bool:
    return True


# --------------------------------------------------------------------------------------------
# scalar pieces shared by all kinds: quoted strings, regexes, wildcards, numbers
# --------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# what the user guide allows inside %...%: alphanumerics, a few symbols, the listed operators
_REGEX_OK = re.compile(r"[A-Za-z0-9_#=@/;,:\- ^$?\[\]{}|\\*+.\t]*")


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """Read a double-quoted string starting at text[i] == '"'; return (content, index after it)."""
    out: list[str] = []
    j = i + 1
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\\" and j + 1 < n and text[j + 1] in '"\\':
            out.append(text[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise FilterPatternError("unterminated quoted string")


def _read_regex(text: str, i: int) -> tuple[re.Pattern[str], int]:
    """Read %regex% starting at text[i] == '%'; return (compiled, index after the closing %)."""
    j = i + 1
    n = len(text)
    while j < n:
        if text[j] == "\\" and j + 1 < n:
            j += 2
            continue
        if text[j] == "%":
            return _compile_regex(text[i + 1 : j]), j + 1
        j += 1
    raise FilterPatternError("unterminated regular expression")


def _compile_regex(body: str) -> re.Pattern[str]:
    if not body or not _REGEX_OK.fullmatch(body):
        raise FilterPatternError("unsupported character in regular expression")
    try:
        return re.compile(body)
    except re.error as exc:
        raise FilterPatternError(f"invalid regular expression: {exc}") from None


def _glob(pattern: str) -> Matcher:
    """String match where a '*' at the start and/or end matches any text (a middle '*' is literal)."""
    if pattern.strip("*") == "" and pattern:
        return _always
    lead = pattern.startswith("*")
    trail = pattern.endswith("*")
    core = pattern[1 if lead else 0 : len(pattern) - 1 if trail else len(pattern)]
    if lead and trail:
        return lambda s: core in s
    if lead:
        return lambda s: s.endswith(core)
    if trail:
        return lambda s: s.startswith(core)
    return lambda s: s == core


def _to_number(value: str) -> float | None:
    if _NUMBER.fullmatch(value.strip()):
        f = float(value)
        return f if math.isfinite(f) else None
    return None


# --------------------------------------------------------------------------------------------
# unstructured term patterns
# --------------------------------------------------------------------------------------------


def _compile_terms(text: str) -> Matcher:
    required: list[Matcher] = []
    optional: list[Matcher] = []
    excluded: list[Matcher] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        bucket = required
        if c in "?-":
            bucket = optional if c == "?" else excluded
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise FilterPatternError(f"'{c}' must be followed by a term")
        term, i = _read_term(text, i)
        bucket.append(term)

    def match(message: str) -> bool:
        for t in required:
            if not t(message):
                return False
        if optional and not any(t(message) for t in optional):
            return False
        return not any(t(message) for t in excluded)

    if len(required) == 1 and not optional and not excluded:
        return required[0]
    return match


def _read_term(text: str, i: int) -> tuple[Matcher, int]:
    c = text[i]
    if c == '"':
        phrase, j = _read_quoted(text, i)
        if j < len(text) and not text[j].isspace():
            raise FilterPatternError("a quoted term must be followed by a space")
        if not phrase:
            return _always, j
        return (lambda m: phrase in m), j
    if c == "%":
        rx, j = _read_regex(text, i)
        if j < len(text) and not text[j].isspace():
            raise FilterPatternError("a regular expression must be followed by a space")
        return (lambda m: rx.search(m) is not None), j
    j = i
    n = len(text)
    while j < n and not text[j].isspace():
        if text[j] == '"':
            raise FilterPatternError("unexpected '\"' inside a term")
        j += 1
    word = text[i:j]
    return (lambda m: word in m), j


# --------------------------------------------------------------------------------------------
# expression language shared by JSON and space-delimited patterns
# --------------------------------------------------------------------------------------------

_OPS: Final = ("!=", "<=", ">=", "=", "<", ">")
_MISSING: Final = object()

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class _Value:
    """The right-hand side of a comparison."""

    kind: Literal["string", "number", "regex", "any"]
    text: str = ""
    number: float = 0.0
    regex: re.Pattern[str] | None = None
    glob: Matcher = _always


@dataclass(frozen=True)
class _Cmp:
    ref: Path | str  # JSON path or a space-delimited field name
    op: str
    value: _Value


@dataclass(frozen=True)
class _Check:
    ref: Path
    what: Literal["null", "true", "false", "exists", "not_exists"]


@dataclass(frozen=True)
class _BoolOp:
    op: Literal["and", "or"]
    parts: tuple[_Expr, ...]


_Expr = _Cmp | _Check | _BoolOp

_Tok = tuple[str, Any]  # (kind, payload)


def _tokenize(text: str, *, json_mode: bool) -> list[_Tok]:
    """Split an expression into tokens: ( ) && || op sel str regex word."""
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "()":
            toks.append((c, c))
            i += 1
            continue
        two = text[i : i + 2]
        if two in ("&&", "||"):
            toks.append((two, two))
            i += 2
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            toks.append(("op", op))
            i += len(op)
            continue
        if c == '"':
            s, i = _read_quoted(text, i)
            toks.append(("str", s))
            continue
        if c == "%":
            rx, i = _read_regex(text, i)
            toks.append(("regex", rx))
            continue
        if json_mode and c == "$":
            path, i = _read_selector(text, i)
            toks.append(("sel", path))
            continue
        j = i
        while (
            j < n
            and not text[j].isspace()
            and text[j] not in '()=!<>"'
            and text[j : j + 2] not in ("&&", "||")
        ):
            j += 1
        if j == i:
            raise FilterPatternError(f"unexpected character {c!r}")
        toks.append(("word", text[i:j]))
        i = j
    return toks


_SEL_NAME = re.compile(r"[A-Za-z0-9_\-@:]+")


def _read_selector(text: str, i: int) -> tuple[Path, int]:
    """Read `$.a.b[0][1].c` starting at '$'."""
    j = i + 1
    parts: list[str | int] = []
    n = len(text)
    while j < n:
        c = text[j]
        if c == ".":
            m = _SEL_NAME.match(text, j + 1)
            if not m:
                raise FilterPatternError("invalid JSON selector")
            parts.append(m.group())
            j = m.end()
        elif c == "[":
            k = text.find("]", j)
            idx = text[j + 1 : k] if k > 0 else ""
            if not idx.isdigit():
                raise FilterPatternError("invalid array index in JSON selector")
            parts.append(int(idx))
            j = k + 1
        else:
            break
    if not parts:
        raise FilterPatternError("a JSON selector needs a property after '$'")
    return tuple(parts), j


class _Parser:
    """Recursive descent over tokens: or := and ('||' and)*; and := atom ('&&' atom)*."""

    def __init__(self, toks: list[_Tok], *, json_mode: bool) -> None:
        self.toks = toks
        self.pos = 0
        self.json_mode = json_mode

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise FilterPatternError("unexpected end of pattern")
        self.pos += 1
        return tok

    def parse(self) -> _Expr:
        expr = self.parse_or()
        if self.peek() is not None:
            raise FilterPatternError(f"unexpected {self.peek()!r}")
        return expr

    def parse_or(self) -> _Expr:
        parts = [self.parse_and()]
        while (t := self.peek()) is not None and t[0] == "||":
            self.pos += 1
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else _BoolOp("or", tuple(parts))

    def parse_and(self) -> _Expr:
        parts = [self.parse_atom()]
        while (t := self.peek()) is not None and t[0] == "&&":
            self.pos += 1
            parts.append(self.parse_atom())
        return parts[0] if len(parts) == 1 else _BoolOp("and", tuple(parts))

    def parse_atom(self) -> _Expr:
        kind, payload = self.take()
        if kind == "(":
            inner = self.parse_or()
            if self.take()[0] != ")":
                raise FilterPatternError("missing ')'")
            return inner
        if self.json_mode:
            if kind != "sel":
                raise FilterPatternError("a JSON condition must start with a $ selector")
            ref: Path | str = payload
        else:
            if kind != "word" or not _FIELD_NAME.fullmatch(payload):
                raise FilterPatternError("a condition must start with a field name")
            ref = payload
        nxt = self.take()
        if nxt[0] == "op":
            return _Cmp(ref, nxt[1], self.parse_value(nxt[1]))
        if self.json_mode and nxt[0] == "word":
            assert isinstance(ref, tuple)
            return self.parse_keyword(ref, nxt[1].upper())
        raise FilterPatternError("expected a comparison operator")

    def parse_keyword(self, ref: Path, word: str) -> _Expr:
        if word == "EXISTS":
            return _Check(ref, "exists")
        if word == "NOT":
            if self.take()[1].upper() == "EXISTS":
                return _Check(ref, "not_exists")
            raise FilterPatternError("expected EXISTS after NOT")
        if word == "IS":
            what = str(self.take()[1]).upper()
            if what == "NULL":
                return _Check(ref, "null")
            if what == "TRUE":
                return _Check(ref, "true")
            if what == "FALSE":
                return _Check(ref, "false")
        raise FilterPatternError(f"unexpected {word!r}")

    def parse_value(self, op: str) -> _Value:
        kind, payload = self.take()
        ordering = op not in ("=", "!=")
        if kind == "str":
            if ordering:
                raise FilterPatternError(f"{op} needs a number")
            return _Value("string", text=payload, glob=_glob(payload))
        if kind == "regex":
            if ordering:
                raise FilterPatternError(f"{op} needs a number")
            return _Value("regex", regex=payload)
        if kind == "word":
            num = _to_number(payload)
            if num is not None:
                return _Value("number", text=payload, number=num)
            if ordering:
                raise FilterPatternError(f"{op} needs a number")
            if payload.strip("*") == "":
                return _Value("any", text=payload)
            return _Value("string", text=payload, glob=_glob(payload))
        raise FilterPatternError("expected a value")


_FIELD_NAME = re.compile(r"[A-Za-z0-9_$.\-]+")


def _compare(op: str, value: _Value, text: str | None, number: float | None) -> bool:
    """Compare one scalar (its string form `text`, numeric form `number`) with a pattern value."""
    if text is None:
        return False
    if value.kind == "number":
        if number is None:
            if op == "=":
                return text == value.text
            return op == "!="
        a, b = number, value.number
        if op == "=":
            return a == b
        if op == "!=":
            return a != b
        if op == "<":
            return a < b
        if op == ">":
            return a > b
        if op == "<=":
            return a <= b
        return a >= b
    if value.kind == "any":
        hit = True
    elif value.kind == "regex":
        assert value.regex is not None
        hit = value.regex.search(text) is not None
    else:
        hit = value.glob(text)
    return hit if op == "=" else not hit


def _evaluate(expr: _Expr, resolve: Callable[[Path | str], Any]) -> bool:
    if isinstance(expr, _BoolOp):
        if expr.op == "and":
            return all(_evaluate(p, resolve) for p in expr.parts)
        return any(_evaluate(p, resolve) for p in expr.parts)
    node = resolve(expr.ref)
    if isinstance(expr, _Check):
        if expr.what == "not_exists":
            return node is _MISSING
        if expr.what == "exists":
            return node is not _MISSING
        if expr.what == "null":
            return node is None
        return node is (expr.what == "true")
    text, number = _scalar(node)
    return _compare(expr.op, expr.value, text, number)


def _scalar(node: Any) -> tuple[str | None, float | None]:
    """String and numeric forms of a JSON value node; (None, None) for anything else."""
    if isinstance(node, str):
        return node, _to_number(node)
    if isinstance(node, bool):
        return ("true" if node else "false"), None
    if isinstance(node, int | float):
        return json.dumps(node), float(node)
    return None, None


# --------------------------------------------------------------------------------------------
# JSON patterns
# --------------------------------------------------------------------------------------------


def _compile_json(body: str) -> Matcher:
    toks = _tokenize(body, json_mode=True)
    if not toks:
        raise FilterPatternError("empty JSON pattern")
    expr = _Parser(toks, json_mode=True).parse()

    def match(message: str) -> bool:
        stripped = message.lstrip()
        if not stripped or stripped[0] not in "{[":
            return False
        try:
            doc = json.loads(message)
        except ValueError:
            return False

        def resolve(ref: Path | str) -> Any:
            assert isinstance(ref, tuple)
            cur: Any = doc
            for part in ref:
                if isinstance(part, str):
                    if not isinstance(cur, dict) or part not in cur:
                        return _MISSING
                    cur = cur[part]
                else:
                    if not isinstance(cur, list) or part >= len(cur):
                        return _MISSING
                    cur = cur[part]
            return cur

        return _evaluate(expr, resolve)

    return match


# --------------------------------------------------------------------------------------------
# space-delimited patterns
# --------------------------------------------------------------------------------------------

_ELLIPSIS: Final = "..."


@dataclass(frozen=True)
class _Slot:
    name: str | None  # None for an anonymous field (an empty piece) and for the ellipsis
    expr: _Expr | None
    ellipsis: bool = False


def _split_top_level(body: str) -> list[str]:
    """Split on commas that are not inside quotes or %regex%."""
    parts: list[str] = []
    buf: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == '"':
            _, j = _read_quoted(body, i)
            buf.append(body[i:j])
            i = j
        elif c == "%":
            _, j = _read_regex(body, i)
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


def _compile_delimited(body: str) -> Matcher:
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
        toks = _tokenize(piece, json_mode=False)
        if len(toks) == 1:
            if toks[0][0] != "word" or not _FIELD_NAME.fullmatch(toks[0][1]):
                raise FilterPatternError(f"invalid field {piece!r}")
            slots.append(_Slot(toks[0][1], None))
            continue
        expr = _Parser(toks, json_mode=False).parse()
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


def _first_name(expr: _Expr) -> str:
    while isinstance(expr, _BoolOp):
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

        if not _evaluate(slot.expr, resolve):
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
