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

#: bucket i holds values in (GAMMA**(i-1), GAMMA**i]; its midpoint is within 1 % of them all
GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)
_PER_LOG_GAMMA = 1 / _LOG_GAMMA
#: the bucket of 0 (no logarithm)
ZERO = -(2**31)
#: distinct values kept as they are before they are bucketed
EXACT_MAX = 100
#: a percentile statistic's name: p0.0 to p100
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100(\.0{1,10})?)$")


class Buckets:
    """The values (`exact`: value -> count) or, once there were many, their histogram
    (`bucketed`: bucket -> count); `add` merges another in place, in the other's size (one
    value added is a dict update: this is on every invocation's path)."""

    __slots__ = ("bucketed", "exact")

    def __init__(
        self, exact: dict[float, float] | None = None, bucketed: dict[int, float] | None = None
    ) -> None:
        self.exact: dict[float, float] | None = {} if exact is None and bucketed is None else exact
        self.bucketed: dict[int, float] = bucketed if bucketed is not None else {}

    @classmethod
    def one(cls, value: float, count: float) -> Buckets:
        """`count` times one value."""
        out = cls.__new__(cls)
        out.exact = {value: count}
        out.bucketed = _NONE  # never changed: replaced when these become a histogram
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Buckets) and (self.exact, self.bucketed) == (other.exact, other.bucketed)

    def __repr__(self) -> str:
        return f"Buckets(exact={self.exact!r}, bucketed={self.bucketed!r})"

    def histogram(self) -> dict[int, float]:
        if self.exact is None:
            return self.bucketed
        out: dict[int, float] = {}
        for v, n in self.exact.items():
            i = bucket(v)
            out[i] = out.get(i, 0.0) + n
        return out

    def add(self, other: Buckets) -> None:
        """Add the other's values to these."""
        exact, theirs = self.exact, other.exact
        if exact is not None and theirs is not None:
            for v, n in theirs.items():
                exact[v] = exact.get(v, 0.0) + n
            if len(exact) > EXACT_MAX:
                self.bucketed, self.exact = self.histogram(), None
            return
        if exact is not None:
            self.bucketed, self.exact = self.histogram(), None
        mine = self.bucketed
        if theirs is not None:
            for v, n in theirs.items():
                i = ZERO if v <= 0 else math.ceil(math.log(v) * _PER_LOG_GAMMA)
                mine[i] = mine.get(i, 0.0) + n
        else:
            for i, n in other.bucketed.items():
                mine[i] = mine.get(i, 0.0) + n

    def add_value(self, value: float, count: float) -> None:
        """Add `count` times one value."""
        exact = self.exact
        if exact is not None:
            exact[value] = exact.get(value, 0.0) + count
            if len(exact) > EXACT_MAX:
                self.bucketed, self.exact = self.histogram(), None
            return
        i = bucket(value)
        self.bucketed[i] = self.bucketed.get(i, 0.0) + count

    def copy(self) -> Buckets:
        return Buckets(None if self.exact is None else dict(self.exact), dict(self.bucketed))


_NONE: dict[int, float] = {}

#: the values of an aggregate whose values all equal its Minimum (`Aggregate.of`: one value, the
#: common case on every invocation's path), read from the aggregate when needed; never changed
SAME = Buckets(None, _NONE)


def bucket(value: float) -> int:
    """The bucket of a non-negative value."""
    return ZERO if value <= 0 else math.ceil(math.log(value) / _LOG_GAMMA)


def _mid(i: int) -> float:
    return 0.0 if i == ZERO else 2 * GAMMA**i / (GAMMA + 1)


def of(value: float, count: float = 1.0) -> Buckets | None:
    """`count` times one value (None for a negative value: no percentiles)."""
    return None if value < 0 else Buckets.one(value, count)


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
