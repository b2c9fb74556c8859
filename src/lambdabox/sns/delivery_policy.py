"""HTTP/S delivery policies: when a failed delivery to an HTTP/S endpoint is tried again, and the
Content-Type it is POSTed with.

A subscription's DeliveryPolicy is `{"healthyRetryPolicy": {...}, "requestPolicy": {...}}`, a
topic's `{"http": {"defaultHealthyRetryPolicy": {...}, "defaultRequestPolicy": {...}}}`; without
one, AWS's default: 3 retries 20 s apart. A retry policy's phases, in order: `numNoDelayRetries`
at once, `numMinDelayRetries` `minDelayTarget` apart, the backoff phase (the retries left over)
from `minDelayTarget` to `maxDelayTarget` by `backoffFunction` (linear and arithmetic grow the
delay evenly, geometric and exponential by a constant factor), then `numMaxDelayRetries`
`maxDelayTarget` apart; `numRetries` in all.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_RETRY = {
    "minDelayTarget": 20,
    "maxDelayTarget": 20,
    "numRetries": 3,
    "numMaxDelayRetries": 0,
    "numNoDelayRetries": 0,
    "numMinDelayRetries": 0,
    "backoffFunction": "linear",
}
DEFAULT_CONTENT_TYPE = "text/plain; charset=UTF-8"
BACKOFF_FUNCTIONS = ("linear", "arithmetic", "geometric", "exponential")


def _decoded(policy: str | None) -> dict[str, Any]:
    if not policy:
        return {}
    try:
        decoded = json.loads(policy)
    except ValueError:
        return {}
    if not isinstance(decoded, dict):
        return {}
    http = decoded.get("http")
    if isinstance(http, dict):  # a topic's policy: its http part
        return {
            "healthyRetryPolicy": http.get("defaultHealthyRetryPolicy"),
            "requestPolicy": http.get("defaultRequestPolicy"),
        }
    return decoded


def retry_policy(policy: str | None) -> dict[str, Any]:
    """The retry policy a DeliveryPolicy (a subscription's or a topic's) sets, AWS's defaults filled in."""
    given = _decoded(policy).get("healthyRetryPolicy")
    out: dict[str, Any] = dict(DEFAULT_RETRY)
    if isinstance(given, dict):
        out.update({k: v for k, v in given.items() if k in DEFAULT_RETRY})
    return out


def _int(value: Any, default: int) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return default


def http_retry_delay(policy: str | None, failed: int) -> float | None:
    """Seconds before the next attempt after `failed` failed attempts (None: no retries left)."""
    p = retry_policy(policy)
    total = _int(p["numRetries"], 3)
    if failed > total:
        return None
    low = float(_int(p["minDelayTarget"], 20))
    high = max(low, float(_int(p["maxDelayTarget"], 20)))
    no_delay = _int(p["numNoDelayRetries"], 0)
    at_min = _int(p["numMinDelayRetries"], 0)
    at_max = _int(p["numMaxDelayRetries"], 0)
    backoff = max(0, total - no_delay - at_min - at_max)
    retry = failed  # the retry about to be made (1 is the first)
    if retry <= no_delay:
        return 0.0
    retry -= no_delay
    if retry <= at_min:
        return low
    retry -= at_min
    if retry <= backoff:
        share = retry / backoff
        if p.get("backoffFunction") in ("geometric", "exponential") and low > 0:
            return float(low * (high / low) ** share)
        return low + (high - low) * share
    return high


def request_content_type(policy: str | None) -> str:
    """The Content-Type HTTP/S deliveries are sent with (requestPolicy.headerContentType)."""
    request = _decoded(policy).get("requestPolicy")
    given = request.get("headerContentType") if isinstance(request, dict) else None
    if isinstance(given, str) and given and not any(c in given for c in "\r\n\0"):
        return given
    return DEFAULT_CONTENT_TYPE
