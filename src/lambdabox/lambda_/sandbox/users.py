"""The sandbox users: one unprivileged uid (and gid) per live execution environment.

In full mode every environment runs as a uid of its own, taken from a range no host account
uses, so that one environment's processes, files and sockets are never another's: the kernel's
ordinary permission checks (signals, ptrace, /proc, RLIMIT_NPROC, socket ownership) then separate
environments from each other and from the server. A uid returns to the pool when its
environment has been cleaned up (its pid namespace and cgroup are empty and its private /tmp is
gone), so nothing it owned outlives it. Lambda's own sandbox user is ``sbx_user1051``; every uid
here is named that way in the environment's /etc/passwd.
"""

from __future__ import annotations

import heapq
import pwd
from dataclasses import dataclass

#: first uid of the range and its size (outside what distributions hand out to accounts)
UID_BASE = 993_000
UID_COUNT = 2048
USER_NAME = "sbx_user1051"


@dataclass(frozen=True)
class Identity:
    """Who an environment runs as."""

    uid: int
    gid: int


class SandboxUsers:
    """Hands out the range's uids, lowest free first; refuses uids that name a host account."""

    def __init__(self, base: int = UID_BASE, count: int = UID_COUNT) -> None:
        self.base = base
        self.count = count
        self._free = [uid for uid in range(base, base + count) if not _host_account(uid)]
        heapq.heapify(self._free)
        self._used: set[int] = set()

    def owns(self, uid: int) -> bool:
        """True if `uid` is one of the sandbox's (in use or not)."""
        return self.base <= uid < self.base + self.count

    def acquire(self) -> Identity:
        if not self._free:
            raise OSError(11, f"all {self.count} sandbox uids are in use")
        uid = heapq.heappop(self._free)
        self._used.add(uid)
        return Identity(uid, uid)

    def release(self, ident: Identity) -> None:
        if ident.uid in self._used:
            self._used.discard(ident.uid)
            heapq.heappush(self._free, ident.uid)

    @property
    def in_use(self) -> int:
        return len(self._used)

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
