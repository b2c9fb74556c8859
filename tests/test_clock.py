"""The one clock's timers: `call_later` fires when the clock's time has passed, never when cancelled."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from lambdabox.clock import ManualClock, Stopwatch, SystemClock, call_later_either, sleep_either


def test_manual_clock_call_later_fires_in_order_and_can_be_cancelled() -> None:
    async def go() -> list[str]:
        clock = ManualClock()
        fired: list[str] = []
        clock.call_later(2, lambda: fired.append("two"))
        clock.call_later(1, lambda: fired.append("one"))
        cancelled = clock.call_later(1.5, lambda: fired.append("cancelled"))
        cancelled.cancel()
        clock.advance(0.5)
        await asyncio.sleep(0)
        assert fired == []
        clock.advance(2)
        await asyncio.sleep(0)
        return fired

    assert asyncio.run(go()) == ["one", "two"]


def test_system_clock_call_later() -> None:
    async def go() -> list[str]:
        clock = SystemClock()
        fired: list[str] = []
        done = asyncio.Event()
        clock.call_later(0.01, lambda: (fired.append("x"), done.set()))
        clock.call_later(0.01, lambda: fired.append("never")).cancel()
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0.02)
        return fired

    assert asyncio.run(go()) == ["x"]


def test_sleep_either_ends_on_a_paused_clock_in_real_time_and_on_an_advance() -> None:
    async def go() -> tuple[bool, bool]:
        clock = ManualClock()
        await asyncio.wait_for(sleep_either(clock, 0.05), 10)  # paused: real time ends it
        waiting = asyncio.ensure_future(sleep_either(clock, 3600))
        await asyncio.sleep(0)
        clock.advance(3600)  # an hour on the clock ends it at once
        await asyncio.wait_for(waiting, 10)
        return waiting.done(), not clock._sleepers or all(f.done() for _, _, f in clock._sleepers)

    assert asyncio.run(go()) == (True, True)


def test_manual_clock_set_moves_both_scales_forward_only() -> None:
    async def go() -> list[str]:
        clock = ManualClock(start=1000.0)
        fired: list[str] = []
        clock.call_later(50, lambda: fired.append("fifty"))
        clock.set(1060.0)
        await asyncio.sleep(0)
        assert (clock.now(), clock.monotonic()) == (1060.0, 60.0)
        clock.set(1060.0)  # now itself: nothing moves
        for bad in (1059.9, math.nan, math.inf):
            with pytest.raises(ValueError):
                clock.set(bad)
        for bad in (-1.0, math.nan, math.inf):
            with pytest.raises(ValueError):
                clock.advance(bad)
        assert (clock.now(), clock.monotonic()) == (1060.0, 60.0)
        return fired

    assert asyncio.run(go()) == ["fifty"]


def test_call_later_either_fires_once_on_whichever_clock_passes_first() -> None:
    async def go() -> tuple[list[str], float]:
        clock = ManualClock()
        fired: list[str] = []
        t0 = time.monotonic()
        done = asyncio.Event()
        call_later_either(clock, 0.05, lambda: (fired.append("real"), done.set()))  # paused: real time
        await asyncio.wait_for(done.wait(), 10)
        real = time.monotonic() - t0
        call_later_either(clock, 3600, lambda: fired.append("advanced"))
        call_later_either(clock, 3600, lambda: fired.append("cancelled")).cancel()
        clock.advance(3600)
        await asyncio.sleep(0.1)  # (the real-time timers of an hour are cancelled, never fire)
        return fired, real

    fired, real = asyncio.run(go())
    assert fired == ["real", "advanced"]
    assert real < 5


def test_stopwatch_is_the_longer_of_clock_and_real_time() -> None:
    clock = ManualClock()
    watch = Stopwatch(clock)
    time.sleep(0.02)
    assert 0.02 <= watch.elapsed() < 5  # paused clock: real time
    clock.advance(100)
    assert watch.elapsed() == 100
