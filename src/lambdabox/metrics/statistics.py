"""Statistics over stored minutes: the aggregates of one metric's exact dimension set gathered into
periods, as GetMetricStatistics and GetMetricData answer them."""

from __future__ import annotations

from collections.abc import Iterable

from lambdabox.metrics.models import MINUTE, Aggregate, Dimensions
from lambdabox.metrics.store import Point

#: the statistics kept (percentiles would need the values themselves)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
#: periods below a minute AWS accepts (high-resolution metrics)
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)


def valid_period(period: int) -> bool:
    """A period AWS accepts: 1, 5, 10, 30 or a multiple of 60 seconds."""
    return period in HIGH_RESOLUTION_PERIODS or (period >= MINUTE and period % MINUTE == 0)


def aligned_start(start: float, period: int) -> int:
    """Where the first period begins: the start rounded down to the minute (or the period)."""
    step = min(period, MINUTE)
    return int(start // step * step)


def periods(
    points: Iterable[Point], dims: Dimensions, start: float, end: float, period: int, unit: str | None = None
) -> dict[int, Aggregate]:
    """Period start -> the aggregate of the points of exactly `dims` (and `unit`, if given) in it."""
    first = aligned_start(start, period)
    out: dict[int, Aggregate] = {}
    for key, minute, agg in points:
        if key.dims != dims or minute < first or minute >= end:
            continue
        if unit is not None and agg.unit != unit:
            continue
        bucket = first + (minute - first) // period * period
        slot = out.get(bucket)
        if slot is None:
            out[bucket] = agg.copy()
        else:
            slot.add(agg)
    return out


def datapoint_count(start: float, end: float, period: int) -> int:
    """How many periods [start, end) spans."""
    first = aligned_start(start, period)
    return max(0, -(-(int(end) - first) // period))
