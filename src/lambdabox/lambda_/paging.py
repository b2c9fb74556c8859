"""Paging of Lambda's List operations: Marker and MaxItems in, a page and NextMarker out."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from lambdabox.aws.errors import client_error
from lambdabox.lambda_.base import Params, Result


def page(
    member: str,
    items: list[Any],
    params: Params,
    key: Callable[[Any], str],
    render: Callable[[Any], Result],
    most: int | None = None,
) -> Result:
    """A List operation's answer: one page of `items` (sorted by `key(item)`) after the Marker,
    MaxItems long (50 by default, never more than `most`), each `render`ed, under `member`, and
    the NextMarker unless it is the last page."""
    limit = int(params["MaxItems"]) if params.get("MaxItems") is not None else 50
    if most is not None:
        limit = min(limit, most)
    marker = params.get("Marker")
    if marker:
        try:
            after = base64.b64decode(marker.encode(), altchars=b"-_", validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise client_error("InvalidParameterValueException", "Invalid marker") from exc
        items = [i for i in items if key(i) > after]
    chosen = items[:limit]
    out: Result = {member: [render(i) for i in chosen]}
    if len(items) > limit:
        out["NextMarker"] = base64.urlsafe_b64encode(key(chosen[-1]).encode()).decode()
    return out
