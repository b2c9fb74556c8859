"""A streamed function's bytes as a function URL's HTTP response (InvokeMode RESPONSE_STREAM): pure.

As on Lambda (https://docs.aws.amazon.com/lambda/latest/dg/config-rs-write-functions.html): a
stream whose content type is `application/vnd.awslambda.http-integration-response` (what Node's
`awslambda.HttpResponseStream.from` sets) opens with a JSON prelude — statusCode, headers, cookies,
the format 2.0 response's fields without its body — ended by 8 NUL bytes; every byte after is the
body. Any other stream is the body of a 200 response with the stream's content type.

`PreludeReader.feed` takes the stream's chunks as they come and hands back the body bytes to
forward; `head` is the response's status and headers once known (at once for a plain stream, after
the delimiter for an integration response). A prelude longer than `MAX_PRELUDE`, not JSON, or not
an object with a valid status is `MalformedStream` (the URL answers 502, as for a malformed
buffered response).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lambdabox.gateway.proxy import MalformedResult, head_v2, safe_headers

HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
DELIMITER = b"\0" * 8
#: the most of a stream read while looking for the prelude's end
MAX_PRELUDE = 1 << 20
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class MalformedStream(Exception):
    """The stream's prelude cannot be read as an HTTP response head."""


@dataclass(frozen=True)
class StreamHead:
    status: int
    headers: list[tuple[str, str]]


def _parse_prelude(raw: bytes) -> StreamHead:
    try:
        result = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as e:
        raise MalformedStream("the prelude is not JSON") from e
    if not isinstance(result, dict):
        raise MalformedStream("the prelude is not a JSON object")
    result.setdefault("statusCode", 200)
    try:
        status, headers = head_v2(result)
    except MalformedResult as e:
        raise MalformedStream(str(e)) from e
    headers = safe_headers(headers)
    if not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", DEFAULT_CONTENT_TYPE))
    return StreamHead(status, headers)


class PreludeReader:
    """One stream's reader: `feed` each chunk, forward what it returns, `finish` at the end."""

    def __init__(self, content_type: str | None) -> None:
        self._integration = (content_type or "").split(";")[0].strip().lower() == HTTP_INTEGRATION
        self._pending = b""
        self.head: StreamHead | None = None
        if not self._integration:
            self.head = StreamHead(200, [("Content-Type", content_type or DEFAULT_CONTENT_TYPE)])

    def feed(self, data: bytes) -> bytes:
        """The body bytes of `data` (b"" while the prelude is still being read)."""
        if self.head is not None:
            return data
        self._pending += data
        end = self._pending.find(DELIMITER)
        if end < 0:
            if len(self._pending) > MAX_PRELUDE:
                raise MalformedStream("no end of the prelude")
            return b""
        self.head = _parse_prelude(self._pending[:end])
        body, self._pending = self._pending[end + len(DELIMITER) :], b""
        return body

    def finish(self) -> bytes:
        """At the stream's end: a prelude never ended by the delimiter is the whole head."""
        if self.head is None:
            self.head = _parse_prelude(self._pending)
            self._pending = b""
        return b""
