"""The one clock: every semantic delay and timestamp asks an injected `Clock`.

`SystemClock` follows real time; `ManualClock` only moves when told to, so hour-long AWS
behaviours (idle reaping, retries, timeouts) are testable in milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    def cancel(self) -> object: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall time, for timestamps)."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (for durations and deadlines)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        """Call `callback` (on the event loop) once `seconds` of this clock's time have passed; a
        timer without a task of its own, for the deadlines of hot paths."""


class SystemClock:
    """Real time."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        return asyncio.get_running_loop().call_later(max(0.0, seconds), callback)


class ManualClock:
    """Time that advances only through `advance()`; sleepers wake in deadline order."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Cancellable:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda f: None if f.cancelled() else callback())
        if seconds <= 0:
            fut.set_result(None)
        else:
            heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        return fut

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed (their tasks run at
        the event loop's next turns); time never goes back (ValueError)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"the clock only moves forward by a finite amount, not {seconds!r} seconds")
        self._now += seconds
        self._mono += seconds
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def set(self, epoch: float) -> None:
        """Move `now` forward to `epoch` (seconds since the epoch), `monotonic` by as much, waking
        what is due; a time before `now` is refused (ValueError)."""
        if not math.isfinite(epoch) or epoch < self._now:
            raise ValueError(f"the clock only moves forward: {epoch!r} is before its now ({self._now!r})")
        self.advance(epoch - self._now)


class Stopwatch:
    """The time since it was started, on the clock or in real time, whichever is longer: what
    something bounded by `call_later_either` took (an invocation's Duration)."""

    __slots__ = ("_clock", "_real", "_start")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._start = clock.monotonic()
        self._real = time.monotonic()

    def elapsed(self) -> float:
        return max(self._clock.monotonic() - self._start, time.monotonic() - self._real)


class _EitherTimer:
    """Two timers for one callback: whichever fires first calls it and cancels the other."""

    def __init__(self, callback: Callable[[], object]) -> None:
        self._callback = callback
        self._timers: list[Cancellable] = []
        self._done = False

    def fire(self) -> None:
        if not self._done:
            self.cancel()
            self._callback()

    def cancel(self) -> None:
        self._done = True
        for timer in self._timers:
            timer.cancel()


def call_later_either(clock: Clock, seconds: float, callback: Callable[[], object]) -> Cancellable:
    """`clock.call_later`, but fired once `seconds` have passed on `clock` or in real time,
    whichever comes first: the deadline of something a client waits for (a synchronous
    invocation's timeout), which must neither hang on a paused manual clock nor outlast an advance."""
    if isinstance(clock, SystemClock):
        return clock.call_later(seconds, callback)
    either = _EitherTimer(callback)
    either._timers.append(clock.call_later(seconds, either.fire))
    either._timers.append(asyncio.get_running_loop().call_later(max(0.0, seconds), either.fire))
    return either


async def sleep_either(clock: Clock, seconds: float) -> None:
    """Wait until `seconds` have passed on `clock` or in real time, whichever comes first: for
    waits a client is blocked on (a long poll, a synchronous invocation's deadline), so nothing
    hangs on a paused manual clock, while advancing it still ends the wait at once."""
    if seconds <= 0:
        await asyncio.sleep(0)
        return
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    # registered before this returns to the loop: an advance right after the call still counts
    timer = clock.call_later(seconds, lambda: None if done.done() else done.set_result(None))
    try:
        await asyncio.wait({done}, timeout=seconds)
    finally:
        timer.cancel()
        done.cancel()
