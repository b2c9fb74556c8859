"""API Gateway's patch operations (RFC 6902's shape, as the v1 API uses them): reading a patch
path's segments, where `~1` stands for `/` and `~0` for `~` (`/binaryMediaTypes/image~1png`), and
AWS's answer to an operation it does not support
(https://docs.aws.amazon.com/apigateway/latest/api/patch-operations.html).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lambdabox.aws.errors import ServiceError, client_error


@dataclass(frozen=True)
class Patch:
    op: str
    path: str
    segments: tuple[str, ...]
    value: str | None


def unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def operations(given: Iterable[dict[str, Any]] | None) -> list[Patch]:
    """The patch operations of a request, their paths split into unescaped segments."""
    out = []
    for raw in given or ():
        path = str(raw.get("path") or "")
        op = str(raw.get("op") or "")
        if not path.startswith("/"):
            raise invalid(op, path)
        segments = tuple(unescape(s) for s in path[1:].split("/"))
        out.append(Patch(op, path, segments, raw.get("value")))
    return out


def invalid(op: str, path: str) -> ServiceError:
    """AWS's BadRequestException for a patch path an operation does not support (wording as
    LocalStack's snapshots of AWS record it)."""
    return client_error("BadRequestException", f"Invalid patch path  '{path}' specified for op '{op}'", 400)


def as_bool(patch: Patch) -> bool:
    value = (patch.value or "").lower()
    if value not in ("true", "false"):
        raise client_error(
            "BadRequestException", f"Invalid value '{patch.value}' for boolean field '{patch.path}'", 400
        )
    return value == "true"


def as_number(patch: Patch) -> float:
    try:
        return float(patch.value or "")
    except ValueError as exc:
        raise client_error(
            "BadRequestException", f"Invalid value '{patch.value}' for number field '{patch.path}'", 400
        ) from exc
