"""Percentiles of a metric's values, kept small: the values themselves (with their counts) while
there are at most `EXACT_MAX` distinct ones, past that a sparse histogram of logarithmic buckets,
each 2 % of its value wide (a percentile read from it is within 1 % of the exact one, and clamped
to the exact Minimum and Maximum), merged by adding counts. Its size is bounded by the range of
the values, not their number (milliseconds from 0.01 to 15 minutes take at most ~930 buckets).

As CloudWatch has it, percentiles need the values themselves: none for a statistic set (unless its
SampleCount is 1 or its Minimum equals its Maximum) nor once any value was negative.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

#: bucket i holds values in (GAMMA**(i-1), GAMMA**i]; its midpoint is within 1 % of them all
GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
#: the bucket of 0 (no logarithm)
ZERO = -(2**31)
#: distinct values kept as they are before they are bucketed
EXACT_MAX = 100
#: a percentile statistic's name: p0.0 to p100
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100(\.0{1,10})?)$")


@dataclass(frozen=True, slots=True)
class Buckets:
    """The values (`exact`: value -> count) or, once there were many, their histogram (`bucketed`:
    bucket -> count). Never changed once made."""

    exact: dict[float, float] | None = field(default_factory=dict)
    bucketed: dict[int, float] = field(default_factory=dict)

    def histogram(self) -> dict[int, float]:
        if self.exact is None:
            return self.bucketed
        out: dict[int, float] = {}
        for v, n in self.exact.items():
            out[bucket(v)] = out.get(bucket(v), 0.0) + n
        return out


EMPTY = Buckets()


def bucket(value: float) -> int:
    """The bucket of a non-negative value."""
    return ZERO if value <= 0 else math.ceil(math.log(value) / _LOG_GAMMA)


def _mid(i: int) -> float:
    return 0.0 if i == ZERO else 2 * GAMMA**i / (GAMMA + 1)


def of(value: float, count: float = 1.0) -> Buckets | None:
    """`count` times one value (None for a negative value: no percentiles)."""
    return None if value < 0 else Buckets({float(value): count})


def _added(a: dict[float, float], b: dict[float, float]) -> dict[float, float]:
    out = dict(a)
    for k, n in b.items():
        out[k] = out.get(k, 0.0) + n
    return out


def merged(a: Buckets | None, b: Buckets | None) -> Buckets | None:
    """Both's values (None when either has none to give)."""
    if a is None or b is None:
        return None
    if a.exact is not None and b.exact is not None:
        exact = _added(a.exact, b.exact)
        if len(exact) <= EXACT_MAX:
            return Buckets(exact)
        return Buckets(None, Buckets(exact).histogram())
    hist = a.histogram()
    out = dict(hist)
    for i, n in b.histogram().items():
        out[i] = out.get(i, 0.0) + n
    return Buckets(None, out)


def percentile_of(name: str) -> float | None:
    """The percentile a statistic names (`p99`, `p99.9`, `p100`), None for any other name."""
    return float(name[1:]) if _PERCENTILE.match(name) else None


def value_at(values: Buckets, percent: float, minimum: float, maximum: float) -> float:
    """The value at `percent` (0 to 100) of the values: the smallest with at least `percent` %
    of them at or below it (nearest rank)."""
    counts: dict[float, float] = (
        values.exact if values.exact is not None else {_mid(i): n for i, n in values.bucketed.items()}
    )
    total = sum(counts.values())
    if percent <= 0:
        return minimum
    if percent >= 100 or total <= 0:
        return maximum
    rank = percent / 100.0 * total
    seen = 0.0
    for v in sorted(counts):
        seen += counts[v]
        if seen >= rank * (1 - 1e-12):
            return min(max(v, minimum), maximum)
    return maximum


def to_text(values: Buckets | None) -> str | None:
    """As stored (JSON), None kept as None."""
    if values is None:
        return None
    if values.exact is not None:
        return json.dumps({"v": [[v, n] for v, n in sorted(values.exact.items())]}, separators=(",", ":"))
    return json.dumps({"b": [[i, n] for i, n in sorted(values.bucketed.items())]}, separators=(",", ":"))


def from_text(text: str | None) -> Buckets | None:
    if text is None:
        return None
    data = json.loads(text)
    if "v" in data:
        return Buckets({float(v): float(n) for v, n in data["v"]})
    return Buckets(None, {int(i): float(n) for i, n in data["b"]})
