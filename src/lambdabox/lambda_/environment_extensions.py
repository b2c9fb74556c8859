"""An execution environment's extension lifecycle: its init phase, post-runtime phase and shutdown.

`ExtensionPhases` is the part of `Environment` (environment.py, which it is mixed into) that
follows its extensions (its `Extensions`, the Extensions API): external ones are started by the
launcher (extension_launch.py) and must all register before the runtime is let start (the
go-ahead on the launcher's control socket, which also reports their exits); the init phase ends
when the runtime and every extension have called next; an invocation is answered when the
runtime answers, but the environment stays busy (`post_runtime`) until every extension has called
next again, and writes END/REPORT then (a timeout or an extension's crash in that time is the
invocation's, in its REPORT too); an extension's exit fails the init or the invocation
(Extension.*) or resets an idle environment; `shutdown()` sends SHUTDOWN before the runtime's
SIGTERM. It also holds what both share: the environment's `State` and an invocation's `_Report`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from lambdabox.clock import Cancellable, Clock, Stopwatch, call_later_either
from lambdabox.lambda_ import logs as platform_log
from lambdabox.lambda_.extension_launch import LauncherControl
from lambdabox.lambda_.extensions_api import SHUTDOWN_LIMIT, Extensions, Failure
from lambdabox.lambda_.log_capture import LogCapture
from lambdabox.lambda_.runtime_endpoint import Result, ResultKind
from lambdabox.lambda_.sandbox import SandboxProcess

#: the runtime's share of the shutdown phase with external extensions (AWS: up to 300 ms)
RUNTIME_SHUTDOWN = 0.3


class State(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    STOPPED = "stopped"


@dataclass(frozen=True)
class _Report:
    """What an invocation's REPORT line says, but its duration."""

    request_id: str
    init_ms: float | None
    status: str | None
    error_type: str | None
    max_memory_mb: int


class ExtensionPhases:
    """The extension lifecycle of an `Environment` (see the module docstring)."""

    # what it uses of the environment it is part of
    spec: Any  # EnvSpec
    state: State
    extensions: Extensions | None
    post_runtime: asyncio.Task[None] | None
    _clock: Clock
    _wall: Callable[[], float]
    _logs: LogCapture
    _proc: SandboxProcess | None
    _exit_task: asyncio.Task[None] | None
    _control: LauncherControl | None
    _torn: asyncio.Future[None] | None
    _shutting_down: bool
    _reset: asyncio.Task[None] | None

    async def stop(self) -> None:
        raise NotImplementedError

    def _platform_error(self, error_type: str, message: str) -> bytes:
        raise NotImplementedError

    async def _close_invocation(self, report: _Report, duration: float, fatal: bool) -> str:
        raise NotImplementedError

    async def _init_phase(
        self, init_done: asyncio.Future[Result], deadline: asyncio.Future[Result]
    ) -> Result:
        """The init phase with extensions: every external extension registers, then the runtime
        starts (the launcher's go-ahead); it ends when the runtime and every extension have
        called next, or at the first failure (of either) or the time limit."""
        ext = self.extensions
        assert ext is not None
        failed = ext.failure
        if self.spec.extensions:
            await _first(ext.wait_for(ext.all_registered), init_done, failed)
            if not init_done.done() and not failed.done() and self._control is not None:
                await self._control.go()  # the runtime may start
        await _first(init_done, failed)
        if not failed.done() and init_done.result().kind is ResultKind.READY:
            await _first(ext.wait_for(ext.all_ready), failed, deadline)
        ext.close_registration()
        if failed.done():
            return _extension_result(failed.result())
        if deadline.done():
            return deadline.result()
        return init_done.result()

    async def _watch_extensions(self, control: LauncherControl) -> None:
        """The extensions' exits, as the launcher reports them: one fails the init or the
        invocation (`Extensions.failure`), or resets the environment while it is idle (as on
        Lambda)."""
        ext = self.extensions
        assert ext is not None
        async for name, status in control.exits():
            ext.exited(name, status)
            if ext.failure.done() and self.state is State.IDLE and not self._shutting_down:
                self._platform_error("Extension.Crash", f"Error: {ext.failure.result().message}")
                self.state = State.STOPPED  # never handed out again
                self._reset = asyncio.get_running_loop().create_task(self.stop())

    async def shutdown(self, reason: str = "spindown") -> None:
        """Stop as Lambda does when it is done with an environment: with extensions registered,
        SHUTDOWN to those registered for it (deadlineMs 2,000 ms ahead); once they have all called
        next again (or exited), or at the deadline, SIGTERM to the runtime, which has what is left
        of its share (300 ms) to exit; then stop (SIGKILL to what is left).

        Lambda sends the runtime its SIGTERM first; here the runtime's exit ends its pid
        namespace and every extension in it, so the extensions have their SHUTDOWN first."""
        ext, proc = self.extensions, self._proc
        busy = self.post_runtime is not None and not self.post_runtime.done()
        if self.state is not State.IDLE or busy or proc is None or ext is None or not ext.registered:
            await self.stop()
            return
        self._shutting_down = True
        self.state = State.STOPPED  # nothing more is handed to it
        ext.shutdown(reason, int((self._wall() + SHUTDOWN_LIMIT) * 1000))
        limit: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = call_later_either(self._clock, SHUTDOWN_LIMIT - RUNTIME_SHUTDOWN, lambda: _settle(limit))
        try:
            await _first(ext.wait_for(ext.all_ready), limit)
        finally:
            timer.cancel()
        proc.signal_runtime(signal.SIGTERM)
        if self._exit_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._exit_task), RUNTIME_SHUTDOWN)
        await self.stop()

    async def _post_runtime(
        self, report: _Report, watch: Stopwatch, deadline: asyncio.Future[Result], timer: Cancellable
    ) -> None:
        ext = self.extensions
        assert ext is not None
        assert self._torn is not None
        try:
            await _first(ext.wait_for(ext.all_ready), ext.failure, deadline, self._torn)
        finally:
            timer.cancel()
        fatal = ext.failure.done() or deadline.done()
        if ext.failure.done():  # the invocation failed after all: its REPORT says so
            failure = ext.failure.result()
            self._platform_error(
                failure.error_type, f"RequestId: {report.request_id} Error: {failure.message}"
            )
            report = replace(report, status="error", error_type=failure.error_type)
        elif deadline.done():  # it timed out after all
            timeout = self.spec.timeout
            self._logs.emit(platform_log.timed_out(self._clock.now(), report.request_id, timeout))
            report = replace(report, status="timeout", error_type=None)
        await self._close_invocation(report, watch.elapsed() * 1000.0, fatal)


async def _first(*futs: asyncio.Future[Any]) -> None:
    """Wait until one of `futs` is done (none is cancelled)."""
    await asyncio.wait(futs, return_when=asyncio.FIRST_COMPLETED)


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _extension_result(failure: Failure) -> Result:
    return Result(ResultKind.EXTENSION, failure.message.encode(), failure.error_type)
