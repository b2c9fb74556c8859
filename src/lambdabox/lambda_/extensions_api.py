"""One environment's Extensions API (2020-01-01): its extensions, their events and their failures.

`Extensions` is what an environment's listener answers under ``/2020-01-01/extension/``: it
registers extensions (external ones, the executables in ``/opt/extensions`` that lambdabox's
launcher started, by file name; internal ones, any other name, from inside the runtime's process,
during init only), hands each the INVOKE and SHUTDOWN events it registered for through
``event/next``, and records ``init/error`` and ``exit/error``. The environment's state machine
asks it whether every external extension has registered (then the runtime may start), whether
every extension is ready (called next: the init phase, or an event, is over for it), and learns of
the first fatal failure (an init error, an extension's exit) through `failure`. Refusals are the
ones AWS's Runtime API gives (403 with ``Extension.*`` error types).

The Telemetry API (2022-07-01) and the Logs API (2020-08-15) subscriptions are not served: they
are answered as AWS's own emulator answers them (202, ``Telemetry.NotSupported`` /
``Logs.NotSupported``), so that an extension keeps running, and the function's log says so.
"""

from __future__ import annotations

import asyncio
import enum
import json
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from lambdabox.lambda_ import logs as platform_log
from lambdabox.lambda_.models import Invocation
from lambdabox.lambda_.runtime_api import NextEvent, Reply, RuntimeApiError

PREFIX = "/2020-01-01/extension/"
TELEMETRY = "/2022-07-01/telemetry"
LOGS = "/2020-08-15/logs"
#: how long extensions have for SHUTDOWN when an external one is registered (AWS: 2,000 ms)
SHUTDOWN_LIMIT = 2.0
EVENTS = frozenset({"INVOKE", "SHUTDOWN"})


class Phase(enum.Enum):
    """Where an extension is in its lifecycle."""

    LAUNCHED = "Launched"  # external: started, not registered yet
    REGISTERED = "Registered"
    READY = "Ready"  # waiting in (or has returned from a) next with nothing outstanding
    BUSY = "Busy"  # has been handed an event it has not acknowledged with next yet
    EXIT_ERROR = "ExitError"  # reported exit/error: nothing more is allowed but its exit
    EXITED = "Exited"


@dataclass(frozen=True)
class Failure:
    """The first fatal extension failure: AWS's error type and the message that names it."""

    error_type: str  # Extension.Crash, Extension.InitError, Extension.ExitError, Extension.LaunchError
    message: str  # without the "RequestId: ... Error: " prefix


@dataclass
class Extension:
    """One extension of this environment."""

    name: str
    external: bool
    ident: str = ""
    events: frozenset[str] = frozenset()
    phase: Phase = Phase.LAUNCHED
    waiter: asyncio.Future[NextEvent] | None = None
    queued: list[NextEvent] = field(default_factory=list)
    exit_error: str | None = None

    def events_label(self) -> str:
        return "[" + ",".join(e for e in ("INVOKE", "SHUTDOWN") if e in self.events) + "]"


@dataclass(frozen=True)
class Metadata:
    """What register answers with."""

    function_name: str
    function_version: str
    handler: str
    account_id: str


_ACCEPTED = Reply(202, b'{"status":"OK"}\n')


def _forbidden(error_type: str, message: str) -> RuntimeApiError:
    return RuntimeApiError(403, error_type, message)


class Extensions:
    """The Extensions API of one environment (see the module docstring)."""

    def __init__(
        self,
        external: tuple[str, ...],
        metadata: Metadata,
        *,
        log: Callable[[str], None],
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        """`external`: the file names in /opt/extensions the launcher starts. `log`: writes a line
        to the function's log. `changed`: called whenever an extension becomes ready or exits."""
        self._meta = metadata
        self._log = log
        self._changed = changed
        self.by_name: dict[str, Extension] = {n: Extension(n, True) for n in external}
        self._by_id: dict[str, Extension] = {}
        self.registration_open = True
        self.shutting_down = False  # SHUTDOWN was sent: exits from now on are expected
        self.failure: asyncio.Future[Failure] = asyncio.get_running_loop().create_future()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    # -- the environment's side ---------------------------------------------------------------
    @property
    def any_registered(self) -> bool:
        return bool(self._by_id)

    @property
    def registered(self) -> list[Extension]:
        return [e for e in self.by_name.values() if e.ident]

    def all_registered(self) -> bool:
        """Every external extension has registered (the runtime may start)."""
        return all(e.ident for e in self.by_name.values() if e.external)

    def all_ready(self) -> bool:
        """No registered, living extension has an event (or its init) outstanding."""
        return all(e.phase in (Phase.READY, Phase.EXITED) for e in self.registered)

    def wait_for(self, cond: Callable[[], bool]) -> asyncio.Future[None]:
        """A future done once `cond()` holds (checked whenever something changes)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if cond():
            fut.set_result(None)
        else:
            self._waiters.append((cond, fut))
        return fut

    def _notify(self) -> None:
        self._changed()
        still = []
        for cond, fut in self._waiters:
            if fut.done():
                continue
            if cond():
                fut.set_result(None)
            else:
                still.append((cond, fut))
        self._waiters = still

    def close_registration(self) -> None:
        self.registration_open = False

    def invoke(self, inv: Invocation) -> bool:
        """Hand INVOKE to every extension registered for it; False when there is none."""
        body = {
            "eventType": "INVOKE",
            "deadlineMs": inv.deadline_ms,
            "requestId": inv.request_id,
            "invokedFunctionArn": inv.function_arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": inv.trace_id},
        }
        return self._send("INVOKE", body)

    def shutdown(self, reason: str, deadline_ms: int) -> bool:
        """Hand SHUTDOWN to every extension registered for it; False when there is none."""
        self.shutting_down = True
        return self._send(
            "SHUTDOWN", {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms}
        )

    def _send(self, kind: str, body: dict[str, object]) -> bool:
        sent = False
        for ext in self.registered:
            if kind not in ext.events or ext.phase in (Phase.EXITED, Phase.EXIT_ERROR):
                continue
            sent = True
            event = NextEvent(
                body=json.dumps(body).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Lambda-Extension-Event-Identifier": str(uuid.uuid4()),
                },
            )
            ext.phase = Phase.BUSY
            if ext.waiter is not None and not ext.waiter.done():
                ext.waiter.set_result(event)
                ext.waiter = None
            else:
                ext.queued.append(event)
        return sent

    def exited(self, name: str, status: int) -> None:
        """The launcher reports that external extension `name` exited with shell status `status`."""
        ext = self.by_name.get(name)
        if ext is None or ext.phase is Phase.EXITED:
            return
        before = ext.phase
        ext.phase = Phase.EXITED
        if ext.waiter is not None and not ext.waiter.done():
            ext.waiter.cancel()
        if self.shutting_down:
            self._notify()
            return
        reason = _reason(status)
        if not ext.ident and status in (126, 127):
            failure = Failure(
                "Extension.LaunchError", f"fork/exec /opt/extensions/{name}: {_launch_words(status)}"
            )
        elif ext.exit_error is not None:
            failure = Failure("Extension.ExitError", f"Extension {name} exited with error: {reason}")
        else:  # as Lambda words it: the EXTENSION line below names the extension
            failure = Failure("Extension.Crash", reason)
        self._log(f"EXTENSION\tName: {name}\tState: {before.value}\tEvents: {ext.events_label()}")
        if not self.failure.done():
            self.failure.set_result(failure)
        self._notify()

    def stop(self) -> None:
        """The environment stopped: extensions waiting in next get nothing more."""
        for ext in self.by_name.values():
            if ext.waiter is not None and not ext.waiter.done():
                ext.waiter.set_exception(RuntimeApiError(500, "Extension.Stopped", "environment stopped"))
                ext.waiter = None

    # -- the extensions' side (called by the Runtime API listener) ----------------------------
    async def handle(self, method: bytes, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one Extensions, Telemetry or Logs API request (raises `RuntimeApiError`)."""
        if path in (TELEMETRY, LOGS):
            return self._subscribe(path, headers)
        rest = path[len(PREFIX) :]
        if rest == "register" and method == b"POST":
            return self._register(headers, body)
        if rest == "event/next" and method == b"GET":
            ext = self._caller(headers, "Ready")
            event = await self._next(ext)
            return Reply(200, event.body, event.headers)
        if rest in ("init/error", "exit/error") and method == b"POST":
            ext = self._caller(headers, "ExitError" if rest == "exit/error" else "InitError")
            return self._error(ext, rest, headers)
        if rest in ("register", "event/next", "init/error", "exit/error"):
            raise RuntimeApiError(405, "MethodNotAllowed", "method not allowed")
        raise RuntimeApiError(404, "NotFound", "not found")

    def _register(self, headers: dict[str, str], body: bytes) -> Reply:
        name = headers.get("lambda-extension-name", "")
        if not name:
            raise _forbidden("Extension.InvalidExtensionName", "Empty extension name")
        try:
            parsed = json.loads(body or b"{}")
            events = parsed.get("events", []) if isinstance(parsed, dict) else None
            if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
                raise ValueError("events must be a list of strings")
            if isinstance(parsed, dict) and parsed.get("configurationKeys"):
                raise ValueError("configurationKeys are deprecated; use environment variables instead")
        except ValueError as exc:
            raise _forbidden("InvalidRequestFormat", str(exc)) from None
        known = self.by_name.get(name)
        external = known is not None and known.external
        for e in events:
            if e not in EVENTS:
                raise _forbidden("Extension.InvalidEventType", f"{e}: invalid event type")
            if e == "SHUTDOWN" and not external:
                raise _forbidden(
                    "Extension.InvalidEventType",
                    f"{e}: shutdown event is not supported for internal extensions",
                )
        if not external:  # an internal extension: from the runtime's process, during init
            if not self.registration_open:
                raise _forbidden("Extension.RegistrationClosed", "Extension registration closed already")
            if known is not None:
                raise _forbidden(
                    "Extension.InvalidExtensionState", "Extension with this name already registered"
                )
            ext = self.by_name[name] = Extension(name, False)
        else:
            assert known is not None
            ext = known
        if external and (ext.ident or not self.registration_open):
            raise _forbidden(
                "Extension.InvalidExtensionState",
                f"State transition from {ext.phase.value} to Registered failed for extension {name}. "
                "Error: State transition is not allowed",
            )
        ext.ident, ext.events, ext.phase = str(uuid.uuid4()), frozenset(events), Phase.REGISTERED
        self._by_id[ext.ident] = ext
        answer: dict[str, str] = {
            "functionName": self._meta.function_name,
            "functionVersion": self._meta.function_version,
            "handler": self._meta.handler,
        }
        if "accountId" in headers.get("lambda-extension-accept-feature", ""):
            answer["accountId"] = self._meta.account_id
        self._notify()
        return Reply(200, json.dumps(answer).encode(), {"Lambda-Extension-Identifier": ext.ident})

    def _caller(self, headers: dict[str, str], to: str) -> Extension:
        """The extension calling (by its identifier); after its exit/error nothing more is allowed
        it (as in AWS's state machine: 403 from ExitError to `to`)."""
        ident = headers.get("lambda-extension-identifier")
        if not ident:
            raise _forbidden(
                "Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header"
            )
        try:
            uuid.UUID(ident)
        except ValueError:
            raise _forbidden(
                "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier"
            ) from None
        ext = self._by_id.get(ident)
        if ext is None:
            raise _forbidden("Extension.UnknownExtensionIdentifier", f"Unknown extension {ident}")
        if ext.exit_error is not None:
            raise _forbidden(
                "Extension.InvalidExtensionState",
                f"State transition from {Phase.EXIT_ERROR.value} to {to} failed for extension {ext.name}. "
                "Error: State transition is not allowed",
            )
        return ext

    async def _next(self, ext: Extension) -> NextEvent:
        if ext.waiter is not None and not ext.waiter.done():
            raise _forbidden(
                "Extension.InvalidExtensionState",
                f"State transition from Ready to Ready failed for extension {ext.ident}. "
                "Error: State transition is not allowed",
            )
        if ext.queued:  # it acknowledged its last event and takes the next one at once
            return ext.queued.pop(0)
        if ext.phase is not Phase.EXITED:
            ext.phase = Phase.READY
        ext.waiter = asyncio.get_running_loop().create_future()
        self._notify()
        return await ext.waiter

    def _error(self, ext: Extension, which: str, headers: dict[str, str]) -> Reply:
        error_type = headers.get("lambda-extension-function-error-type")
        if not error_type:
            raise _forbidden("Extension.MissingHeader", "Lambda-Extension-Function-Error-Type not found")
        if which == "exit/error":
            ext.exit_error, ext.phase = error_type, Phase.EXIT_ERROR
            ext.queued.clear()
            self._notify()
            return _ACCEPTED
        if not self.registration_open:  # the init phase is over
            raise _forbidden(
                "Extension.InvalidExtensionState",
                f"State transition from {ext.phase.value} to InitError failed for extension {ext.ident}. "
                "Error: State transition is not allowed",
            )
        if not self.failure.done():
            self.failure.set_result(
                Failure("Extension.InitError", f"Extension {ext.name} reported an init error: {error_type}")
            )
        self._notify()
        return _ACCEPTED

    def _subscribe(self, path: str, headers: dict[str, str]) -> Reply:
        which, kind = (
            ("Telemetry", "Telemetry.NotSupported") if path == TELEMETRY else ("Logs", "Logs.NotSupported")
        )
        ext = self._by_id.get(headers.get("lambda-extension-identifier", ""))
        who = f"extension {ext.name}" if ext is not None else "an extension"
        self._log(f"lambdabox: the {which} API is not supported: {who} subscribed and will receive nothing")
        body = json.dumps({"errorMessage": f"{which} API is not supported", "errorType": kind}).encode()
        return Reply(202, body)

    def report_lines(self) -> list[str]:
        """The EXTENSION lines Lambda writes at the end of a successful init phase."""
        return [
            f"EXTENSION\tName: {e.name}\tState: Ready\tEvents: {e.events_label()}"
            for e in self.registered
            if e.phase not in (Phase.EXITED, Phase.EXIT_ERROR)
        ]


def _reason(status: int) -> str:
    """A shell's exit status in Lambda's words: 128 + n for a signal n the system has is taken for
    that signal (the shell cannot tell it from exit(128 + n)); any other status is an exit status
    (255, as agents exit on a bad configuration, is "exit status 255")."""
    if status > 128:
        try:
            return platform_log.exit_reason(None, signal.Signals(status - 128).name)
        except ValueError:
            pass
    return platform_log.exit_reason(status, None)


def _launch_words(status: int) -> str:
    return "permission denied" if status == 126 else "no such file or directory"
