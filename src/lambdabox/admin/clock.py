"""`/_lambdabox/clock`: the server's one clock, read by anyone, moved by hand when it is manual.

    GET  /_lambdabox/clock          -> {"now": <epoch seconds>, "mode": "manual" | "system", "busy": n}
    POST /_lambdabox/clock          {"advance": "PT2M" | <seconds>} or {"set": <epoch seconds>}
                                    -> 200, the same shape as GET, once what became due was fired
    POST /_lambdabox/clock/settle   {"timeout": <seconds, default 30>} (or no body)
                                    -> 200, the same shape, once nothing is busy (or the timeout passed)

`busy` counts the background work due or running now: asynchronous invocation attempts and
destination deliveries (synchronous invocations are their callers' to wait for).

What a move guarantees when it is answered: every timer and sleeper due at the new time was woken;
every background item that became due (an async retry, a delivery) was handed to its handler
unless all of that dispatcher's slots are taken (64 attempts, 16 deliveries), and each woken
task had at least two more turns of the event loop, so it has begun its work (an invocation has
asked for its environment). What that work then takes in real time (a function running, its
retry being scheduled) may still be under way: `settle` waits for it.

A system clock is read, never moved: a move is refused (409), as is a body that is not a JSON
object with exactly one of `advance` (an ISO 8601 duration of fixed length, `durations`, or a
number of seconds, never negative) and `set` (never before now), or that would take the clock
past the year 9999 (400). A refused move changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from lambdabox.clock import Clock, ManualClock
from lambdabox.dispatch import Activity
from lambdabox.durations import DurationError, parse_duration
from lambdabox.edge import AdminEndpoint
from lambdabox.http_messages import BodyTooLarge, Request, Response, json_response

#: the latest time the clock may be moved to: 9999-12-31T23:59:59Z (timestamps must stay dates)
MAX_EPOCH = 253_402_300_799.0
#: the longest a settle may be asked to wait (real seconds)
MAX_SETTLE = 300.0
DEFAULT_SETTLE = 30.0
_BODY_LIMIT = 64 * 1024
#: turns of the event loop a move lets pass at least, at most (while a dispatcher is behind), and
#: then for the handlers just started to take their first step
_MIN_TURNS, _MAX_TURNS, _FIRST_STEPS = 3, 200, 2
#: how often settle looks again (real seconds: it waits for real work)
_SETTLE_POLL = 0.002

#: the dispatchers' activity now (the asynchronous invocations', the outbox's)
ActivitySource = Callable[[], Sequence[Activity]]


def _idle() -> Sequence[Activity]:
    return ()


class NotManual(Exception):
    """The server runs on the system clock: it cannot be moved."""

    def __init__(self) -> None:
        super().__init__(
            "the server runs on the system clock, which cannot be moved: start it with "
            "`lambdabox serve --clock manual` (or LAMBDABOX_CLOCK=manual)"
        )


class ClockControl:
    """Reads and moves the server's clock, and fires what a move made due."""

    def __init__(self, clock: Clock, activity: ActivitySource = _idle) -> None:
        self.clock = clock
        self._activity = activity

    @property
    def mode(self) -> str:
        return "manual" if isinstance(self.clock, ManualClock) else "system"

    def busy(self) -> int:
        """Background items running or due now."""
        return sum(a.running + a.due for a in self._activity())

    def snapshot(self) -> dict[str, Any]:
        return {"now": self.clock.now(), "mode": self.mode, "busy": self.busy()}

    async def advance(self, seconds: float) -> None:
        """Move the manual clock forward by `seconds` and fire what became due (see the module)."""
        clock = self._manual()
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"advance must be a duration forward, not {seconds!r} seconds")
        if clock.now() + seconds > MAX_EPOCH:
            raise ValueError(f"advancing {seconds!r} seconds would take the clock past the year 9999")
        clock.advance(seconds)
        await self._fire()

    async def set(self, epoch: float) -> None:
        """Move the manual clock forward to `epoch` and fire what became due."""
        clock = self._manual()
        if not math.isfinite(epoch) or epoch > MAX_EPOCH:
            raise ValueError(f"set must be a time before the year 10000 in epoch seconds, not {epoch!r}")
        if epoch < clock.now():
            raise ValueError(
                f"set {epoch!r} is before the clock's now ({clock.now()!r}): the clock only moves forward"
            )
        clock.set(epoch)
        await self._fire()

    async def settle(self, timeout: float = DEFAULT_SETTLE) -> int:
        """Wait until no background item is running or due, `timeout` real seconds at most; how
        many still are."""
        deadline = time.monotonic() + timeout  # real time: it waits for real work
        while (busy := self.busy()) and time.monotonic() < deadline:
            await asyncio.sleep(_SETTLE_POLL)
        return busy

    def _manual(self) -> ManualClock:
        if not isinstance(self.clock, ManualClock):
            raise NotManual()
        return self.clock

    async def _fire(self) -> None:
        """Let the tasks a move woke take their turns (what the module docstring guarantees)."""
        for turn in range(_MAX_TURNS):
            await asyncio.sleep(0)
            if turn + 1 >= _MIN_TURNS and not any(a.behind for a in self._activity()):
                break
        for _ in range(_FIRST_STEPS):
            await asyncio.sleep(0)


class BadRequest(Exception):
    """A request body the clock endpoint refuses (400), with the reason."""


def clock_endpoint(control: ClockControl) -> AdminEndpoint:
    """The `/_lambdabox/clock` endpoint over `control`."""

    async def serve(request: Request) -> Response:
        rest = request.path[len("/_lambdabox/clock") :].rstrip("/")
        if rest not in ("", "/settle"):
            return _error(404, f"not found: {request.path} (the clock is /_lambdabox/clock)")
        allowed = "GET, POST" if rest == "" else "POST"
        if request.method not in allowed.split(", "):
            return Response(
                405,
                {"Content-Type": "application/json; charset=utf-8", "Allow": allowed},
                json.dumps(
                    {"message": f"{request.method} is not allowed here (allowed: {allowed})"}
                ).encode(),
            )
        if request.method == "GET":
            return json_response(control.snapshot())
        try:
            body = await request.read(_BODY_LIMIT)
        except BodyTooLarge:
            return _error(413, f"the body is larger than {_BODY_LIMIT} bytes")
        try:
            if rest == "/settle":
                await control.settle(_settle_timeout(body))
            else:
                if control.mode != "manual":
                    raise NotManual()
                await _move(control, body)
        except NotManual as exc:
            return _error(409, str(exc))
        except (BadRequest, ValueError) as exc:
            return _error(400, str(exc))
        return json_response(control.snapshot())

    return serve


async def _move(control: ClockControl, body: bytes) -> None:
    fields = _object(body, 'a JSON object: {"advance": "PT2M"} (or seconds) or {"set": <epoch seconds>}')
    given = sorted(fields)
    if given not in (["advance"], ["set"]):
        raise BadRequest(f"expected exactly one of advance and set, got {', '.join(given) or 'neither'}")
    if "advance" in fields:
        value = fields["advance"]
        if isinstance(value, str):
            try:
                seconds = parse_duration(value)
            except DurationError as exc:
                raise BadRequest(f"advance: {exc}") from None
        else:
            seconds = _number("advance", value)
        await control.advance(seconds)
    else:
        await control.set(_number("set", fields["set"]))


def _settle_timeout(body: bytes) -> float:
    if not body.strip():
        return DEFAULT_SETTLE
    fields = _object(body, 'a JSON object: {"timeout": <seconds>} (or no body)')
    unknown = sorted(set(fields) - {"timeout"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}: a settle takes only timeout")
    timeout = _number("timeout", fields.get("timeout", DEFAULT_SETTLE))
    if not 0 <= timeout <= MAX_SETTLE:
        raise BadRequest(f"timeout must be between 0 and {MAX_SETTLE:.0f} seconds, not {timeout!r}")
    return timeout


def _object(body: bytes, expected: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # (not JSON, not UTF-8, a number of over 4300 digits)
        raise BadRequest(f"the body is not JSON; expected {expected}") from None
    if not isinstance(parsed, dict):
        raise BadRequest(f"the body must be {expected}")
    return parsed


def _number(name: str, value: object) -> float:
    """A JSON number as a finite float (booleans and numbers past a float's range are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{name} must be a number, not {json.dumps(value)[:100]}")
    try:
        number = float(value)
    except OverflowError:
        raise BadRequest(f"{name} is too large") from None
    if not math.isfinite(number):
        raise BadRequest(f"{name} must be a finite number")
    return number


def _error(status: int, message: str) -> Response:
    return json_response({"message": message}, status=status)
