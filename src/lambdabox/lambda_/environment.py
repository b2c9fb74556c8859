"""One execution environment's state machine: its confined process, from spawn to stop.

    new ──spawn──► starting ──first /next──► idle ──invoke──► busy ──response/error──► idle …
        │                                          │
        └─ init error / exit / timeout ──────────► stopped ◄── timeout / exit / stop()

`Environment` owns the process and uses two helpers: its `EnvironmentEndpoint` (the Runtime API
as this environment answers it) and its `LogCapture` (the process's stdout/stderr as log lines).
It wraps each invocation in START/END/REPORT and turns every way an init phase or an invocation
can end (response, function error, oversize response, timeout, crash, out-of-memory) into an
`Outcome`. Its time limits (init, invocation) pass when they have passed on the clock or in real
time, whichever comes first (the process runs in real time: a paused clock never hangs it), and
durations are the longer of the two. It is started with its execution role's credentials, which
its process carries as environment variables for its whole life: `credentials_outlast(now)` says
whether they still cover an invocation starting now.

With extensions (its `Extensions`, the Extensions API), their part of its lifecycle (init phase,
post-runtime phase, shutdown) is `ExtensionPhases` (environment_extensions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from lambdabox.clock import Clock, Stopwatch, call_later_either
from lambdabox.lambda_ import logs as platform_log
from lambdabox.lambda_.credentials import RoleCredentials
from lambdabox.lambda_.environment_extensions import ExtensionPhases, _extension_result, _first, _Report
from lambdabox.lambda_.environment_extensions import State as State  # re-exported: its states
from lambdabox.lambda_.extension_launch import LAUNCHER_ARGS, LauncherControl
from lambdabox.lambda_.extensions_api import Extensions, Metadata
from lambdabox.lambda_.log_capture import LogCapture, LogTail
from lambdabox.lambda_.log_capture import LogSink as LogSink  # re-exported: what Environment writes to
from lambdabox.lambda_.models import Invocation, Outcome
from lambdabox.lambda_.runtime_api import RuntimeApiServer
from lambdabox.lambda_.runtime_endpoint import TIMEOUT, EnvironmentEndpoint, Result, ResultKind
from lambdabox.lambda_.sandbox import ExitInfo, Sandbox, SandboxProcess, SandboxSpec

log = logging.getLogger(__name__)

#: AWS's limit for the init phase of an on-demand environment
INIT_LIMIT = 10.0
#: AWS's limit for the init phase of a provisioned-concurrency environment (or the function's timeout)
PROVISIONED_INIT_LIMIT = 130.0
#: AWS_LAMBDA_INITIALIZATION_TYPE of an environment started for an invocation, and ahead of traffic
ON_DEMAND, PROVISIONED = "on-demand", "provisioned-concurrency"
#: how long an exited runtime's Runtime API connections may take to deliver what they carried
EXIT_GRACE = 1.0


class Undelivered(Exception):
    """The environment died before its runtime took the event: run the invocation elsewhere."""


@dataclass(frozen=True)
class EnvSpec:
    """Everything needed to start one environment of one function revision."""

    env_id: str
    argv: tuple[str, ...]
    env: dict[str, str]  # without AWS_LAMBDA_RUNTIME_API and the credentials, which start() adds
    code_dir: Path
    memory_mb: int
    ephemeral_mb: int
    timeout: float
    version: str
    init_lines: tuple[str, ...] = ()  # platform lines written before init (INIT_START, warnings)
    platform: platform_log.PlatformLog = field(default_factory=platform_log.PlatformLog)
    log_group: str = ""
    log_stream: str = ""
    interpreters: tuple[str, ...] = ()  # host interpreters the sandbox must make visible
    #: the host path of the merged layers tree of this function version (/opt inside), None when
    #: it has no layers
    opt_dir: Path | None = None
    #: the external extensions (file names in /opt/extensions) that `argv`'s launcher starts
    extensions: tuple[str, ...] = ()
    #: where the runtime's own command starts in `argv` (after the launcher and a wrapper)
    runtime_at: int = 0
    #: what the Extensions API's register answers with
    function_name: str = ""
    handler: str = ""
    account_id: str = ""
    #: ON_DEMAND, or PROVISIONED: initialised ahead of traffic (its longer init limit; its first
    #: invocation's REPORT has no Init Duration, as its init was not part of any invocation)
    initialization_type: str = ON_DEMAND


#: serves lambdabox's AWS endpoint on a listener inside an environment's network namespace;
#: returns its close
ServeEndpoint = Callable[[socket.socket], Awaitable[Callable[[], Awaitable[None]]]]


class Environment(ExtensionPhases):
    """A single execution environment (one OS process) and its state machine."""

    def __init__(
        self,
        spec: EnvSpec,
        *,
        sandbox: Sandbox,
        runtime_api: RuntimeApiServer,
        clock: Clock,
        sink: LogSink,
        serve_endpoint: ServeEndpoint | None = None,
        on_stopped: Callable[[], None] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """`on_stopped`: called once, when the environment is stopped and its process is gone
        (nothing runs from its code any more). `wall`: the time functions read (SHUTDOWN's
        deadlineMs is given in it)."""
        self._wall = wall
        self.spec = spec
        self._on_stopped = on_stopped
        self.state = State.NEW
        self._sandbox = sandbox
        self._api = runtime_api
        self._clock = clock
        self._runtime = EnvironmentEndpoint(
            delivered=self._delivered, stopped=lambda: self.state is State.STOPPED
        )
        self._logs = LogCapture(sink, clock)
        self._init_tail: LogTail | None = LogTail()  # lines of the init phase, until it succeeds
        self._logs.tail = self._init_tail
        self._proc: SandboxProcess | None = None
        self._close_listener: Callable[[], Awaitable[None]] | None = None
        self._close_endpoint: Callable[[], Awaitable[None]] | None = None
        self._serve_endpoint = serve_endpoint
        self._exit: ExitInfo | None = None
        self._exit_task: asyncio.Task[None] | None = None
        self._torn_down = False
        self.init_duration_ms: float | None = None
        self.last_used = 0.0
        self.invocations = 0
        self.credentials: RoleCredentials | None = None
        self.extensions: Extensions | None = None
        self._control: LauncherControl | None = None  # the launcher's control socket
        self._control_task: asyncio.Task[None] | None = None
        #: the end of the invocation's post-runtime phase (extensions still busy with INVOKE)
        self.post_runtime: asyncio.Task[None] | None = None
        self._torn: asyncio.Future[None] | None = None  # set when it is torn down (post-runtime waits)
        self._shutting_down = False
        self._reset: asyncio.Task[None] | None = None  # the stop after an extension's crash

    def credentials_outlast(self, now: float) -> bool:
        """Whether its credentials last through an invocation starting `now` (with time to spare)."""
        return self.credentials is not None and self.credentials.lasts_through(now, self.spec.timeout)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, request_id: str, credentials: RoleCredentials) -> Outcome | None:
        """Start the process with its role's `credentials` and run its init phase (for invocation
        `request_id`, which errors name).

        None when ready; an error Outcome otherwise."""
        loop = asyncio.get_running_loop()
        init_done = self._runtime.begin_init()
        spec = self.spec
        meta = Metadata(spec.function_name, spec.version, spec.handler, spec.account_id)
        self.extensions = self._runtime.extensions = Extensions(spec.extensions, meta, log=self._logs.emit)
        view = self._sandbox.view(self.spec.code_dir, self.spec.opt_dir)
        identity = self._sandbox.new_identity()  # the uid it will run as (None: not per env)
        self.credentials = credentials
        env = {**self.spec.env, **credentials.env()}
        # 1. the Runtime API listener, whose address the process is given: ours, accepting only
        #    the environment's own uid, or (network none) one made inside its network namespace
        if view.runtime_api is None:
            owner = None if identity is None else (lambda uid: uid == identity.uid)
            env["AWS_LAMBDA_RUNTIME_API"], self._close_listener = await self._api.listen(self._runtime, owner)
        else:
            env["AWS_LAMBDA_RUNTIME_API"] = view.runtime_api
        for line in self.spec.init_lines:
            self._logs.emit(line)
        # 2. the process
        init_watch = Stopwatch(self._clock)
        try:
            self._proc = await self._sandbox.spawn(
                SandboxSpec(
                    argv=list(self.spec.argv),
                    env=env,
                    cwd=self.spec.code_dir,
                    memory_mb=self.spec.memory_mb,
                    ephemeral_mb=self.spec.ephemeral_mb,
                    name=self.spec.env_id,
                    interpreters=self.spec.interpreters,
                    identity=identity,
                    opt_dir=self.spec.opt_dir,
                    control=bool(self.spec.extensions),
                    runtime_at=self.spec.runtime_at,
                    tenant=self.spec.account_id,
                )
            )
        except OSError as exc:
            await self._teardown()
            return self._init_failure(
                "Runtime.InvalidEntrypoint", f"RequestId: {request_id} Error: {self._spawn_error(exc)}", 0.0
            )
        if self._proc.listeners:  # network none: [Runtime API, AWS endpoint] inside its namespace
            runtime_sock, *endpoint = self._proc.listeners
            self._close_listener = await self._api.serve(runtime_sock, self._runtime)
            if endpoint and self._serve_endpoint is not None:
                self._close_endpoint = await self._serve_endpoint(endpoint[0])
        # 3. its output, 4. its exit
        self._logs.attach(self._proc.stdout_fd, self._proc.stderr_fd)
        if self._proc.extensions_fd is not None:  # a pipe of their own: lines never interleave
            self._logs.attach(self._proc.extensions_fd)
        self._exit_task = loop.create_task(self._watch_exit(self._proc))
        if self._proc.control is not None:
            self._control = LauncherControl(self._proc.control)
            self._control_task = loop.create_task(self._watch_extensions(self._control))
        # 5. the init phase: until its first /next, an /init/error, its exit or the time limit (on
        # the clock or in real time, whichever passes first: a paused clock never hangs a caller)
        limit = max(INIT_LIMIT if self.spec.initialization_type == ON_DEMAND else PROVISIONED_INIT_LIMIT,
                    self.spec.timeout)  # fmt: skip
        deadline: asyncio.Future[Result] = loop.create_future()
        timer = call_later_either(self._clock, limit, lambda: _expire(init_done, deadline))
        self.state = State.STARTING
        try:
            result = await self._init_phase(init_done, deadline)
        finally:
            timer.cancel()
            self._sandbox.settled()  # its start no longer competes for the CPU: make spares now
        init_ms = init_watch.elapsed() * 1000.0
        self.init_duration_ms = init_ms
        if result.kind is ResultKind.READY:
            for line in self.extensions.report_lines() if not self.spec.platform.json_format else ():
                self._logs.emit(line)
            self._init_tail = self._logs.tail = None  # only a failed init reports its lines
            self.state = State.IDLE
            self.last_used = self._clock.monotonic()
            return None
        await self.stop()
        if result.kind is ResultKind.INIT_ERROR:
            return self._init_failure_body(result.body, result.error_type or "Runtime.Unknown", init_ms)
        if result.kind is ResultKind.EXTENSION:
            message = f"RequestId: {request_id} Error: {result.body.decode()}"
            return self._init_failure(result.error_type or "Extension.Crash", message, init_ms)
        if result.kind is ResultKind.EXIT:
            launched = self.spec.extensions and self.spec.runtime_at == LAUNCHER_ARGS  # no wrapper
            if launched and self._exit is not None and self._exit.returncode in (126, 127):
                # the launcher could not exec the runtime: what a failed spawn would have said
                code = errno.ENOENT if self._exit.returncode == 127 else errno.EACCES
                message = self._spawn_error(OSError(code, os.strerror(code)))
                return self._init_failure(
                    "Runtime.InvalidEntrypoint", f"RequestId: {request_id} Error: {message}", init_ms
                )
            return self._init_failure("Runtime.ExitError", self._exit_message(request_id), init_ms)
        return self._init_failure(
            "Sandbox.Timedout",
            f"RequestId: {request_id} Error: Task timed out after {limit:.2f} seconds",
            init_ms,
        )

    def _spawn_error(self, exc: OSError) -> str:
        """Lambda's words for a bootstrap that cannot be started (named as the function sees it:
        no host path; one of lambdabox's own runtime commands is the runtime's bootstrap)."""
        exe = self.spec.argv[self.spec.runtime_at]
        dirs = ((self.spec.code_dir, "/var/task"), (self.spec.opt_dir, "/opt"))
        for here, lambda_dir in ((str(d), seen) for d, seen in dirs if d is not None):
            if exe == here or exe.startswith(here + "/"):
                exe = lambda_dir + exe[len(here) :]
                break
        else:
            if not exe.startswith(("/var/task/", "/opt/")):
                exe = "/var/runtime/bootstrap"
        if exc.errno == errno.ENOENT:
            return f"Couldn't find valid bootstrap(s): [{exe} /opt/bootstrap]"
        if exc.errno == errno.EACCES:
            return f"fork/exec {exe}: permission denied"
        return f"fork/exec {exe}: {exc.strerror or exc}"

    def _platform_error(self, error_type: str, message: str) -> bytes:
        """Log a platform error as Lambda does (message, then type) and return its Invoke body."""
        self._logs.emit(message)
        self._logs.emit(error_type)
        return json.dumps({"errorType": error_type, "errorMessage": message}).encode()

    def _init_failure(self, error_type: str, message: str, init_ms: float) -> Outcome:
        return self._init_failure_body(self._platform_error(error_type, message), error_type, init_ms)

    def _init_failure_body(self, body: bytes, error_type: str, init_ms: float) -> Outcome:
        self._logs.emit(
            f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\tError Type: {error_type}"
        )
        self._logs.flush()
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
                self._logs.emit(line)  # also lands in the init tail: no invocation took the event
        self._logs.flush()
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
        try:
            if self._torn is not None and not self._torn.done():
                self._torn.set_result(None)  # a post-runtime phase ends with it
            self._runtime.refuse_waiting()
            if self.extensions is not None:
                self.extensions.stop()
            for closer in (self._close_listener, self._close_endpoint):
                if closer is not None:
                    await closer()
            self._close_listener = self._close_endpoint = None
            proc = self._proc
            if self._control_task is not None:
                self._control_task.cancel()
            if self._control is not None:
                self._control.close()
            if proc is not None:
                self._logs.close_pipes()
                await proc.cleanup()
            self._logs.flush()
        finally:
            if self._on_stopped is not None:
                self._on_stopped()

    async def _watch_exit(self, proc: SandboxProcess) -> None:
        info = await proc.wait()
        # A runtime may answer and exit at once: what it sent before exiting arrives before its
        # connections close, so let them close (bounded: a forked child may hold one open).
        if self.state is not State.STOPPED:  # not killed by us
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._runtime.disconnected(), EXIT_GRACE)
        self._exit = info
        self._logs.drain()
        self._runtime.runtime_exited()
        if self.state is State.IDLE and not self._runtime.invoking:
            # it died between invocations: nobody else will release its listener, pipes and cgroup
            await self._teardown()
        elif self.state is not State.STOPPED:
            self.state = State.STOPPED
            self._runtime.cancel_waiting()

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
        self.state = State.BUSY
        self.invocations += 1
        tail = self._logs.tail = LogTail()  # from START on, lines are this invocation's
        done = self._runtime.deliver(inv)
        ext = self.extensions
        # INVOKE to every extension registered for it
        ext_busy = ext is not None and ext.any_registered and ext.invoke(inv)
        watch = Stopwatch(self._clock)
        # the function's timeout, on the clock or in real time, whichever passes first
        deadline: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        timer = call_later_either(self._clock, inv.timeout, lambda: _expire(done, deadline))
        try:
            if ext is not None and ext.any_registered:  # (the hot path without extensions: one await)
                await _first(done, ext.failure)
                result = done.result() if done.done() else _extension_result(ext.failure.result())
            else:
                result = await done
        finally:
            if not ext_busy:
                timer.cancel()
        kind = result.kind
        if kind is ResultKind.UNDELIVERED:
            self._end_invocation()
            await self.stop()
            raise Undelivered(inv.request_id)
        duration = watch.elapsed() * 1000.0
        self._logs.drain()
        cold = self.invocations == 1 and self.spec.initialization_type == ON_DEMAND
        init_ms = self.init_duration_ms if cold else None
        status: str | None = None
        report_error: str | None = None
        error_header: str | None = None
        if kind is ResultKind.RESPONSE:
            payload = result.body
        elif kind is ResultKind.ERROR:
            payload, error_header = result.body, "Unhandled"
        elif kind is ResultKind.TOO_LARGE:
            error_header = "Unhandled"
            payload = json.dumps(
                {
                    "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                    "errorType": "Function.ResponseSizeTooLarge",
                }
            ).encode()
            status, report_error = "error", "Function.ResponseSizeTooLarge"
        elif kind is ResultKind.TIMEOUT:
            error_header, status = "Unhandled", "timeout"
            self._logs.emit(platform_log.timed_out(self._clock.now(), inv.request_id, inv.timeout))
            payload = json.dumps(
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {inv.request_id} Error: Task timed out after {inv.timeout:.2f} seconds",
                }
            ).encode()
        elif kind is ResultKind.EXTENSION:
            error_header, status, report_error = "Unhandled", "error", result.error_type
            message = f"RequestId: {inv.request_id} Error: {result.body.decode()}"
            payload = self._platform_error(result.error_type or "Extension.Crash", message)
        else:  # exit
            error_header, status, report_error = "Unhandled", "error", "Runtime.ExitError"
            payload = self._platform_error("Runtime.ExitError", self._exit_message(inv.request_id))
        mem = self._proc.max_memory_mb() if self._proc is not None else 0.0
        report = _Report(inv.request_id, init_ms, status, report_error, round(mem))
        fatal = kind in (ResultKind.TIMEOUT, ResultKind.EXIT, ResultKind.EXTENSION)
        if ext_busy and not fatal and ext is not None and not ext.all_ready():
            # the caller has its answer; the environment is busy until every extension is done
            # with INVOKE (post-runtime), and its REPORT covers that time too
            log_tail = tail.text()
            loop = asyncio.get_running_loop()
            self._torn = loop.create_future()
            self.post_runtime = loop.create_task(self._post_runtime(report, watch, deadline, timer))
        else:
            timer.cancel()
            log_tail = await self._close_invocation(report, duration, fatal)
        return Outcome(
            payload=payload,
            error_type=error_header,
            status=status or ("error" if error_header else "success"),
            report_error_type=report_error,
            duration_ms=duration,
            init_duration_ms=init_ms,
            max_memory_mb=round(mem),
            log_tail=log_tail,
        )

    async def _close_invocation(self, report: _Report, duration: float, fatal: bool) -> str:
        """END and REPORT; then idle again, or stopped. Returns the invocation's log tail."""
        plat, now = self.spec.platform, self._clock.now()
        end_line = plat.end(report.request_id)
        if end_line is not None:
            self._logs.emit(end_line)
        r = report
        line = plat.report(
            now,
            r.request_id,
            duration,
            self.spec.memory_mb,
            r.max_memory_mb,
            r.init_ms,
            r.status,
            r.error_type,
        )
        self._logs.emit(line)
        log_tail = self._logs.tail.text() if self._logs.tail is not None else ""
        self._end_invocation()
        # (it may exit right after answering)
        if fatal or self._exit is not None or self.state is State.STOPPED:
            await self.stop()
        else:
            self.state = State.IDLE
            self.last_used = self._clock.monotonic()
        return log_tail

    def _delivered(self, inv: Invocation) -> None:
        """The runtime has the event now: the invocation starts (and is logged as started)."""
        self._logs.emit(self.spec.platform.start(self._clock.now(), inv.request_id, self.spec.version))

    def _end_invocation(self) -> None:
        """The invocation is over: neither its answers nor later lines are its own any more."""
        self._runtime.end_invocation()
        self._logs.tail = None  # (the init tail is gone: init succeeded before any invocation)


def _expire(*futs: asyncio.Future[Result]) -> None:
    """A time limit passed: what waits on `futs` timed out (unless it has its answer already)."""
    for fut in futs:
        if not fut.done():
            fut.set_result(TIMEOUT)
