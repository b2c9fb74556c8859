"""Percentiles of a metric's values, kept small: a sparse histogram of logarithmic buckets, each
1 % of its value wide (a percentile read from it is within 1 % of the exact one, and clamped to the
exact Minimum and Maximum), merged by adding counts. Its size is bounded by the range of the
values, not their number (milliseconds from 0.01 to 15 minutes take at most ~930 buckets).

As CloudWatch has it, percentiles need the values themselves: none for a statistic set (unless its
SampleCount is 1 or its Minimum equals its Maximum) nor once any value was negative.
"""

from __future__ import annotations

import json
import math
import re

#: bucket i holds values in (GAMMA**(i-1), GAMMA**i]; its midpoint is within 1 % of them all
GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
#: the bucket of 0 (no logarithm)
ZERO = -(2**31)

#: a histogram: bucket -> how many values fell in it
Buckets = dict[int, float]

_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100(\.0{1,10})?)$")


def bucket(value: float) -> int:
    """The bucket of a non-negative value."""
    return ZERO if value <= 0 else math.ceil(math.log(value) / _LOG_GAMMA)


def of(value: float, count: float = 1.0) -> Buckets | None:
    """The histogram of `count` times one value (None for a negative value: no percentiles)."""
    return None if value < 0 else {bucket(value): count}


def merged(a: Buckets | None, b: Buckets | None) -> Buckets | None:
    """Both histograms' values (None when either has none to give)."""
    if a is None or b is None:
        return None
    out = dict(a)
    for i, n in b.items():
        out[i] = out.get(i, 0.0) + n
    return out


def percentile_of(name: str) -> float | None:
    """The percentile a statistic names (`p99`, `p99.9`, `p100`), None for any other name."""
    return float(name[1:]) if _PERCENTILE.match(name) else None


def value_at(buckets: Buckets, percent: float, minimum: float, maximum: float) -> float:
    """The value at `percent` (0 to 100) of the histogram's values, nearest rank."""
    total = sum(buckets.values())
    if percent <= 0:
        return minimum
    if percent >= 100 or total <= 0:
        return maximum
    rank = percent / 100.0 * total
    seen = 0.0
    for i in sorted(buckets):
        seen += buckets[i]
        if seen >= rank - 1e-9:
            mid = 0.0 if i == ZERO else 2 * GAMMA**i / (GAMMA + 1)
            return min(max(mid, minimum), maximum)
    return maximum


def to_text(buckets: Buckets | None) -> str | None:
    """The histogram as stored (JSON), None kept as None."""
    if buckets is None:
        return None
    return json.dumps({str(i): n for i, n in sorted(buckets.items())}, separators=(",", ":"))


def from_text(text: str | None) -> Buckets | None:
    if text is None:
        return None
    return {int(i): float(n) for i, n in json.loads(text).items()}
