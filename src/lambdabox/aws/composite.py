"""One AWS service's operations served by several objects (API Gateway v1: REST APIs and usage
plans), as the edge sees a single service object: an operation is the first part's that has it."""

from __future__ import annotations

from typing import Any


class Operations:
    """The operations of `parts`, looked up in order; only AWS operation names (CamelCase)."""

    def __init__(self, *parts: object) -> None:
        self._parts = parts

    def __getattr__(self, name: str) -> Any:
        if name[:1].isupper():
            for part in self._parts:
                found = getattr(part, name, None)
                if found is not None:
                    return found
        raise AttributeError(name)
