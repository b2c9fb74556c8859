"""Percentiles of a metric's aggregates (metrics/percentiles.py, models.Aggregate): exact for few
distinct values, within 1 % of the nearest-rank value for many, however the values were split
into aggregates and merged, and through the stored text."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from lambdabox.metrics import percentiles
from lambdabox.metrics.models import Aggregate


def nearest_rank(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def aggregate(values: list[float], parts: int) -> Aggregate:
    """The values recorded one by one into `parts` aggregates, then merged."""
    pieces = [Aggregate.empty() for _ in range(parts)]
    for n, v in enumerate(values):
        pieces[n % parts].add(Aggregate.of(v))
    out = Aggregate.empty()
    for piece in pieces:
        stored = Aggregate(
            piece.count, piece.total, piece.minimum, piece.maximum, "None",
            percentiles.from_text(percentiles.to_text(piece.values())),
        )  # fmt: skip
        out.add(stored)
    return out


values = st.lists(st.floats(min_value=0.001, max_value=1e6), min_size=1, max_size=400)


@settings(max_examples=60, deadline=None)
@given(values, st.integers(1, 4), st.sampled_from([1.0, 50.0, 90.0, 99.0, 99.9, 100.0]))
def test_a_percentile_is_within_one_percent_of_the_nearest_rank(
    vals: list[float], parts: int, percent: float
) -> None:
    got = aggregate(vals, parts).percentile(percent)
    exact = nearest_rank(vals, percent)
    assert got is not None
    if len(set(vals)) <= percentiles.EXACT_MAX:
        assert got == exact
    else:
        assert abs(got - exact) <= exact * 0.0101


def test_few_values_are_exact_and_unknown_values_have_none() -> None:
    agg = aggregate([float(v) for v in range(1, 11)], 3)
    assert (agg.statistic("p50"), agg.statistic("p90"), agg.statistic("p100")) == (5.0, 9.0, 10.0)
    repeated = Aggregate.of(1.0)
    for _ in range(1000):
        repeated.add(Aggregate.of(1.0))
    assert repeated.buckets is percentiles.SAME and repeated.statistic("p99") == 1.0
    negative = Aggregate.of(2.0)
    negative.add(Aggregate.of(-1.0))
    assert negative.statistic("p50") is None
    statistic_set = Aggregate(2, 3, 1, 2)
    assert statistic_set.statistic("p50") is None
    assert [percentiles.percentile_of(n) for n in ("p0.0", "p99.99", "p100", "p101", "tm99", "p")] == [
        0.0, 99.99, 100.0, None, None, None,
    ]  # fmt: skip
