"""ISO 8601 durations of a fixed length as seconds (what `/_lambdabox/clock` advances by)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdabox.durations import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT2M", 120), ("PT1M", 60), ("PT0S", 0), ("PT0.5S", 0.5), ("PT0,25S", 0.25), ("PT1H30M", 5400),
        ("P1D", 86_400), ("P1DT12H", 129_600), ("P2W", 1_209_600), ("P1W1D", 691_200),
        ("PT36H", 129_600), ("PT1.5H", 5400), ("P1DT1H1M1.5S", 90_061.5), ("PT90M", 5400),
    ],
)  # fmt: skip
def test_fixed_length_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("P1Y", "years and months"), ("P1M", "years and months"), ("P1Y2M3D", "years and months"),
        ("P2M1D", "years and months"), ("P", "not an ISO 8601"), ("PT", "not an ISO 8601"),
        ("P1DT", "not an ISO 8601"), ("-PT1M", "not an ISO 8601"), ("PT-1M", "not an ISO 8601"),
        ("pt2m", "not an ISO 8601"), ("PT1M1H", "not an ISO 8601"), ("PT1M1M", "not an ISO 8601"),
        ("P1D1W", "not an ISO 8601"), ("120", "not an ISO 8601"), ("", "not an ISO 8601"),
        (" PT1M", "not an ISO 8601"), ("PT1M ", "not an ISO 8601"), ("PT.5S", "not an ISO 8601"),
        ("PT1.5H30M", "only the smallest"), ("P1.5DT1H", "only the smallest"), ("PT1e3S", "not an ISO 8601"),
        ("PT\u0661S", "not an ISO 8601"),
    ],
)  # fmt: skip
def test_what_is_refused_and_why(text: str, why: str) -> None:
    with pytest.raises(DurationError, match=why):
        parse_duration(text)


@given(
    st.tuples(*[st.one_of(st.none(), st.integers(0, 10**6)) for _ in range(5)]).filter(
        lambda parts: any(p is not None for p in parts)
    )
)
def test_any_combination_in_order_adds_up(parts: tuple[int | None, ...]) -> None:
    w, d, h, m, s = parts
    date = "".join(f"{v}{u}" for v, u in ((w, "W"), (d, "D")) if v is not None)
    time_part = "".join(f"{v}{u}" for v, u in ((h, "H"), (m, "M"), (s, "S")) if v is not None)
    text = "P" + date + ("T" + time_part if time_part else "")
    expected = sum((v or 0) * k for v, k in zip(parts, (604_800, 86_400, 3600, 60, 1), strict=True))
    assert parse_duration(text) == expected
