"""The building blocks every filter pattern kind is made of, and the condition language.

Lexical pieces: quoted strings, ``%regex%`` (with the characters the user guide allows, run by
RE2 so that matching takes time linear in the message whatever the pattern: see `Regex`), ``*``
wildcards at either end of a string, numbers. The condition language JSON and space-delimited
patterns share: comparisons ``= != < > <= >=`` against strings, numbers and regexes, ``IS NULL``,
``IS TRUE``, ``IS FALSE``, ``EXISTS``, ``NOT EXISTS``, joined with ``&&``, ``||`` and parentheses;
`tokenize` and `Parser` turn text into an `Expr`, and `evaluate` tests one against a resolver that
looks up a JSON path or a field name in the message at hand.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

__all__ = [
    "FIELD_NAME",
    "MISSING",
    "BoolOp",
    "Expr",
    "FilterPatternError",
    "Matcher",
    "Parser",
    "Path",
    "Regex",
    "always",
    "evaluate",
    "read_quoted",
    "read_regex",
    "tokenize",
]


class FilterPatternError(ValueError):
    """The filter pattern is not valid CloudWatch Logs syntax."""


Matcher = Callable[[str], bool]


def always(_: str) -> bool:
    """The matcher that accepts every message."""
    return True


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# what the user guide allows inside %...%: alphanumerics, a few symbols, the listed operators
_REGEX_OK = re.compile(r"[A-Za-z0-9_#=@/;,:\- ^$?\[\]{}|\\*+.\t]*")


def read_quoted(text: str, i: int) -> tuple[str, int]:
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


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the client's mistake, not a server log line
_RE2_OPTIONS.never_capture = True  # only "does it match" is ever asked


class Regex:
    """A ``%regex%`` of a filter pattern, compiled by RE2.

    The pattern is the client's, so it must not be able to stall the server: Python's `re`
    backtracks (``%a*a*a*b%`` over a few thousand characters takes hours, holding the GIL), RE2
    matches in time linear in the message. RE2 reads the user guide's subset (no parentheses, so
    no groups or back-references) as Perl does, with ASCII ``\\d``, ``\\w``, ``\\s``, ``\\b``;
    ``$`` is the end of the message only. What the subset's characters can spell but RE2 cannot
    run (``\\Z``, ``\\G``, a repetition above 1000, ``\\u0041``) is refused like any other
    invalid pattern.
    """

    __slots__ = ("_rx", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._rx = re2.compile(source.encode("ascii"), _RE2_OPTIONS)
        except re2.error as exc:
            detail = exc.args[0] if exc.args else "invalid"
            detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
            raise FilterPatternError(f"invalid regular expression: {detail}") from None

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in `text`."""
        # surrogatepass: a lone surrogate (inside a JSON message's escapes) is bytes RE2 skips over
        return self._rx.search(text.encode("utf-8", "surrogatepass")) is not None

    def __repr__(self) -> str:
        return f"Regex({self.source!r})"


def read_regex(text: str, i: int) -> tuple[Regex, int]:
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


def _compile_regex(body: str) -> Regex:
    if not body or not _REGEX_OK.fullmatch(body):
        raise FilterPatternError("unsupported character in regular expression")
    return Regex(body)


def _glob(pattern: str) -> Matcher:
    """String match where a '*' at the start and/or end matches any text (a middle '*' is literal)."""
    if pattern.strip("*") == "" and pattern:
        return always
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
# the condition language of JSON and space-delimited patterns
# --------------------------------------------------------------------------------------------

_OPS: Final = ("!=", "<=", ">=", "=", "<", ">")
MISSING: Final = object()

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class _Value:
    """The right-hand side of a comparison."""

    kind: Literal["string", "number", "regex", "any"]
    text: str = ""
    number: float = 0.0
    regex: Regex | None = None
    glob: Matcher = always


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
class BoolOp:
    op: Literal["and", "or"]
    parts: tuple[Expr, ...]


Expr = _Cmp | _Check | BoolOp

_Tok = tuple[str, Any]  # (kind, payload)


def tokenize(text: str, *, json_mode: bool) -> list[_Tok]:
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
            s, i = read_quoted(text, i)
            toks.append(("str", s))
            continue
        if c == "%":
            rx, i = read_regex(text, i)
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


class Parser:
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

    def parse(self) -> Expr:
        expr = self.parse_or()
        if self.peek() is not None:
            raise FilterPatternError(f"unexpected {self.peek()!r}")
        return expr

    def parse_or(self) -> Expr:
        parts = [self.parse_and()]
        while (t := self.peek()) is not None and t[0] == "||":
            self.pos += 1
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def parse_and(self) -> Expr:
        parts = [self.parse_atom()]
        while (t := self.peek()) is not None and t[0] == "&&":
            self.pos += 1
            parts.append(self.parse_atom())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def parse_atom(self) -> Expr:
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
            if kind != "word" or not FIELD_NAME.fullmatch(payload):
                raise FilterPatternError("a condition must start with a field name")
            ref = payload
        nxt = self.take()
        if nxt[0] == "op":
            return _Cmp(ref, nxt[1], self.parse_value(nxt[1]))
        if self.json_mode and nxt[0] == "word":
            assert isinstance(ref, tuple)
            return self.parse_keyword(ref, nxt[1].upper())
        raise FilterPatternError("expected a comparison operator")

    def parse_keyword(self, ref: Path, word: str) -> Expr:
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


FIELD_NAME = re.compile(r"[A-Za-z0-9_$.\-]+")


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
        hit = value.regex.search(text)
    else:
        hit = value.glob(text)
    return hit if op == "=" else not hit


def evaluate(expr: Expr, resolve: Callable[[Path | str], Any]) -> bool:
    if isinstance(expr, BoolOp):
        if expr.op == "and":
            return all(evaluate(p, resolve) for p in expr.parts)
        return any(evaluate(p, resolve) for p in expr.parts)
    node = resolve(expr.ref)
    if isinstance(expr, _Check):
        if expr.what == "not_exists":
            return node is MISSING
        if expr.what == "exists":
            return node is not MISSING
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
