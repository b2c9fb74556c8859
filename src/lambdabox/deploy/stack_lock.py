"""One deploy of a stack at a time, as CloudFormation refuses an update while the stack is
UPDATE_IN_PROGRESS: an exclusive lock file per (endpoint, region, stack) under the user's cache
directory, held while a deploy or remove runs. Two processes of one user on one machine are what
it covers (the common case: a `--watch` and a hand-run `deploy`); it is released by the kernel
when the process dies."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path


class StackBusy(Exception):
    """Another deploy or remove of the stack is running."""


def lock_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lambdabox" / "stack-locks"


@contextlib.contextmanager
def held(endpoint_url: str, region: str, stack: str) -> Iterator[None]:
    """Hold the stack's lock for the block (StackBusy if another process holds it)."""
    key = hashlib.sha256(f"{endpoint_url.rstrip('/')}|{region}|{stack}".encode()).hexdigest()[:24]
    where = lock_dir()
    where.mkdir(parents=True, exist_ok=True)
    fd = os.open(where / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackBusy(
                f"Stack {stack} is being deployed or removed by another process: try again when it is done"
            ) from None
        yield
    finally:
        os.close(fd)
