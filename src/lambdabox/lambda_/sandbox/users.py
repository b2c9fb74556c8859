"""The sandbox users: one unprivileged uid (and gid) per live execution environment.

In full mode every environment runs as a uid of its own, taken from a range no host account
uses, so that one environment's processes, files and sockets are never another's: the kernel's
ordinary permission checks (signals, ptrace, /proc, RLIMIT_NPROC, socket ownership) then separate
environments from each other and from the server. A uid returns to the pool when its
environment has been cleaned up (its pid namespace and cgroup are empty and its private /tmp is
gone), so nothing it owned outlives it. Several lambdabox servers on one host share the range:
each uid in use is held by an exclusive `flock` on ``/run/lambdabox/uids/<uid>`` (a root-only
directory), so no two servers ever hand out the same uid; the kernel drops the lock when the
holder exits, however it exits. Lambda's own sandbox user is ``sbx_user1051``; every uid
here is named that way in the environment's /etc/passwd.
"""

from __future__ import annotations

import errno
import fcntl
import heapq
import logging
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("lambdabox.sandbox")

#: first uid of the range and its size (outside what distributions hand out to accounts)
UID_BASE = 993_000
UID_COUNT = 2048
USER_NAME = "sbx_user1051"
#: where servers on this host lease uids from each other (root-only, on tmpfs)
LOCK_DIR = Path("/run/lambdabox/uids")


@dataclass(frozen=True)
class Identity:
    """Who an environment runs as."""

    uid: int
    gid: int


class SandboxUsers:
    """Hands out the range's uids, lowest free first; refuses uids that name a host account."""

    def __init__(
        self, base: int = UID_BASE, count: int = UID_COUNT, lock_dir: Path | None = LOCK_DIR
    ) -> None:
        """`lock_dir`: where uids are leased between servers (None: this server is alone)."""
        self.base = base
        self.count = count
        self._lock_dir = lock_dir
        self._free = [uid for uid in range(base, base + count) if not _host_account(uid)]
        heapq.heapify(self._free)
        self._used: dict[int, int | None] = {}  # uid -> the fd holding its lease

    def owns(self, uid: int) -> bool:
        """True if `uid` is one of the sandbox's (in use or not)."""
        return self.base <= uid < self.base + self.count

    def acquire(self) -> Identity:
        """The lowest uid neither this server nor another on the host is using."""
        skipped: list[int] = []
        try:
            while self._free:
                uid = heapq.heappop(self._free)
                lease = self._lease(uid)
                if lease is not False:
                    self._used[uid] = lease
                    return Identity(uid, uid)
                skipped.append(uid)  # another server's, for now
        finally:
            for uid in skipped:
                heapq.heappush(self._free, uid)
        raise OSError(errno.EAGAIN, f"all {self.count} sandbox uids are in use")

    def release(self, ident: Identity) -> None:
        if ident.uid in self._used:
            lease = self._used.pop(ident.uid)
            if lease is not None:
                os.close(lease)
            heapq.heappush(self._free, ident.uid)

    def _lease(self, uid: int) -> int | bool | None:
        """An fd holding `uid`'s host-wide lease, None without a lock dir, False if taken."""
        if self._lock_dir is None:
            return None
        try:
            self._lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self._lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            log.warning(
                "sandbox: cannot lease uids in %s (%s): another lambdabox server on this host "
                "could hand out the same uids", self._lock_dir, exc,
            )  # fmt: skip
            self._lock_dir = None
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        return fd

    @property
    def in_use(self) -> int:
        return len(self._used)

    def close(self) -> None:
        """Give every lease back (the server is stopping)."""
        for uid in list(self._used):
            self.release(Identity(uid, uid))

    def passwd_lines(self) -> list[str]:
        """/etc/passwd and /etc/group entries for the range (the environment's view)."""
        return [
            f"{USER_NAME}:x:{uid}:{uid}::/tmp:/sbin/nologin"
            for uid in range(self.base, self.base + self.count)
        ]


def _host_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True
