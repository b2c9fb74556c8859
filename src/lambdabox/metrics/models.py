"""What a metric is: its identity (namespace, name, dimensions) and one minute's aggregate."""

from __future__ import annotations

import json
from dataclasses import dataclass

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
    """SampleCount, Sum, Minimum and Maximum of the values of one metric in one minute."""

    count: float
    total: float
    minimum: float
    maximum: float
    unit: str = "None"

    @classmethod
    def of(cls, value: float, unit: str = "None") -> Aggregate:
        return cls(1.0, value, value, value, unit)

    def add(self, other: Aggregate) -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        if other.unit != "None":
            self.unit = other.unit

    def copy(self) -> Aggregate:
        return Aggregate(self.count, self.total, self.minimum, self.maximum, self.unit)

    def statistic(self, name: str) -> float:
        """One of CloudWatch's statistics: SampleCount, Average, Sum, Minimum, Maximum."""
        if name == "SampleCount":
            return self.count
        if name == "Average":
            return self.total / self.count if self.count else 0.0
        if name == "Sum":
            return self.total
        if name == "Minimum":
            return self.minimum
        return self.maximum
