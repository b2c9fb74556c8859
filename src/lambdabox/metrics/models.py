"""What a metric is: its identity (namespace, name, dimensions) and one minute's aggregate."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from lambdabox.metrics import percentiles
from lambdabox.metrics.percentiles import SAME, Buckets

#: dimensions as (name, value) pairs sorted by name: one metric has one spelling
Dimensions = tuple[tuple[str, str], ...]

#: the resolution everything is stored at
MINUTE = 60


def dimensions(pairs: dict[str, str] | list[tuple[str, str]]) -> Dimensions:
    """`pairs` in the one canonical order."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return tuple(sorted((str(k), str(v)) for k, v in items))


def dims_text(dims: Dimensions) -> str:
    """The dimensions as stored (JSON of the sorted pairs)."""
    return json.dumps([list(d) for d in dims], separators=(",", ":"))


def dims_from_text(text: str) -> Dimensions:
    return tuple((str(k), str(v)) for k, v in json.loads(text))


@dataclass(frozen=True, slots=True)
class MetricKey:
    """One metric of one account in one region."""

    region: str
    account: str
    namespace: str
    name: str
    dims: Dimensions


@dataclass(slots=True)
class Aggregate:
    """SampleCount, Sum, Minimum and Maximum of the values of one metric in one minute, and their
    values for percentiles (`percentiles.py`; None when the values are not known: a statistic
    set, a negative value)."""

    count: float
    total: float
    minimum: float
    maximum: float
    unit: str = "None"
    buckets: Buckets | None = None

    @classmethod
    def of(cls, value: float, unit: str = "None", count: float = 1.0) -> Aggregate:
        """`count` times one value."""
        return cls(count, value * count, value, value, unit, None if value < 0 else SAME)

    @classmethod
    def empty(cls) -> Aggregate:
        """No values yet (adding to it gives the other's aggregate)."""
        return cls(0.0, 0.0, math.inf, -math.inf, "None", Buckets())

    def values(self) -> Buckets | None:
        """The values percentiles are read from (None when they are not known)."""
        return Buckets.one(self.minimum, self.count) if self.buckets is SAME else self.buckets

    def add(self, other: Aggregate) -> None:
        mine, theirs = self.buckets, other.buckets
        if mine is None or theirs is None:
            self.buckets = None  # some values unknown: no percentiles
        elif mine is SAME and theirs is SAME and other.minimum == self.minimum:
            pass  # still all one value
        else:
            if mine is SAME:
                mine = self.buckets = Buckets.one(self.minimum, self.count)
            if theirs is SAME:
                mine.add_value(other.minimum, other.count)
            else:
                mine.add(theirs)
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        if other.unit != "None":
            self.unit = other.unit

    def copy(self) -> Aggregate:
        buckets = self.buckets if self.buckets is None or self.buckets is SAME else self.buckets.copy()
        return Aggregate(self.count, self.total, self.minimum, self.maximum, self.unit, buckets)

    def percentile(self, percent: float) -> float | None:
        """The value at `percent` of this aggregate's values, None when they are not known."""
        values = self.values()
        if values is None or self.count <= 0:
            return None
        return percentiles.value_at(values, percent, self.minimum, self.maximum)

    def statistic(self, name: str) -> float | None:
        """One of CloudWatch's statistics: SampleCount, Average, Sum, Minimum, Maximum, or a
        percentile (`p99`; None when this aggregate has none)."""
        percent = percentiles.percentile_of(name)
        if percent is not None:
            return self.percentile(percent)
        if name == "SampleCount":
            return self.count
        if name == "Average":
            return self.total / self.count if self.count else 0.0
        if name == "Sum":
            return self.total
        if name == "Minimum":
            return self.minimum
        return self.maximum
