"""IAM's Marker paging: one page of a sorted list after an opaque Marker, and the next Marker."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from lambdabox.aws.errors import client_error
from lambdabox.iam.base import Params, Result

T = TypeVar("T")

_DEFAULT_MAX_ITEMS = 100


def _encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode("ascii")


def page(items: Sequence[T], key: Callable[[T], str], params: Params) -> tuple[Sequence[T], Result]:
    """One page of `items` (sorted by `key`) after `Marker`: (page, {IsTruncated, Marker})."""
    max_items = params.get("MaxItems") or _DEFAULT_MAX_ITEMS
    start = 0
    marker = params.get("Marker")
    if marker is not None:
        try:
            after = base64.urlsafe_b64decode(marker.encode("ascii")).decode()
        except (binascii.Error, UnicodeError, ValueError):
            raise client_error("ValidationError", "Invalid Marker.", 400) from None
        start = next((i for i, item in enumerate(items) if key(item) > after), len(items))
    page = items[start : start + max_items]
    truncated = start + max_items < len(items)
    meta: Result = {"IsTruncated": truncated}
    if truncated:
        meta["Marker"] = _encode_marker(key(page[-1]))
    return page, meta


def positional(items: Sequence[T]) -> tuple[list[tuple[str, T]], Callable[[tuple[str, T]], str]]:
    """Items keyed by position, for lists with no natural unique order (tags, attachments)."""
    return [(f"{i:08d}", item) for i, item in enumerate(items)], lambda pair: pair[0]


def empty(member: str) -> Result:
    """The one page, empty, of a list whose items do not exist here (MFA devices, groups …)."""
    return {member: [], "IsTruncated": False}
