"""JSON filter patterns: ``{ $.a.b[0] = "x*" && ($.n > 5 || $.f IS TRUE) }`` over JSON messages.

Selectors walk objects by property and arrays by index; a message that is not a JSON object or
array never matches. The condition language itself lives in `filter_expr`.
"""

from __future__ import annotations

import json
from typing import Any

from lambdabox.logs.filter_expr import MISSING, FilterPatternError, Matcher, Parser, Path, evaluate, tokenize


def compile_json(body: str) -> Matcher:
    """The matcher for a JSON pattern; `body` is the text between its braces."""
    toks = tokenize(body, json_mode=True)
    if not toks:
        raise FilterPatternError("empty JSON pattern")
    expr = Parser(toks, json_mode=True).parse()

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
                        return MISSING
                    cur = cur[part]
                else:
                    if not isinstance(cur, list) or part >= len(cur):
                        return MISSING
                    cur = cur[part]
            return cur

        return evaluate(expr, resolve)

    return match
