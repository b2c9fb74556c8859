"""AWS's event stream encoding (application/vnd.amazon.eventstream), the writing side.

A message is: total length and headers length (4 bytes each, big-endian), the CRC32 of those 8
bytes, the headers, the payload, and the CRC32 of everything before it. A header is its name's
length (1 byte) and name, a type (7: string) and the value's length (2 bytes) and value. Each
event is a message with `:message-type` event, `:event-type` (the event's member name in the
model's event-stream union) and `:content-type`. botocore has only the reading side
(`botocore.eventstream`), which the tests decode these messages with.

`encode_events` turns a result's events (pairs of member name and members) into encoded
messages by the model: an event whose member is marked `eventpayload` sends that member raw
(a blob as application/octet-stream, a string as text/plain), any other sends its members as
a JSON object (`encode_members`, the protocol's own JSON encoding).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any

from botocore.model import Shape

_STRING = 7
#: what a large payload is cut into, one message each (botocore reads messages up to 16 MB)
PIECE = 1 << 20

Event = tuple[str, Mapping[str, Any]]
EncodeMembers = Callable[[Shape, Mapping[str, Any]], dict[str, Any]]


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    )


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One message with string `headers` and `payload`."""
    raw_headers = b"".join(_header(n, v) for n, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + raw_headers + payload
    return message + struct.pack("!I", zlib.crc32(message))


def encode_event(event_type: str, payload: bytes, content_type: str) -> bytes:
    """One event message."""
    headers = {":event-type": event_type, ":content-type": content_type, ":message-type": "event"}
    return encode_message(headers, payload)


class EncodedEvents:
    """The encoded messages of one response's events, for the event-stream union `shape`; closing
    it closes `events` (whoever feeds them learns that nobody reads on), iterated or not."""

    def __init__(self, shape: Shape, events: AsyncIterator[Event], encode_members: EncodeMembers) -> None:
        self._events = events
        self._messages = _messages(shape, events, encode_members)

    def __aiter__(self) -> AsyncGenerator[bytes, None]:
        return self._messages

    async def aclose(self) -> None:
        await self._messages.aclose()
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()


def encode_events(shape: Shape, events: AsyncIterator[Event], encode_members: EncodeMembers) -> EncodedEvents:
    """`EncodedEvents` of `events`."""
    return EncodedEvents(shape, events, encode_members)


async def _messages(
    shape: Shape, events: AsyncIterator[Event], encode_members: EncodeMembers
) -> AsyncGenerator[bytes, None]:
    try:
        async for name, members in events:
            for message in _encode(shape.members[name], name, members, encode_members):
                yield message
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def _encode(
    shape: Shape, name: str, members: Mapping[str, Any], encode_members: EncodeMembers
) -> list[bytes]:
    for member, item in shape.members.items():
        if not item.serialization.get("eventpayload"):
            continue
        value = members.get(member)
        if item.type_name == "blob":
            data = bytes(value or b"")
            pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)] or [b""]
            return [encode_event(name, piece, "application/octet-stream") for piece in pieces]
        if item.type_name == "string":
            return [encode_event(name, str(value or "").encode(), "text/plain")]
        body = json.dumps(encode_members(item, value or {})).encode()
        return [encode_event(name, body, "application/json")]
    body = json.dumps(encode_members(shape, members)).encode()
    return [encode_event(name, body, "application/json")]


def stream_member(shape: Shape | None) -> tuple[str, Shape] | None:
    """The event-stream member of an output shape (name and union shape), if it has one."""
    if shape is None:
        return None
    for name, member in shape.members.items():
        if member.serialization.get("eventstream"):
            return name, member
    return None
