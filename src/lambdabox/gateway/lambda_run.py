"""How the data planes (HTTP APIs and REST APIs) run a Lambda integration or authorizer: the
event as JSON, the invocation bounded by the integration's timeout (on the one clock, or in real
time if that passes first: a paused manual clock never hangs a client), and an
invocation that outlives it left to run on with its answer dropped, as API Gateway leaves it.

An invocation that must end before the timeout could pass (the function's timeout plus its init
limit is shorter) is awaited in the request's own task, with no task or timer of its own: that is
the common case, and the cheap one."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from lambdabox.clock import Clock, call_later_either

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invoked:
    """What an invocation gave: the function's payload, and whether it was a function error."""

    payload: bytes
    function_error: bool


class Failed(enum.Enum):
    """An invocation that gave no answer: refused (no function, throttled, …) or timed out."""

    REFUSED = "refused"
    TIMED_OUT = "timed out"


#: invoke(region, account, function ARN (maybe qualified), event JSON, source ARN): raises on a
#: refused invoke (the function's policy may refuse the source ARN)
InvokeFunction = Callable[[str, str, str, bytes, str], Coroutine[Any, Any, Invoked]]
#: longest(region, account, function ARN): the longest (s) an invocation of it can take, cold start
#: included; None when that cannot be known
LongestInvocation = Callable[[str, str, str], float | None]


def _unknown(region: str, account: str, function_arn: str) -> float | None:
    return None


def source_arn(region: str, account: str, api_id: str, resource: str) -> str:
    """The `aws:SourceArn` API Gateway invokes a function with: `api-id/stage/METHOD/path` for a
    route or method (`api-id/stage/$default` for an HTTP API's `$default` route),
    `api-id/authorizers/authorizer-id` for an authorizer."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{resource}"


class LambdaRunner:
    """Runs the data planes' invocations; `close()` cancels those that outlived their timeout."""

    def __init__(self, invoke: InvokeFunction, clock: Clock, longest: LongestInvocation = _unknown) -> None:
        self._invoke = invoke
        self._clock = clock
        self._longest = longest
        self._running: set[asyncio.Task[Invoked]] = set()  # invocations that outlived their timeout

    async def run(
        self, region: str, account: str, target: str, event: object, timeout: float, source: str
    ) -> Invoked | Failed:
        """Invoke `target` with `event` for the `source` ARN (`source_arn`); its answer, or why
        there is none within `timeout` s."""
        payload = json.dumps(event, separators=(",", ":")).encode()
        longest = self._longest(region, account, target)
        if longest is not None and longest < timeout:
            try:
                return await self._invoke(region, account, target, payload, source)
            except Exception as exc:
                log.info("invoking %s failed: %s", target, exc)
                return Failed.REFUSED
        loop = asyncio.get_running_loop()
        task: asyncio.Task[Invoked] = loop.create_task(self._invoke(region, account, target, payload, source))
        settled: asyncio.Future[None] = loop.create_future()

        def settle(*_: object) -> None:
            if not settled.done():
                settled.set_result(None)

        task.add_done_callback(settle)
        # the integration's timeout, on the clock or in real time (whichever passes first: the
        # client waits for it)
        timer = call_later_either(self._clock, timeout, settle)
        try:
            await settled
        finally:
            timer.cancel()
        if not task.done():  # the invocation runs on; its answer is dropped
            self._running.add(task)
            task.add_done_callback(self._finished)
            return Failed.TIMED_OUT
        try:
            return task.result()
        except Exception as exc:
            log.info("invoking %s failed: %s", target, exc)
            return Failed.REFUSED

    def _finished(self, task: asyncio.Task[Invoked]) -> None:
        self._running.discard(task)
        with contextlib.suppress(BaseException):
            task.result()

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
