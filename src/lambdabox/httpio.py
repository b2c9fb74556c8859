"""Small HTTP helpers shared by the edge and the Runtime API (reading bodies with a bound)."""

from __future__ import annotations

from aiohttp import web


async def read_limited(request: web.BaseRequest, limit: int) -> tuple[bytes, bool]:
    """Read the body up to `limit` bytes; (b"", True) if it was larger (the rest is read and dropped)."""
    length = request.content_length
    if length is not None and length <= limit:
        return (await request.content.readexactly(length) if length else b""), False
    chunks: list[bytes] = []
    size = 0
    too_large = False
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            too_large = True
            chunks.clear()
            continue
        chunks.append(chunk)
    return (b"" if too_large else b"".join(chunks)), too_large
