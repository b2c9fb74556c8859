"""One environment's side of the Runtime API: hand events to its runtime and collect its answers.

`EnvironmentEndpoint` is the `RuntimeEndpoint` behind an environment's listener. It hands an
invocation's event to a runtime waiting in /next (or queues it until the runtime asks), refuses
calls that do not fit the current state (AWS's InvalidRequestID and InvalidStateTransition), and
reports how the init phase and each invocation ended as a typed `Result`, which the environment's
state machine awaits. Ends the runtime does not report itself (timeout, exit) are settled by the
environment through the same futures.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass

from lambdabox.lambda_.extensions_api import Extensions
from lambdabox.lambda_.models import Invocation
from lambdabox.lambda_.response_stream import ResponseStream, StreamError
from lambdabox.lambda_.runtime_api import NextEvent, Reply, RuntimeApiError, StreamedResponse


class ResultKind(enum.Enum):
    """How an init phase or an invocation ended."""

    READY = "ready"  # init: the runtime asked for its first event
    INIT_ERROR = "init_error"  # init: the runtime reported /init/error
    RESPONSE = "response"  # invoke: /response
    TOO_LARGE = "too_large"  # invoke: /response, over the synchronous payload limit
    ERROR = "error"  # invoke: /error
    TIMEOUT = "timeout"  # init or invoke: the time limit passed
    EXIT = "exit"  # init or invoke: the runtime exited first
    EXTENSION = "extension"  # init or invoke: an extension failed (error_type: Extension.*)
    UNDELIVERED = "undelivered"  # invoke: the runtime exited before it took the event


@dataclass(frozen=True)
class Result:
    """An init phase's or an invocation's end: its kind, body and the runtime's error type."""

    kind: ResultKind
    body: bytes = b""
    error_type: str | None = None  # Lambda-Runtime-Function-Error-Type, for INIT_ERROR and ERROR


READY = Result(ResultKind.READY)
TIMEOUT = Result(ResultKind.TIMEOUT)
EXIT = Result(ResultKind.EXIT)
UNDELIVERED = Result(ResultKind.UNDELIVERED)


@dataclass
class _Pending:
    """The invocation in this environment: answered at most once."""

    inv: Invocation
    result: asyncio.Future[Result]
    responded: bool = False


class EnvironmentEndpoint:
    """The Runtime API as one environment answers it (a `runtime_api.RuntimeEndpoint`).

    `delivered(inv)` is called when the runtime takes an invocation's event (the invocation
    starts); `stopped()` says whether the environment refuses /next altogether."""

    def __init__(self, *, delivered: Callable[[Invocation], None], stopped: Callable[[], bool]) -> None:
        self._delivered = delivered
        self._stopped = stopped
        self._waiter: asyncio.Future[NextEvent] | None = None  # a runtime blocked in /next
        self._queued: NextEvent | None = None  # an event handed over before the runtime asked
        self._init: asyncio.Future[Result] | None = None
        self._pending: _Pending | None = None
        self._connections = 0
        self._no_connections = asyncio.Event()
        self._no_connections.set()
        #: the environment's Extensions API, once it has one
        self.extensions: Extensions | None = None

    # -- the state machine's side -----------------------------------------------------------
    def begin_init(self) -> asyncio.Future[Result]:
        """The init phase starts: its end (READY, INIT_ERROR, or what the environment sets)."""
        self._init = asyncio.get_running_loop().create_future()
        return self._init

    def deliver(self, inv: Invocation) -> asyncio.Future[Result]:
        """Hand `inv` to the runtime (now if it waits in /next, else at its next /next): its end."""
        pending = _Pending(inv=inv, result=asyncio.get_running_loop().create_future())
        self._pending = pending
        event = NextEvent(body=inv.payload, headers=_next_headers(inv))
        if self._waiter is not None and not self._waiter.done():
            self._delivered(inv)
            self._waiter.set_result(event)
            self._waiter = None
        else:
            self._queued = event
        return pending.result

    def end_invocation(self) -> None:
        """The invocation is over: the runtime's further answers for it are InvalidRequestID."""
        self._pending = None

    @property
    def invoking(self) -> bool:
        """An invocation was handed over and is not over yet."""
        return self._pending is not None

    def runtime_exited(self) -> None:
        """The runtime's process is gone: settle the init phase or the invocation waiting on it."""
        if self._init is not None and not self._init.done():
            self._init.set_result(EXIT)
        if self._pending is not None and not self._pending.result.done():
            self._pending.result.set_result(UNDELIVERED if self._queued is not None else EXIT)

    def refuse_waiting(self) -> None:
        """The environment stopped: a runtime blocked in /next gets 500 Runtime.Stopped."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(RuntimeApiError(500, "Runtime.Stopped", "environment stopped"))

    def cancel_waiting(self) -> None:
        """The runtime exited: drop the /next it may have left waiting."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()

    async def disconnected(self) -> None:
        """Wait until the runtime has no connection open (all it sent has been handled)."""
        await self._no_connections.wait()

    # -- the runtime's side (called by RuntimeApiServer) ------------------------------------
    async def next_invocation(self) -> NextEvent:
        if self._stopped():
            raise RuntimeApiError(500, "Runtime.Stopped", "environment stopped")
        if self._pending is not None and not self._pending.responded and self._queued is None:
            raise RuntimeApiError(
                403, "InvalidStateTransition", "State transition from Invoke to Next is not allowed"
            )
        if self._waiter is not None and not self._waiter.done():
            # one consumer, as on AWS: a second waiter never takes the event from the first
            raise RuntimeApiError(
                403, "InvalidStateTransition", "State transition from Next to Next is not allowed"
            )
        if self._init is not None and not self._init.done():
            self._init.set_result(READY)
        if self._queued is not None:
            ev, self._queued = self._queued, None
            if self._pending is not None:
                self._delivered(self._pending.inv)
            return ev
        self._waiter = asyncio.get_running_loop().create_future()
        return await self._waiter

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
        if not p.result.done():
            p.result.set_result(Result(ResultKind.TOO_LARGE if too_large else ResultKind.RESPONSE, body))

    def post_error(self, request_id: str, error_type: str | None, body: bytes) -> None:
        p = self._current(request_id)
        p.responded = True
        if not p.result.done():
            p.result.set_result(Result(ResultKind.ERROR, body or b"{}", error_type))

    def begin_stream(self, request_id: str, content_type: str | None) -> ResponseStream | None:
        p = self._current(request_id)
        stream = p.inv.stream
        if stream is not None:
            stream.begin(content_type)
        return stream

    def end_stream(self, request_id: str, response: StreamedResponse) -> None:
        p = self._current(request_id)
        p.responded = True
        stream, error_type = p.inv.stream, response.error_type
        if error_type is not None:
            body = response.error_body or b"{}"
            if stream is not None:
                stream.finish(StreamError(error_type, _error_message(body)))
            result = Result(ResultKind.ERROR, body, error_type)
        else:
            if stream is not None:
                stream.finish()
            kind = ResultKind.TOO_LARGE if response.too_large else ResultKind.RESPONSE
            result = Result(kind, response.body)
        if not p.result.done():
            p.result.set_result(result)

    def post_init_error(self, error_type: str | None, body: bytes) -> None:
        if self._init is None or self._init.done():
            raise RuntimeApiError(
                403, "InvalidStateTransition", "State transition from Ready to InitError failed"
            )
        self._init.set_result(Result(ResultKind.INIT_ERROR, body or b"{}", error_type))

    async def extension_request(
        self, method: bytes, path: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        if self.extensions is None:
            raise RuntimeApiError(404, "NotFound", "not found")
        return await self.extensions.handle(method, path, headers, body)

    def connections_changed(self, delta: int) -> None:
        self._connections += delta
        if self._connections == 0:
            self._no_connections.set()
        else:
            self._no_connections.clear()


def _error_message(body: bytes) -> str:
    """The errorMessage of a runtime's error body (the body itself if it has none)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
    message = data.get("errorMessage") if isinstance(data, dict) else None
    return message if isinstance(message, str) else body.decode("utf-8", "replace")


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
