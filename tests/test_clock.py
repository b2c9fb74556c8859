"""The one clock's timers: `call_later` fires when the clock's time has passed, never when cancelled."""

from __future__ import annotations

import asyncio

from lambdabox.clock import ManualClock, SystemClock, sleep_either


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
