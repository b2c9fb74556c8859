"""The prelude of a streamed function URL response (`lambda_/url_stream.py`): the JSON head and its
8-NUL delimiter split anywhere across chunks, plain streams, malformed preludes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdabox.lambda_.url_stream import HTTP_INTEGRATION, MAX_PRELUDE, MalformedStream, PreludeReader

PRELUDE = json.dumps({"statusCode": 201, "headers": {"Content-Type": "text/event-stream", "X-A": 1},
                      "cookies": ["a=1", "b=2"]}).encode()  # fmt: skip


def _read(chunks: list[bytes], content_type: str | None = HTTP_INTEGRATION) -> tuple[PreludeReader, bytes]:
    reader = PreludeReader(content_type)
    body = b"".join(reader.feed(c) for c in chunks) + reader.finish()
    return reader, body


@given(st.binary(max_size=200), st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_the_prelude_and_body_are_found_wherever_the_chunks_split(body: bytes, cuts: list[int]) -> None:
    stream = PRELUDE + b"\0" * 8 + body
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    reader, got = _read(chunks)
    assert got == body
    assert reader.head is not None and reader.head.status == 201
    assert reader.head.headers == [
        ("Content-Type", "text/event-stream"), ("X-A", "1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
    ]  # fmt: skip


def test_body_bytes_are_forwarded_as_soon_as_the_prelude_ended() -> None:
    reader = PreludeReader(HTTP_INTEGRATION)
    assert reader.feed(b'{"statusCode": 200}') == b"" and reader.head is None
    assert reader.feed(b"\0" * 8 + b"first") == b"first" and reader.head is not None
    assert reader.feed(b"\0\0 more") == b"\0\0 more"  # NULs in the body are the body's


def test_a_plain_stream_is_a_200_with_its_content_type_from_the_first_byte() -> None:
    reader = PreludeReader("text/plain")
    assert reader.head is not None and reader.head.status == 200
    assert reader.head.headers == [("Content-Type", "text/plain")]
    assert reader.feed(b'{"statusCode": 500}') == b'{"statusCode": 500}'
    assert PreludeReader(None).head.headers == [("Content-Type", "application/octet-stream")]  # type: ignore[union-attr]


def test_an_empty_integration_stream_is_a_200_with_no_body() -> None:
    reader, body = _read([])
    assert body == b"" and reader.head is not None and reader.head.status == 200


@pytest.mark.parametrize(
    "prelude", [b"not json", b"[1, 2]", b'{"statusCode": 99}', b'{"statusCode": "200"}', b'{"cookies": "x"}']
)
def test_a_malformed_prelude_is_refused(prelude: bytes) -> None:
    with pytest.raises(MalformedStream):
        _read([prelude + b"\0" * 8 + b"body"])


def test_a_prelude_that_never_ends_is_refused_once_over_the_limit() -> None:
    reader = PreludeReader(HTTP_INTEGRATION)
    with pytest.raises(MalformedStream):
        for _ in range(MAX_PRELUDE // 65536 + 2):
            reader.feed(b"x" * 65536)


def test_a_function_cannot_set_framing_headers_or_split_the_head() -> None:
    head = json.dumps({"headers": {"Transfer-Encoding": "identity", "X-Bad": "a\r\nInjected: 1", "Ok": "y"}})
    reader, _ = _read([head.encode() + b"\0" * 8])
    assert reader.head is not None
    assert reader.head.headers == [("Ok", "y"), ("Content-Type", "application/octet-stream")]
