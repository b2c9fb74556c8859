"""One execution environment: a confined process, its Runtime API endpoint and its state machine.

    new ──spawn──► starting ──first /next──► idle ──invoke──► busy ──response/error──► idle …
        │                                          │
        └─ init error / exit / timeout ──────────► stopped ◄── timeout / exit / stop()

The environment captures the process's stdout/stderr line by line into the function's log
stream, wraps each invocation in START/END/REPORT, and turns every way an invocation can end
(response, function error, oversize response, timeout, crash, out-of-memory) into an `Outcome`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lambdabox.clock import Clock
from lambdabox.lambda_ import logs as platform_log
from lambdabox.lambda_.models import Invocation, Outcome
from lambdabox.lambda_.runtime_api import NextEvent, RuntimeApiError, RuntimeApiServer
from lambdabox.lambda_.sandbox import ExitInfo, Sandbox, SandboxProcess, SandboxSpec

log = logging.getLogger(__name__)

#: largest log event CloudWatch accepts (bytes); longer lines are split
MAX_EVENT = 256 * 1024
#: LogType=Tail returns this much of the end of an invocation's log
TAIL_BYTES = 4096
#: AWS's limit for the init phase of an on-demand environment
INIT_LIMIT = 10.0
#: how long an exited runtime's Runtime API connections may take to deliver what they carried
EXIT_GRACE = 1.0


class Undelivered(Exception):
    """The environment died before its runtime took the event: run the invocation elsewhere."""


class State(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    STOPPED = "stopped"


class LogSink(Protocol):
    """Where an environment's log lines go (its CloudWatch log stream)."""

    def append(self, events: list[tuple[int, str]]) -> None: ...

    @property
    def congested(self) -> bool:
        """True while lines arrive faster than they are stored: stop reading the process."""
        ...

    async def wait_for_room(self) -> None: ...


class _Tail:
    """The end of a log (what LogType=Tail returns): keeps only the last few KB of lines."""

    def __init__(self) -> None:
        self._lines: deque[str] = deque()
        self._size = 0

    def add(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line) + 1
        while self._size > TAIL_BYTES * 2 and len(self._lines) > 1:
            self._size -= len(self._lines.popleft()) + 1

    def text(self, *more: str) -> str:
        text = "\n".join([*self._lines, *more]) + "\n"
        return text[-TAIL_BYTES:]


@dataclass(frozen=True)
class EnvSpec:
    """Everything needed to start one environment of one function revision."""

    env_id: str
    argv: tuple[str, ...]
    env: dict[str, str]  # without AWS_LAMBDA_RUNTIME_API, which the environment adds
    code_dir: Path
    memory_mb: int
    ephemeral_mb: int
    timeout: float
    version: str
    init_lines: tuple[str, ...] = ()  # platform lines written before init (INIT_START, warnings)
    platform: platform_log.PlatformLog = field(default_factory=platform_log.PlatformLog)
    log_group: str = ""
    log_stream: str = ""


@dataclass
class _Pending:
    inv: Invocation
    future: asyncio.Future[tuple[str, bytes, str | None]]  # (kind, body, runtime error type)
    tail: _Tail
    responded: bool = False


class Environment:
    """A single execution environment (one OS process) and its Runtime API state machine."""

    def __init__(
        self,
        spec: EnvSpec,
        *,
        sandbox: Sandbox,
        runtime_api: RuntimeApiServer,
        clock: Clock,
        sink: LogSink,
    ) -> None:
        self.spec = spec
        self.state = State.NEW
        self._sandbox = sandbox
        self._api = runtime_api
        self._clock = clock
        self._sink = sink
        self._proc: SandboxProcess | None = None
        self._close_listener: Callable[[], Awaitable[None]] | None = None
        self._waiter: asyncio.Future[NextEvent] | None = None  # a runtime blocked in /next
        self._queued: NextEvent | None = None  # an event handed over before the runtime asked
        self._init_done: asyncio.Future[tuple[str, bytes, str | None]] | None = None
        self._pending: _Pending | None = None
        self._exit: ExitInfo | None = None
        self._exit_task: asyncio.Task[None] | None = None
        self._partial: dict[int, bytearray] = {}
        self._log_batch: list[tuple[int, str]] = []
        self._flush_scheduled = False
        self._init_tail: _Tail | None = _Tail()  # lines of the init phase, until it succeeds
        self._reading_paused = False
        self._connections = 0
        self._no_connections = asyncio.Event()
        self._no_connections.set()
        self._resume_task: asyncio.Task[None] | None = None
        self._torn_down = False
        self.init_duration_ms: float | None = None
        self.last_used = 0.0
        self.invocations = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, request_id: str) -> Outcome | None:
        """Start the process and run its init phase (for invocation `request_id`, which errors name).

        None when ready; an error Outcome otherwise."""
        loop = asyncio.get_running_loop()
        self._init_done = loop.create_future()
        addr, self._close_listener = await self._api.listen(self)
        env = dict(self.spec.env)
        env["AWS_LAMBDA_RUNTIME_API"] = addr
        for line in self.spec.init_lines:
            self._emit(line)
        t0 = self._clock.monotonic()
        try:
            self._proc = await self._sandbox.spawn(
                SandboxSpec(
                    argv=list(self.spec.argv),
                    env=env,
                    cwd=self.spec.code_dir,
                    memory_mb=self.spec.memory_mb,
                    ephemeral_mb=self.spec.ephemeral_mb,
                    name=self.spec.env_id,
                )
            )
        except OSError as exc:
            await self._teardown()
            if exc.errno == errno.ENOENT:
                reason = f"Couldn't find valid bootstrap(s): [{self.spec.argv[0]} /opt/bootstrap]"
            elif exc.errno == errno.EACCES:
                reason = f"fork/exec {self.spec.argv[0]}: permission denied"
            else:
                reason = f"fork/exec {self.spec.argv[0]}: {exc.strerror or exc}"
            return self._init_failure(
                "Runtime.InvalidEntrypoint", f"RequestId: {request_id} Error: {reason}", 0.0
            )
        for fd in {self._proc.stdout_fd, self._proc.stderr_fd}:
            self._partial[fd] = bytearray()
            loop.add_reader(fd, self._on_output, fd)
        self._exit_task = loop.create_task(self._watch_exit(self._proc))
        init_done = self._init_done
        timer = loop.create_task(self._clock.sleep(max(INIT_LIMIT, self.spec.timeout)))
        timer.add_done_callback(lambda t: _expire(t, init_done))
        self.state = State.STARTING
        try:
            await init_done
        finally:
            timer.cancel()
        init_ms = (self._clock.monotonic() - t0) * 1000.0
        self.init_duration_ms = init_ms
        kind, body, etype = init_done.result()
        if kind == "ready":
            self._init_tail = None  # only a failed init reports its lines
            self.state = State.IDLE
            self.last_used = self._clock.monotonic()
            return None
        await self.stop()
        if kind == "init_error":
            return self._init_failure_body(body, etype or "Runtime.Unknown", init_ms)
        if kind == "exit":
            return self._init_failure("Runtime.ExitError", self._exit_message(request_id), init_ms)
        limit = max(INIT_LIMIT, self.spec.timeout)
        return self._init_failure(
            "Sandbox.Timedout",
            f"RequestId: {request_id} Error: Task timed out after {limit:.2f} seconds",
            init_ms,
        )

    def _platform_error(self, error_type: str, message: str) -> bytes:
        """Log a platform error as Lambda does (message, then type) and return its Invoke body."""
        self._emit(message)
        self._emit(error_type)
        return json.dumps({"errorType": error_type, "errorMessage": message}).encode()

    def _init_failure(self, error_type: str, message: str, init_ms: float) -> Outcome:
        return self._init_failure_body(self._platform_error(error_type, message), error_type, init_ms)

    def _init_failure_body(self, body: bytes, error_type: str, init_ms: float) -> Outcome:
        self._emit(
            f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\tError Type: {error_type}"
        )
        self._flush_logs()
        return Outcome(
            payload=body,
            error_type="Unhandled",
            status="error",
            report_error_type=error_type,
            init_duration_ms=init_ms,
        )

    def fail_invocation(self, inv: Invocation, failure: Outcome) -> Outcome:
        """Log START/END/REPORT for an invocation whose environment failed to initialise."""
        now, plat = self._clock.now(), self.spec.platform
        records = [
            plat.start(now, inv.request_id, self.spec.version),
            plat.end(inv.request_id),
            plat.report(
                now,
                inv.request_id,
                failure.init_duration_ms or 0.0,
                self.spec.memory_mb,
                failure.max_memory_mb,
                None,
                "error",
                failure.report_error_type,
            ),
        ]
        for line in records:
            if line is not None:
                self._emit(line)  # also lands in the init tail: no invocation took the event
        self._flush_logs()
        tail = self._init_tail.text() if self._init_tail is not None else ""
        return Outcome(
            payload=failure.payload,
            error_type=failure.error_type,
            status="error",
            report_error_type=failure.report_error_type,
            duration_ms=failure.init_duration_ms or 0.0,
            init_duration_ms=failure.init_duration_ms,
            log_tail=tail,
        )

    async def stop(self) -> None:
        """Stop the process (whole process group) and release the listener."""
        self.state = State.STOPPED
        proc = self._proc
        if proc is not None and self._exit is None:
            proc.kill()
            if self._exit_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(self._exit_task)
        await self._teardown()

    async def _teardown(self) -> None:
        self.state = State.STOPPED
        if self._torn_down:
            return
        self._torn_down = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(RuntimeApiError(500, "Runtime.Stopped", "environment stopped"))
        if self._close_listener is not None:
            close, self._close_listener = self._close_listener, None
            await close()
        proc = self._proc
        if proc is not None:
            self._drain_all()
            for buf in self._partial.values():  # a last line without its newline
                if buf:
                    self._emit(buf.decode("utf-8", "replace"))
                    buf.clear()
            for fd in list(self._partial):
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_reader(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._partial.clear()
            await proc.cleanup()
        self._flush_logs()

    async def _watch_exit(self, proc: SandboxProcess) -> None:
        info = await proc.wait()
        # A runtime may answer and exit at once: what it sent before exiting arrives before its
        # connections close, so let them close (bounded: a forked child may hold one open).
        if self.state is not State.STOPPED:  # not killed by us
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_connections.wait(), EXIT_GRACE)
        self._exit = info
        self._drain_all()
        if self._init_done is not None and not self._init_done.done():
            self._init_done.set_result(("exit", b"", None))
        if self._pending is not None and not self._pending.future.done():
            undelivered = self._queued is not None
            self._pending.future.set_result(("undelivered" if undelivered else "exit", b"", None))
        if self.state is State.IDLE and self._pending is None:
            # it died between invocations: nobody else will release its listener, pipes and cgroup
            await self._teardown()
        elif self.state is not State.STOPPED:
            self.state = State.STOPPED
            if self._waiter is not None and not self._waiter.done():
                self._waiter.cancel()

    def _exit_message(self, request_id: str) -> str:
        """Lambda's words for a runtime that exited: with its exit status or signal, if not 0."""
        info = self._exit
        if info is None or (info.returncode == 0 and info.signal is None and not info.oom_killed):
            return f"RequestId: {request_id} Error: Runtime exited without providing a reason"
        reason = platform_log.exit_reason(info.returncode, "SIGKILL" if info.oom_killed else info.signal)
        return platform_log.exited(request_id, reason)

    # -- invoke ----------------------------------------------------------------------------
    async def invoke(self, inv: Invocation) -> Outcome:
        """Run one invocation in this (idle) environment."""
        assert self.state is State.IDLE, self.state
        loop = asyncio.get_running_loop()
        self.state = State.BUSY
        self.invocations += 1
        pending = _Pending(inv=inv, future=loop.create_future(), tail=_Tail())
        self._pending = pending
        event = NextEvent(body=inv.payload, headers=_next_headers(inv))
        if self._waiter is not None and not self._waiter.done():
            self._delivered(inv)
            self._waiter.set_result(event)
            self._waiter = None
        else:
            self._queued = event
        t0 = self._clock.monotonic()
        timer = loop.create_task(self._clock.sleep(inv.timeout))
        timer.add_done_callback(lambda t: _expire(t, pending.future))
        try:
            kind, body, _ = await pending.future
        finally:
            timer.cancel()
        if kind == "undelivered":
            self._pending = None
            await self.stop()
            raise Undelivered(inv.request_id)
        duration = (self._clock.monotonic() - t0) * 1000.0
        self._drain_all()
        init_ms = self.init_duration_ms if self.invocations == 1 else None
        status: str | None = None
        report_error: str | None = None
        error_header: str | None = None
        if kind == "response":
            payload = body
        elif kind == "error":
            payload, error_header = body, "Unhandled"
        elif kind == "too_large":
            error_header = "Unhandled"
            payload = json.dumps(
                {
                    "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                    "errorType": "Function.ResponseSizeTooLarge",
                }
            ).encode()
            status, report_error = "error", "Function.ResponseSizeTooLarge"
        elif kind == "timeout":
            error_header, status = "Unhandled", "timeout"
            self._emit(platform_log.timed_out(self._clock.now(), inv.request_id, inv.timeout))
            payload = json.dumps(
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {inv.request_id} Error: Task timed out after {inv.timeout:.2f} seconds",
                }
            ).encode()
        else:  # exit
            error_header, status, report_error = "Unhandled", "error", "Runtime.ExitError"
            payload = self._platform_error("Runtime.ExitError", self._exit_message(inv.request_id))
        mem = self._proc.max_memory_mb() if self._proc is not None else 0.0
        plat, now = self.spec.platform, self._clock.now()
        end_line = plat.end(inv.request_id)
        if end_line is not None:
            self._emit(end_line)
        self._emit(
            plat.report(
                now, inv.request_id, duration, self.spec.memory_mb, round(mem), init_ms, status, report_error
            )
        )
        tail = pending.tail.text()
        self._pending = None
        if kind in ("timeout", "exit") or self._exit is not None:  # (it may exit right after answering)
            await self.stop()
        else:
            self.state = State.IDLE
            self.last_used = self._clock.monotonic()
        return Outcome(
            payload=payload,
            error_type=error_header,
            status=status or ("error" if error_header else "success"),
            report_error_type=report_error,
            duration_ms=duration,
            init_duration_ms=init_ms,
            max_memory_mb=round(mem),
            log_tail=tail,
        )

    # -- Runtime API endpoint (called by RuntimeApiServer) ---------------------------------
    async def next_invocation(self) -> NextEvent:
        if self.state is State.STOPPED:
            raise RuntimeApiError(500, "Runtime.Stopped", "environment stopped")
        if self._pending is not None and not self._pending.responded and self._queued is None:
            raise RuntimeApiError(
                403, "InvalidStateTransition", "State transition from Invoke to Next is not allowed"
            )
        if self._init_done is not None and not self._init_done.done():
            self._init_done.set_result(("ready", b"", None))
        if self._queued is not None:
            ev, self._queued = self._queued, None
            if self._pending is not None:
                self._delivered(self._pending.inv)
            return ev
        self._waiter = asyncio.get_running_loop().create_future()
        return await self._waiter

    def _delivered(self, inv: Invocation) -> None:
        """The runtime has the event now: the invocation starts (and is logged as started)."""
        self._emit(self.spec.platform.start(self._clock.now(), inv.request_id, self.spec.version))

    def _current(self, request_id: str) -> _Pending:
        p = self._pending
        if p is None or p.inv.request_id != request_id:
            raise RuntimeApiError(400, "InvalidRequestID", "Invalid request ID")
        if p.responded:
            raise RuntimeApiError(
                403, "InvalidStateTransition", "State transition from ResponseSent to ResponseSent failed"
            )
        return p

    def post_response(self, request_id: str, body: bytes, too_large: bool) -> None:
        p = self._current(request_id)
        p.responded = True
        if not p.future.done():
            p.future.set_result(("too_large" if too_large else "response", body, None))

    def post_error(self, request_id: str, error_type: str | None, body: bytes) -> None:
        p = self._current(request_id)
        p.responded = True
        if not p.future.done():
            p.future.set_result(("error", body or b"{}", error_type))

    def connections_changed(self, delta: int) -> None:
        self._connections += delta
        if self._connections == 0:
            self._no_connections.set()
        else:
            self._no_connections.clear()

    def post_init_error(self, error_type: str | None, body: bytes) -> None:
        if self._init_done is None or self._init_done.done():
            raise RuntimeApiError(
                403, "InvalidStateTransition", "State transition from Ready to InitError failed"
            )
        self._init_done.set_result(("init_error", body or b"{}", error_type))

    # -- logs ------------------------------------------------------------------------------
    def _on_output(self, fd: int) -> None:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(fd)
            buf = self._partial.get(fd)
            if buf:
                self._emit(buf.decode("utf-8", "replace"))
                buf.clear()
            return
        self._feed(fd, data)
        if self._sink.congested and not self._reading_paused:
            self._pause_reading()

    def _pause_reading(self) -> None:
        """Backpressure: stop reading the pipes (the function's writes block) until logs catch up."""
        loop = asyncio.get_running_loop()
        self._reading_paused = True
        for fd in self._partial:
            loop.remove_reader(fd)

        async def resume() -> None:
            await self._sink.wait_for_room()
            self._reading_paused = False
            if not self._torn_down:
                for fd in self._partial:
                    loop.add_reader(fd, self._on_output, fd)

        self._resume_task = loop.create_task(resume())

    def _feed(self, fd: int, data: bytes) -> None:
        buf = self._partial.setdefault(fd, bytearray())
        buf += data
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) >= MAX_EVENT:
                    self._emit(bytes(buf[:MAX_EVENT]).decode("utf-8", "replace"))
                    del buf[:MAX_EVENT]
                    continue
                break
            line = bytes(buf[: min(nl, MAX_EVENT)])
            del buf[: nl + 1]
            # AWS's runtimes write one multi-line record (a traceback) as one line with \r between its
            # lines; CloudWatch shows it as one event with line breaks
            self._emit(line.rstrip(b"\r").replace(b"\r", b"\n").decode("utf-8", "replace"))

    def _drain_all(self) -> None:
        """Read whatever the process already wrote (it wrote before it answered the Runtime API)."""
        for fd in list(self._partial):
            while True:
                try:
                    data = os.read(fd, 1 << 16)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                self._feed(fd, data)

    def _emit(self, line: str) -> None:
        p = self._pending
        if p is not None:
            p.tail.add(line)
        elif self._init_tail is not None:
            self._init_tail.add(line)
        self._log_batch.append((int(self._clock.now() * 1000), line))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_logs)

    def _flush_logs(self) -> None:
        self._flush_scheduled = False
        if self._log_batch:
            batch, self._log_batch = self._log_batch, []
            self._sink.append(batch)


def _expire(timer: asyncio.Task[None], fut: asyncio.Future[tuple[str, bytes, str | None]]) -> None:
    if not timer.cancelled() and not fut.done():
        fut.set_result(("timeout", b"", None))


def _next_headers(inv: Invocation) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Lambda-Runtime-Aws-Request-Id": inv.request_id,
        "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
        "Lambda-Runtime-Trace-Id": inv.trace_id,
    }
    if inv.client_context is not None:
        headers["Lambda-Runtime-Client-Context"] = inv.client_context
    if inv.cognito_identity is not None:
        headers["Lambda-Runtime-Cognito-Identity"] = inv.cognito_identity
    return headers
