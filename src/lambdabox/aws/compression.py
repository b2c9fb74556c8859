"""Request bodies sent compressed: botocore gzips the body of an operation with the
`requestcompression` trait (CloudWatch's PutMetricData) once it is larger than 10 KiB, and says
so with `Content-Encoding: gzip` (only such services' requests are decoded: elsewhere the header
is the client's business, as on AWS). The edge verifies the signature over the bytes as sent and
parses them decompressed, bounded by the operation's body limit (no gzip bomb)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from lambdabox.aws.errors import client_error
from lambdabox.aws.limits import RequestLimit


def decoded_body(headers: Mapping[str, str], body: bytes, limit: RequestLimit) -> bytes:
    """The body as the operation reads it: gunzipped when the request says it is gzip."""
    encodings = [e.strip().lower() for e in (headers.get("content-encoding") or "").split(",") if e.strip()]
    if "gzip" not in encodings:
        return body
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit.size + 1)
    except zlib.error as exc:
        raise client_error("SerializationException", "The request body is not valid gzip.") from exc
    if len(out) > limit.size or inflater.unconsumed_tail:
        raise limit.error(len(out))
    if not inflater.eof:
        raise client_error("SerializationException", "The request body is not valid gzip.")
    return out
