"""Identifiers in AWS's formats: request ids, revision ids, log stream suffixes."""

from __future__ import annotations

import os
import uuid


def request_id() -> str:
    """A request id as AWS prints it (a random UUID4)."""
    return str(uuid.uuid4())


def revision_id() -> str:
    return str(uuid.uuid4())


def hex_id(nbytes: int = 16) -> str:
    """Random lowercase hex (32 chars by default), as in Lambda log stream names."""
    return os.urandom(nbytes).hex()


def trace_id(epoch_seconds: float) -> str:
    """An X-Ray trace header value: Root=1-<8 hex time>-<24 hex>;Parent=<16 hex>;Sampled=0."""
    return f"Root=1-{int(epoch_seconds):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"
