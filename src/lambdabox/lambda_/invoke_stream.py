"""Invocations whose answer may come as a stream: InvokeWithResponseStream, and the start of a
RESPONSE_STREAM function URL's invocation (`url_streaming.py`).

`start_streamed` runs an invocation with a `ResponseStream` for it and returns as soon as the
runtime started streaming, or the invocation ended without streaming (a function that answers
whole: its Result is then all there is), or was refused (the ServiceError is raised, as Invoke
would raise it, before any byte is sent). When the invocation ends some other way while
streaming (a timeout, the runtime's exit), the stream ends with that error.

InvokeWithResponseStream answers with the stream's content type and an event stream
(`aws/event_stream.py`): a `PayloadChunk` per piece the function wrote, then `InvokeComplete`
with ErrorCode (the error's type) and ErrorDetails (its message) when the function failed, and
LogResult for LogType Tail. A function that does not stream gives one PayloadChunk of its whole
answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
from lambdabox.lambda_ import checks
from lambdabox.lambda_.base import Params, Result, Target
from lambdabox.lambda_.invoke import InvokeOperations, check_size, checked_payload
from lambdabox.lambda_.lineage import Lineage
from lambdabox.lambda_.response_stream import Abandoning, ResponseStream, StreamError

Event = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Streamed:
    """An invocation that started: its stream, the task running it (its Result as Invoke's)
    and the version it runs."""

    stream: ResponseStream
    run: asyncio.Task[Result]
    executed_version: str

    @property
    def streaming(self) -> bool:
        """The runtime answers as a stream (else the Result holds the whole answer)."""
        return self.stream.started

    async def result(self) -> tuple[Result | None, StreamError | None]:
        """The invocation's Result (None if it was refused) and how it failed, if it did."""
        try:
            result = await self.run
        except ServiceError as exc:
            return None, StreamError(exc.code, exc.message)
        return result, self.stream.error or function_error(result)


def function_error(result: Result) -> StreamError | None:
    """A function error of a buffered Result (its payload's errorType and errorMessage)."""
    if not result.get("FunctionError"):
        return None
    try:
        data = json.loads(bytes(result["Payload"]))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return StreamError(str(result["FunctionError"]), "")
    return StreamError(str(data.get("errorType") or "Unhandled"), str(data.get("errorMessage") or ""))


def _ended_by(run: asyncio.Task[Result]) -> StreamError | None:
    """How the invocation's end ends a stream still open (a timeout, an exit, a refusal)."""
    if run.cancelled():
        return StreamError("ServiceException", "The invocation was cancelled.")
    exc = run.exception()
    if isinstance(exc, ServiceError):
        return StreamError(exc.code, exc.message)
    if exc is not None:
        return StreamError("ServiceException", "An internal error occurred.")
    return function_error(run.result())


class InvokeStreamOperations(InvokeOperations):
    """InvokeWithResponseStream, and streamed invocations for lambdabox's own services."""

    async def InvokeWithResponseStream(self, ctx: RequestContext, params: Params) -> Result:
        target = self._target(ctx, params["FunctionName"], params.get("Qualifier"))
        payload = checked_payload(params)
        client_context = checks.client_context(params.get("ClientContext"))
        if params.get("InvocationType") == "DryRun":
            return {"StatusCode": 204}
        tail = params.get("LogType") == "Tail"
        lineage = Lineage.of_trace_header(ctx.trace_header)
        streamed = await self.start_streamed(ctx, target, payload, client_context, tail, lineage)
        out: Result = {
            "StatusCode": 200,
            "ExecutedVersion": streamed.executed_version,
            "ResponseStreamContentType": streamed.stream.content_type,
            "EventStream": Abandoning(_events(streamed), streamed.stream),
        }
        return out

    async def invoke_streamed(self, ctx: RequestContext, function_name: str, event: bytes) -> Streamed:
        """`invoke_event` for a caller that forwards a streamed answer as it comes."""
        target = self._target(ctx, function_name)
        check_size(event)
        lineage = Lineage.of_trace_header(ctx.trace_header)
        return await self.start_streamed(ctx, target, event, None, False, lineage)

    async def start_streamed(
        self,
        ctx: RequestContext,
        target: Target,
        payload: bytes,
        client_context: str | None,
        tail: bool,
        lineage: Lineage,
    ) -> Streamed:
        """Run the invocation until it streams or ends; a refusal is raised."""
        stream = ResponseStream()
        cfg = self.pick(target)
        run = asyncio.get_running_loop().create_task(
            self._run_target(
                ctx, target, payload, client_context, tail=tail, lineage=lineage, cfg=cfg, stream=stream
            )
        )
        run.add_done_callback(lambda task: stream.close(_ended_by(task)))
        started = asyncio.ensure_future(stream.wait_started())
        try:
            await asyncio.wait((run, started), return_when=asyncio.FIRST_COMPLETED)
        finally:
            started.cancel()
        if run.done() and not stream.started:
            run.result()  # (a refusal raises here)
        return Streamed(stream, run, cfg.version)


async def _events(streamed: Streamed) -> AsyncGenerator[Event, None]:
    """The event stream of an InvokeWithResponseStream answer."""
    stream = streamed.stream
    try:
        if streamed.streaming:
            async for chunk in stream.chunks():
                yield "PayloadChunk", {"Payload": chunk}
        result, error = await streamed.result()
        if not streamed.streaming and result is not None and result.get("Payload"):
            yield "PayloadChunk", {"Payload": bytes(result["Payload"])}
        complete: dict[str, Any] = {}
        if error is not None:
            complete["ErrorCode"] = error.error_type
            complete["ErrorDetails"] = error.message
        if result is not None and "LogResult" in result:
            complete["LogResult"] = result["LogResult"]
        yield "InvokeComplete", complete
    finally:
        stream.abandon()  # (the client may be gone: the function runs on, unread)
