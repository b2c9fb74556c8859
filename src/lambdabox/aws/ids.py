"""Identifiers in AWS's formats: request ids, revision ids, log stream suffixes."""

from __future__ import annotations

import os
import random
import uuid

#: request ids identify, they guard nothing (they are shown to functions and in logs): a
#: non-cryptographic generator, seeded from the OS, saves a system call on every request
_random = random.Random(os.urandom(32))
_VERSION_4 = (0x4 << 76) | (0x2 << 62)
_CLEAR = ~((0xF << 76) | (0x3 << 62))


def random_uuid() -> str:
    """A random (version 4) UUID as text, built without uuid.UUID's overhead or a system call:
    for ids that name things without guarding them (request ids, SQS and SNS message ids)."""
    x = f"{(_random.getrandbits(128) & _CLEAR) | _VERSION_4:032x}"
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def request_id() -> str:
    """A request id as AWS prints it: a random UUID."""
    return random_uuid()


def revision_id() -> str:
    return str(uuid.uuid4())


def hex_id(nbytes: int = 16) -> str:
    """Random lowercase hex (32 chars by default), as in Lambda log stream names."""
    return os.urandom(nbytes).hex()


def trace_id(epoch_seconds: float) -> str:
    """An X-Ray trace header value: Root=1-<8 hex time>-<24 hex>;Parent=<16 hex>;Sampled=0."""
    return f"Root=1-{int(epoch_seconds):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"
