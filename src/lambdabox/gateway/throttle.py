"""Throttling of HTTP API routes: token buckets per stage and route, on the one clock.

A stage's `DefaultRouteSettings` and per-route `RouteSettings` carry `ThrottlingBurstLimit` (the
bucket's size) and `ThrottlingRateLimit` (tokens added per second); a route's own settings win
over the stage's default, and with neither set the route is not throttled here. A request that
finds the bucket empty gets API Gateway's 429 `{"message":"Too Many Requests"}`
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdabox.clock import Clock


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    at: float


def limits(default: Mapping[str, Any], route: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """(rate per second, burst) for a route, its own settings over the stage's; None: unthrottled."""
    merged = {
        **{k: v for k, v in default.items() if v is not None},
        **{k: v for k, v in (route or {}).items() if v is not None},
    }
    rate, burst = merged.get("ThrottlingRateLimit"), merged.get("ThrottlingBurstLimit")
    if rate is None and burst is None:
        return None
    return float(rate if rate is not None else 10_000.0), float(burst if burst is not None else 5_000)


class Throttle:
    """Token buckets, one per (API, stage, route key) and limits."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}

    def admit(self, key: tuple[str, str, str], rate: float, burst: float) -> bool:
        """Take a token for one request; False when there is none (the request gets 429)."""
        now = self._clock.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate or bucket.burst != burst:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(rate, burst, burst, now)
        bucket.tokens = min(bucket.burst, bucket.tokens + (now - bucket.at) * bucket.rate)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True
