"""The per-request context handed to every service operation (who, where, which request)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """Facts about one AWS API request that operations may need, independent of HTTP."""

    request_id: str
    region: str
    account_id: str
    service: str
    operation: str
