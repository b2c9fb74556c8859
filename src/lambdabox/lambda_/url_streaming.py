"""A RESPONSE_STREAM function URL's answer: the streamed invocation as an HTTP response whose body
goes out as the function writes it.

The head is what the stream's prelude says (`url_stream.PreludeReader`: an integration response's
status, headers and cookies, else 200 with the stream's content type), so the stream is read up
to the prelude's end before anything is sent; every byte after goes on as it comes. What cannot
be answered as a stream is answered whole, as a BUFFERED URL answers: a function that did not
stream (its result read as format 2.0), or one that failed or sent a malformed prelude before its
head was known (502). A stream that fails after its head was sent (an error in its trailers, a
timeout, the 20 MB limit) is cut off (`StreamAborted`): the client sees an incomplete body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass

from lambdabox.gateway.proxy import GatewayResponse, MalformedResult, read_v2
from lambdabox.http_messages import StreamAborted
from lambdabox.lambda_.invoke_stream import Streamed
from lambdabox.lambda_.response_stream import Abandoning
from lambdabox.lambda_.url_stream import MalformedStream, PreludeReader


@dataclass(frozen=True)
class StreamedHttp:
    """The head of a streamed answer, and its body as it comes."""

    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterable[bytes]


def bad_gateway() -> GatewayResponse:
    """Lambda's answer when a function's response cannot be sent."""
    body = json.dumps({"Message": "Internal Server Error"}, separators=(",", ":")).encode()
    return GatewayResponse(502, [("Content-Type", "application/json")], body)


async def answer(streamed: Streamed) -> GatewayResponse | StreamedHttp:
    """The URL's answer to a started invocation."""
    stream = streamed.stream
    if not streamed.streaming:
        result, error = await streamed.result()
        if result is None or error is not None:
            return bad_gateway()
        try:
            return read_v2(bytes(result["Payload"]))
        except MalformedResult:
            return bad_gateway()
    reader = PreludeReader(stream.content_type)
    chunks = stream.chunks()
    first = b""
    try:
        while reader.head is None:
            try:
                data = await anext(chunks)
            except StopAsyncIteration:
                first = reader.finish()
                break
            first = reader.feed(data)
    except MalformedStream:
        stream.abandon()
        return bad_gateway()
    head = reader.head
    assert head is not None
    if stream.ended and stream.error is not None and not first and not stream.unread:
        stream.abandon()
        return bad_gateway()  # (it failed before a byte of its body)
    return StreamedHttp(head.status, head.headers, Abandoning(_body(streamed, chunks, first), stream))


async def _body(
    streamed: Streamed, chunks: AsyncIterator[bytes], first: bytes
) -> AsyncGenerator[bytes, None]:
    stream = streamed.stream
    try:
        if first:
            yield first
        async for data in chunks:
            yield data
        if stream.error is not None:
            raise StreamAborted(f"{stream.error.error_type}: {stream.error.message}")
    finally:
        stream.abandon()  # (the client may be gone: the function runs on, unread)
