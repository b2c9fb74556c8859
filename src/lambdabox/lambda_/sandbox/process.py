"""One running (or ended, not yet cleaned up) environment process, as the server holds it.

`SandboxProcess` waits for the environment's main process, measures its memory, signals its
whole box (process group, pid namespace via its pid 1, cgroup), and cleans up after it. It is
created only by `Sandbox.spawn` (manager.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdabox.lambda_.sandbox.cgroups import MB, EnvCgroup, remove_env_cgroup
from lambdabox.lambda_.sandbox.channel import SandboxError
from lambdabox.lambda_.sandbox.spawner import DRAIN_LIMIT, write_file
from lambdabox.lambda_.sandbox.users import Identity

if TYPE_CHECKING:
    from lambdabox.lambda_.sandbox.manager import Sandbox, SandboxSpec


@dataclass(frozen=True)
class ExitInfo:
    """How an environment's main process ended."""

    returncode: int  # exit status, or -signal number when killed (subprocess's convention)
    signal: str | None  # e.g. "SIGKILL" when killed by a signal, else None
    oom_killed: bool  # the memory limit was hit and the kernel killed the environment


class SandboxProcess:
    """One running (or finished, not yet cleaned up) environment process."""

    def __init__(
        self,
        sandbox: Sandbox,
        pid: int,
        stdout_fd: int,
        stderr_fd: int,
        tmp_dir: Path,
        cgroup: EnvCgroup | None,
        exit_future: asyncio.Future[tuple[int, int]],
        spec: SandboxSpec,
        identity: Identity | None,
        listeners: list[socket.socket],
        has_init: bool,
        release_identity: Callable[[Identity], None],
        control: socket.socket | None = None,
        extensions_fd: int | None = None,
    ) -> None:
        self.pid = pid  # host pid of the environment's first process (pid 1 of its namespace)
        self.stdout_fd = stdout_fd  # separate pipes: stdout and stderr are never merged
        self.stderr_fd = stderr_fd
        self.tmp_dir = tmp_dir
        self.spec = spec
        self.identity = identity  # the uid it runs as (full mode), else None
        #: listeners made inside its own network namespace (``--function-network none``):
        #: [Runtime API, AWS endpoint]; the caller takes and closes them
        self.listeners = listeners
        #: the host end of the environment's stdin control socket (`SandboxSpec.control`); the
        #: caller takes and closes it
        self.control = control
        #: the read end of the extensions' output pipe (with `control`), for the log capture
        self.extensions_fd = extensions_fd
        self._has_init = has_init  # pid 1 is an init that reports signals as 128 + n
        self._release_identity = release_identity
        self._sandbox = sandbox
        self._cg = cgroup
        self._exit_future = exit_future
        self._exit: ExitInfo | None = None
        self._pinned = True  # the spawner holds our zombie: pid/pgid cannot be reused yet
        self._peak_cache = 0.0
        self._status_fd: int | None = None
        self._cleanup_task: asyncio.Task[None] | None = None

    @property
    def uid(self) -> int | None:
        return self.identity.uid if self.identity is not None else None

    @property
    def returncode(self) -> int | None:
        """None while the main process runs."""
        return self._info().returncode if self._exit_future.done() else None

    async def wait(self) -> ExitInfo:
        """Wait for the main process to end."""
        await asyncio.shield(self._exit_future)
        return self._info()

    def _info(self) -> ExitInfo:
        if self._exit is None:
            code, status = self._exit_future.result()
            if code == os.CLD_EXITED and self._has_init and 128 < status < 128 + signal.NSIG:
                code, status = os.CLD_KILLED, status - 128  # the runtime was killed under the init
            if code == os.CLD_EXITED:
                self._exit = ExitInfo(status, None, False)
            else:
                try:
                    name = signal.Signals(status).name
                except ValueError:
                    name = f"SIG{status}"
                oom = status == signal.SIGKILL and self._cg is not None and self._cg.oom_killed()
                self._exit = ExitInfo(-status, name, oom)
        return self._exit

    def max_memory_mb(self) -> float:
        """Peak memory of the whole environment since start or the last `reset_peak()`."""
        try:
            if self._cg is not None:
                # the cgroup charges only pages first touched inside it; Lambda reports what the
                # runtime process holds, shared interpreter pages included, so take the larger
                value = max(self._cg.peak_bytes() / MB, self._main_hwm_kb() / 1024)
            else:
                value = sum(_vm_hwm_kb(p) for p in process_tree(self.pid)) / 1024
        except OSError:
            return self._peak_cache
        self._peak_cache = max(value, self._peak_cache) if self._cg is None else value
        return self._peak_cache

    def _runtime_pid(self) -> int:
        """The runtime's host pid: the first child of the namespace's init, or the pid itself."""
        if not self._has_init:
            return self.pid
        with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
            kids = f.read().split()
        if not kids:
            raise OSError("the runtime has not started")
        return int(kids[0])

    def _main_hwm_kb(self) -> int:
        """VmHWM (peak RSS) of the runtime process, from a /proc status file kept open and pread."""
        if self._status_fd is None:
            if self._exit_future.done():
                return 0
            self._status_fd = os.open(f"/proc/{self._runtime_pid()}/status", os.O_RDONLY)
        data = os.pread(self._status_fd, 8192, 0)
        start = data.find(b"VmHWM:")
        if start < 0:
            return 0
        return int(data[start + 6 : data.index(b"kB", start)])

    def reset_peak(self) -> None:
        """Restart peak measurement from current usage, where the kernel allows it."""
        self._peak_cache = 0.0
        with contextlib.suppress(OSError):
            if self._cg is not None:
                self._cg.reset_peak()
                write_file(f"/proc/{self._runtime_pid()}/clear_refs", "5")  # and the runtime's VmHWM
            else:
                for pid in process_tree(self.pid):
                    with contextlib.suppress(OSError):
                        write_file(f"/proc/{pid}/clear_refs", "5")

    def kill(self) -> None:
        """SIGKILL the whole environment: its process group (its pid 1 takes its pid namespace
        with it), and every process in its cgroup."""
        self._signal(signal.SIGKILL)

    async def terminate(self, grace: float) -> ExitInfo:
        """SIGTERM the environment, SIGKILL it after `grace` real seconds, return how it ended."""
        self._signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.wait(), grace)
        except TimeoutError:
            self.kill()
            return await self.wait()

    def signal_runtime(self, sig: int) -> None:
        """Send `sig` to the runtime process alone (not its extensions), if it still runs: to the
        first process, which is the runtime or an init (tini, our reaper or relay) that passes it
        on to its one child, the runtime."""
        if not self._pinned or self._exit_future.done():
            return
        with contextlib.suppress(OSError):
            os.kill(self.pid, sig)

    def _signal(self, sig: int) -> None:
        if self._pinned:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
            if sig == signal.SIGKILL:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(self.pid, sig)  # pid 1 of its namespace, even after setsid elsewhere
        if self._cg is not None:
            self._cg.signal_all(sig)

    async def cleanup(self) -> None:
        """Kill what is left, release the pid, remove the cgroup and the tmp dir. Idempotent."""
        if self._cleanup_task is None:
            self._cleanup_task = asyncio.ensure_future(self._cleanup())
        await asyncio.shield(self._cleanup_task)

    async def _cleanup(self) -> None:
        sandbox = self._sandbox
        self.kill()
        for s in self.listeners:
            s.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._exit_future), DRAIN_LIMIT)
        if self._exit_future.done():
            self._info()  # read the OOM counter while the cgroup still exists
        self.max_memory_mb()  # keep the last value for callers asking after cleanup
        if self._status_fd is not None:
            os.close(self._status_fd)
            self._status_fd = None
        self.kill()  # grandchildren still in the group or cgroup
        if self._cg is not None:
            await remove_env_cgroup(self._cg)
        await asyncio.to_thread(shutil.rmtree, self.tmp_dir, True)
        if self._pinned:
            with contextlib.suppress(SandboxError):
                await sandbox.release_pid(self.pid)
        self._pinned = False
        if self.identity is not None:
            self._release_identity(self.identity)  # nothing of it is left: the uid is free again
            self.identity = None
        sandbox.forget(self.pid)

    def unpin(self) -> None:
        """The spawner is gone and init reaped us: the pid may be reused, never signal it."""
        self._pinned = False

    def __repr__(self) -> str:
        return f"<SandboxProcess pid={self.pid} name={self.spec.name!r}>"


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (via /proc/<pid>/task/<tid>/children)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in Path(f"/proc/{p}/task/{tid}/children").read_text().split())
    return out


def _vm_hwm_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(r"^VmHWM:\s+(\d+)", status, re.MULTILINE)
    return int(m.group(1)) if m else 0
