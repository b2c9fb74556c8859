"""What an injected fault does to one invocation, and the lines it leaves in the function's log.

`FaultInjector.invoke` wraps one run of a function (the invoker's, handed in as `run`): with no
fault hitting it, the run goes ahead untouched; otherwise, by the fault's kind,

- error: the handler is not run; the answer is a function error (FunctionError Unhandled) with
  `{"errorType", "errorMessage"}` as the fault names them;
- timeout: the handler is not run; after the function's timeout (on the one clock, or in real
  time, whichever comes first: `sleep_either`) the answer is the one a real timeout gives
  (Sandbox.Timedout, "Task timed out after X seconds" in the log, REPORT Status: timeout);
- latency: the run goes ahead `latencyMs` later (real time, like the function's own duration);
- throttle: refused as over-concurrency, 429 TooManyRequestsException (Reason
  ReservedFunctionConcurrentInvocationLimitExceeded), as reserved concurrency refuses.

Every hit writes `lambdabox: injected fault <id> (<kind>) RequestId: <id>` into the function's
log group, in a stream of its own per day and version (`…/[<version>]lambdabox-faults`), so an
injected fault is never taken for a real one; where the function did not run but an invocation
is reported (error, timeout), START, END and REPORT lines surround it as they would a real one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Protocol

from lambdabox.aws.errors import client_error
from lambdabox.clock import Clock, sleep_either
from lambdabox.lambda_ import logs as platform_log
from lambdabox.lambda_.faults import FaultBook, FaultKind, Hit
from lambdabox.lambda_.models import FunctionConfig, Outcome

#: the suffix of the log stream injected faults write to (a real stream's is 32 hex digits)
STREAM_SUFFIX = "lambdabox-faults"


class FaultLogs(Protocol):
    """What the injector needs of CloudWatch Logs."""

    async def ensure_stream(self, region: str, account: str, group: str, stream: str) -> None: ...
    def append(
        self, region: str, account: str, group: str, stream: str, events: list[tuple[int, str]]
    ) -> None: ...


def note(hit: Hit, request_id: str) -> str:
    """The log line that marks an invocation an injected fault hit."""
    return f"lambdabox: injected fault {hit.fault_id} ({hit.kind.value}) RequestId: {request_id}"


class FaultInjector:
    """Applies the book's faults to invocations."""

    def __init__(
        self,
        book: FaultBook,
        logs: FaultLogs,
        clock: Clock,
        *,
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`pause(seconds)`: a latency fault's wait (real time)."""
        self.book = book
        self._logs = logs
        self._clock = clock
        self._pause = pause

    def longest_latency(self, cfg: FunctionConfig) -> float:
        """What latency faults may add (seconds) to an invocation of the function."""
        return self.book.longest_latency(cfg.region, cfg.account, cfg.name)

    async def invoke(
        self,
        cfg: FunctionConfig,
        qualifier: str | None,
        request_id: str,
        run: Callable[[], Awaitable[Outcome]],
    ) -> Outcome:
        """One invocation of `cfg` (the version it runs), named with `qualifier` by its caller."""
        hit = self.book.hit(cfg.region, cfg.account, cfg.name, qualifier, cfg.version)
        if hit is None:
            return await run()
        if hit.kind is FaultKind.LATENCY:
            await self._write(cfg, [note(hit, request_id)])
            await self._pause(hit.spec.latency_ms / 1000.0)
            return await run()
        if hit.kind is FaultKind.THROTTLE:
            # a throttled invocation never starts: no START or REPORT, on AWS neither
            await self._write(cfg, [note(hit, request_id)])
            raise client_error(
                "TooManyRequestsException",
                "Rate Exceeded.",
                429,
                Reason="ReservedFunctionConcurrentInvocationLimitExceeded",
                Type="User",
            )
        if hit.kind is FaultKind.ERROR:
            return await self._error(cfg, hit, request_id)
        return await self._timeout(cfg, hit, request_id)

    async def _error(self, cfg: FunctionConfig, hit: Hit, request_id: str) -> Outcome:
        plat = platform_log.PlatformLog(json_format=cfg.log_format == "JSON")
        now = self._clock.now()
        lines = [plat.start(now, request_id, cfg.version), note(hit, request_id)]
        lines += _end(plat, now, cfg, request_id, 0.0, None)
        await self._write(cfg, lines)
        body = {"errorType": hit.spec.error_type, "errorMessage": hit.spec.error_message}
        return Outcome(
            payload=json.dumps(body).encode(),
            error_type="Unhandled",
            status="error",
            log_tail=_tail(lines),
        )

    async def _timeout(self, cfg: FunctionConfig, hit: Hit, request_id: str) -> Outcome:
        plat = platform_log.PlatformLog(json_format=cfg.log_format == "JSON")
        timeout = float(cfg.timeout)
        started = [plat.start(self._clock.now(), request_id, cfg.version), note(hit, request_id)]
        await self._write(cfg, started)
        await sleep_either(self._clock, timeout)
        now = self._clock.now()
        ended = [platform_log.timed_out(now, request_id, timeout)]
        ended += _end(plat, now, cfg, request_id, timeout * 1000.0, "timeout")
        await self._write(cfg, ended)
        message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
        return Outcome(
            payload=json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode(),
            error_type="Unhandled",
            status="timeout",
            duration_ms=timeout * 1000.0,
            log_tail=_tail(started + ended),
        )

    async def _write(self, cfg: FunctionConfig, lines: list[str]) -> None:
        """Append `lines` to the function's faults stream (made first if need be)."""
        now = self._clock.now()
        group = cfg.log_group_name
        stream = platform_log.log_stream_name(now, cfg.version, STREAM_SUFFIX)
        await self._logs.ensure_stream(cfg.region, cfg.account, group, stream)
        ms = int(now * 1000)
        self._logs.append(cfg.region, cfg.account, group, stream, [(ms, line) for line in lines])


def _end(
    plat: platform_log.PlatformLog,
    now: float,
    cfg: FunctionConfig,
    request_id: str,
    duration_ms: float,
    status: str | None,
) -> list[str]:
    """END (in Text format) and REPORT of an invocation the function did not run."""
    end = plat.end(request_id)
    report = plat.report(now, request_id, duration_ms, cfg.memory_size, 0, None, status)
    return [report] if end is None else [end, report]


def _tail(lines: list[str]) -> str:
    """What LogType=Tail returns of these lines (Invoke keeps the last 4 KB)."""
    return "\n".join(lines) + "\n"
