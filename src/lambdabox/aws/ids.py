"""Identifiers in AWS's formats: request ids, revision ids, log stream suffixes."""

from __future__ import annotations

import os
import uuid


def request_id() -> str:
    """A request id as AWS prints it: a random (version 4) UUID, built without uuid.UUID's overhead."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def revision_id() -> str:
    return str(uuid.uuid4())


def hex_id(nbytes: int = 16) -> str:
    """Random lowercase hex (32 chars by default), as in Lambda log stream names."""
    return os.urandom(nbytes).hex()


def trace_id(epoch_seconds: float) -> str:
    """An X-Ray trace header value: Root=1-<8 hex time>-<24 hex>;Parent=<16 hex>;Sampled=0."""
    return f"Root=1-{int(epoch_seconds):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"
