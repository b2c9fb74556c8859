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

`compile_pattern` raises `FilterPatternError` for a pattern AWS would refuse. This module is the
public entry and parses unstructured terms itself; JSON patterns are in `filter_json`,
space-delimited ones in `filter_space`, the parts they share in `filter_expr`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from lambdabox.logs.filter_expr import FilterPatternError, Matcher, always, read_quoted, read_regex
from lambdabox.logs.filter_json import compile_json
from lambdabox.logs.filter_space import compile_delimited, split_fields

__all__ = ["FilterPattern", "FilterPatternError", "compile_pattern", "matches", "split_fields"]


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
        return FilterPattern(pattern, "all", always)
    if text[0] == "{":
        if text[-1] != "}":
            raise FilterPatternError("JSON pattern must end with '}'")
        return FilterPattern(pattern, "json", compile_json(text[1:-1]))
    if text[0] == "[":
        if text[-1] != "]":
            raise FilterPatternError("space-delimited pattern must end with ']'")
        return FilterPattern(pattern, "delimited", compile_delimited(text[1:-1]))
    return FilterPattern(pattern, "terms", _compile_terms(text))


def matches(pattern: str, message: str) -> bool:
    """Whether `message` matches `pattern` (compiling and caching the pattern)."""
    return compile_pattern(pattern).matches(message)


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
        phrase, j = read_quoted(text, i)
        if j < len(text) and not text[j].isspace():
            raise FilterPatternError("a quoted term must be followed by a space")
        if not phrase:
            return always, j
        return (lambda m: phrase in m), j
    if c == "%":
        rx, j = read_regex(text, i)
        if j < len(text) and not text[j].isspace():
            raise FilterPatternError("a regular expression must be followed by a space")
        return rx.search, j
    j = i
    n = len(text)
    while j < n and not text[j].isspace():
        if text[j] == '"':
            raise FilterPatternError("unexpected '\"' inside a term")
        j += 1
    word = text[i:j]
    return (lambda m: word in m), j
