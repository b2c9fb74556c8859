"""ISO 8601 durations of a fixed length (`PT2M`, `P1DT12H`, `PT0.5S`, `P2W`) as seconds.

Only the designators whose length never varies are accepted: weeks, days (of 24 hours), hours,
minutes and seconds. Years and months (`P1Y`, `P1M`) are refused with a message saying so, as is
anything else that is not such a duration (a sign, an empty `P` or `PT`, designators out of order
or repeated, a decimal fraction anywhere but on the smallest component given).
"""

from __future__ import annotations

import re

_UNITS = {"W": 604_800.0, "D": 86_400.0, "H": 3_600.0, "M": 60.0, "S": 1.0}
_NUMBER = r"[0-9]+(?:[.,][0-9]+)?"
_DURATION = re.compile(
    rf"P(?:(?P<W>{_NUMBER})W)?(?:(?P<D>{_NUMBER})D)?"
    rf"(?:T(?=[0-9])(?:(?P<H>{_NUMBER})H)?(?:(?P<M>{_NUMBER})M)?(?:(?P<S>{_NUMBER})S)?)?"
)
_CALENDAR = re.compile(rf"P(?:{_NUMBER}[YMW])*?{_NUMBER}[YM]")


class DurationError(ValueError):
    """Not an ISO 8601 duration this module accepts; the message says why."""


def parse_duration(text: str) -> float:
    """The seconds an ISO 8601 duration of fixed length stands for (DurationError if it is not one)."""
    m = _DURATION.fullmatch(text)
    if m is None or text in ("P", "PT"):
        if _CALENDAR.match(text):
            raise DurationError(
                f"{text!r}: years and months have no fixed length; give days, hours, minutes or "
                "seconds (P30D, PT36H)"
            )
        raise DurationError(
            f"{text!r} is not an ISO 8601 duration such as PT2M, PT1H30M, P1DT12H or PT0.5S "
            "(weeks, days, hours, minutes and seconds, forward only)"
        )
    given = [(unit, value) for unit, value in m.groupdict().items() if value is not None]
    if any(("." in v or "," in v) for _, v in given[:-1]):
        raise DurationError(f"{text!r}: only the smallest component of a duration may have a fraction")
    return sum(float(value.replace(",", ".")) * _UNITS[unit] for unit, value in given)
