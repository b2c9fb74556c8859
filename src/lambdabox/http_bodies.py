"""Sending the bodies that are not in memory: a file read in pieces, a stream sent as it comes.

Both go out through a `Sink` (the server's connection, `http_server`) and wait while the client
is behind (the transport's write buffer is over its high-water mark), so a slow reader holds at
most that buffer; one who stops reading is dropped by the connection's send timeout, which ends
the wait. A `StreamingResponse` is sent chunked on HTTP/1.1 (each item one chunk, then the last
chunk) and as raw bytes ended by closing the connection on HTTP/1.0; `StreamAborted` from its
body cuts it off (no last chunk, the connection closed), and its body is always closed (`aclose`),
so whoever feeds it learns that nobody reads on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Protocol

from lambdabox.http_messages import FileResponse, Request, StreamAborted, StreamingResponse

#: what a file is read in
FILE_CHUNK = 256 * 1024


class Sink(Protocol):
    """The connection a body goes out on."""

    @property
    def gone(self) -> bool:
        """The client's connection is closed."""
        ...

    def write(self, data: bytes) -> None: ...

    def head(
        self, status: int, headers: Mapping[str, str], length: int | None, keep: bool, version: str
    ) -> bytes:
        """A response's head (`length` None: the body's length is not known)."""
        ...

    async def drained(self) -> None:
        """Until the client has read enough of what was written (or is gone)."""
        ...


async def send_file(sink: Sink, req: Request, response: FileResponse, keep: bool) -> bool:
    """Send a file (404 if it is gone); False if it could not be sent whole (close the connection)."""
    try:
        f = await asyncio.to_thread(open, response.path, "rb")
    except OSError:
        body = b"404: Not Found"
        head = sink.head(404, {"Content-Type": "text/plain; charset=utf-8"}, len(body), keep, req.version)
        sink.write(head + body)
        return True
    try:
        size = (await asyncio.to_thread(os.fstat, f.fileno())).st_size
        if sink.gone:
            return False
        sink.write(sink.head(200, response.headers, size, keep, req.version))
        if req.method == "HEAD":
            return True
        sent = 0
        while sent < size:
            chunk = await asyncio.to_thread(f.read, FILE_CHUNK)
            if not chunk or sink.gone:
                return False
            sink.write(chunk)
            sent += len(chunk)
            await sink.drained()
        return True
    finally:
        await asyncio.to_thread(f.close)


async def send_stream(sink: Sink, req: Request, response: StreamingResponse, keep: bool) -> bool:
    """Send a streamed body as it comes; False when the connection must close after it (cut
    off, the client gone, or HTTP/1.0, where only the close ends the body)."""
    body = response.body
    chunked = req.version == "1.1"
    keep = keep and chunked
    bodiless = response.status < 200 or response.status in (204, 304) or req.method == "HEAD"
    try:
        if sink.gone:
            return False
        sink.write(sink.head(response.status, response.headers, 0 if bodiless else None, keep, req.version))
        if bodiless:
            return keep
        async for data in body:
            if sink.gone:
                return False
            if data:
                sink.write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
                await sink.drained()
        if sink.gone:
            return False
        if chunked:
            sink.write(b"0\r\n\r\n")
        return keep
    except StreamAborted:
        return False
    finally:
        await close_body(response)


async def close_body(response: StreamingResponse) -> None:
    """Close a streamed body (sent or not): whoever feeds it learns that nobody reads on."""
    aclose = getattr(response.body, "aclose", None)
    if aclose is not None:
        await aclose()
