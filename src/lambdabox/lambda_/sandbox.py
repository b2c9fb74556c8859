"""Start and confine execution-environment processes: the only place that decides how.

One `Sandbox` per server. `Sandbox.start()` detects what the machine allows and logs the mode
once; `spawn()` starts one environment process per `SandboxSpec`; `SandboxProcess` waits for it,
measures it, kills it and cleans up after it. This module decides; its helpers carry it out:

- `lambdabox.lambda_.cgroups`: cgroup hierarchies, per-env cgroups (limits, peak memory, OOM).
- `lambdabox.lambda_.sandbox_mounts`: the private /tmp and the read-only code directory.
- `lambdabox.lambda_.sandbox_channel`: the server's connection to the spawner process.
- `lambdabox.lambda_.sandbox_spawner`: the spawner and reaper process itself (why it exists).

Choices, and why
================

Mode (``Sandbox.mode``), detected once at start-up, first that works: ``cgroup2`` (the unified
hierarchy with the memory controller), ``cgroup1`` (the legacy per-controller hierarchies, memory
required), ``rlimit`` (no usable cgroups: read-only, not root, not mounted; per-process resource
limits). Each cgroup mode is proved by a probe child actually joining a probe cgroup before it is
chosen; mount namespaces are probed the same way.

Memory: the cgroup modes limit RAM+swap to ``memory_mb`` as Lambda does (see cgroups.py).
``ExitInfo.oom_killed`` is True when the env cgroup counted an OOM kill and the runtime process
died of SIGKILL. Under ``rlimit`` the only tool is ``RLIMIT_AS`` (address space, not resident
memory): it is applied to Python runtimes only (``memory_mb`` + 64 MB for the interpreter's unused
mappings and thread stacks), where an over-allocation becomes a ``MemoryError`` (``oom_killed``
stays False). It is not applied to anything else: Node.js reserves gigabytes of address space up
front and would not start. For Node the caller adds `runtime_memory_args()`
(``--max-old-space-size`` and friends, as Lambda's own Node bootstrap does) in every mode.

Peak memory (``max_memory_mb``): the env cgroup's peak counter (see cgroups.py). Under ``rlimit``:
the sum of ``VmHWM`` over the process tree (reset by writing 5 to ``/proc/<pid>/clear_refs``).

CPU and pids: cgroup shares and quotas (see cgroups.py). Under ``rlimit`` there is no CPU or pids
control (``RLIMIT_NPROC`` counts every process of the user, and root ignores it).

Every mode: ``RLIMIT_NOFILE = 1024`` (Lambda's file-descriptor quota) and ``RLIMIT_CORE = 0``.

Process lifetime: every env is a new session and process group (pgid = pid), stdin is /dev/null,
and it inherits no descriptor but its stdout/stderr pipes. The server never forks an env itself:
a helper process does, and kills everything when the server exits, however it exits (see
sandbox_spawner.py). It keeps each env's zombie until `SandboxProcess.cleanup()` releases it, so
the pid (= pgid) cannot be reused while `SandboxProcess` may still signal the group.

Measured on the development VM (2 vCPUs, Linux 6.18, cgroup v1, root), medians of 200 spawns
of ``python3 -c pass``: ``subprocess.Popen`` returns in 0.24 ms and the child has exited after
12.0 ms; `spawn()` returns in 3.1 ms (cgroup1 + mount namespace; 2.3 ms in rlimit mode) and the
child has exited after 16.1 ms: about 4 ms of sandbox overhead per environment (p90 about 5.5 ms).

Limits: under ``rlimit`` a grandchild that calls ``setsid()`` leaves the process group and escapes
`SandboxProcess.kill` and the reaper; the cgroup modes have no such hole. The child runs as the
server's user; the rest of the file system is not hidden. Callers must call `cleanup()` for every
process (``close()`` does it for those still alive). The caller owns ``stdout_fd``/``stderr_fd``
(separate pipes, read ends non-blocking) and closes them; `cleanup()` does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import resource
import shutil
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lambdabox.lambda_ import cgroups, sandbox_mounts
from lambdabox.lambda_.cgroups import MB, Cgroups, EnvCgroup, remove_env_cgroup
from lambdabox.lambda_.sandbox_channel import SandboxError, SpawnerChannel
from lambdabox.lambda_.sandbox_mounts import MountSupport
from lambdabox.lambda_.sandbox_spawner import DRAIN_LIMIT, KEEP_RLIMIT, write_file

__all__ = [
    "ExitInfo",
    "Mode",
    "Sandbox",
    "SandboxError",
    "SandboxProcess",
    "SandboxSpec",
    "SpawnError",
    "runtime_memory_args",
]

log = logging.getLogger("lambdabox.sandbox")

NOFILE = 1024  # Lambda quota: file descriptors
RLIMIT_AS_SLACK_MB = 64  # rlimit mode: address space beyond memory_mb for a Python interpreter

Mode = Literal["cgroup2", "cgroup1", "rlimit"]


# ==================================================================================== public types
@dataclass(frozen=True)
class SandboxSpec:
    """What to run and how big its box is."""

    argv: list[str]  # e.g. [python, "-u", bootstrap]
    env: dict[str, str]  # complete environment for the child (nothing inherited)
    cwd: Path  # unpacked code dir (read-only for the child where possible)
    memory_mb: int  # Lambda MemorySize: hard memory limit
    ephemeral_mb: int  # EphemeralStorage size: private writable /tmp-equivalent
    name: str  # for cgroup naming/logs, e.g. "<function>-<envid>"


@dataclass(frozen=True)
class ExitInfo:
    """How an environment's main process ended."""

    returncode: int  # exit status, or -signal number when killed (subprocess's convention)
    signal: str | None  # e.g. "SIGKILL" when killed by a signal, else None
    oom_killed: bool  # the memory limit was hit and the kernel killed the environment


class SpawnError(OSError):
    """The child could not be started: ``errno`` is set (ENOENT/EACCES for a missing bootstrap)."""


def runtime_memory_args(argv0: str, memory_mb: int) -> list[str]:
    """Interpreter flags the caller should put after ``argv[0]`` to respect ``memory_mb``.

    Node.js sizes its heap from physical memory, not from cgroup or rlimit limits, so Lambda's
    Node bootstrap passes heap limits derived from the function's memory; do the same.
    Other runtimes need nothing (an empty list).
    """
    name = os.path.basename(argv0)
    if name == "node" or name.startswith("node"):
        new_space = max(memory_mb // 10, 1)
        return [
            f"--max-semi-space-size={max(new_space // 2, 1)}",
            f"--max-old-space-size={memory_mb - new_space}",
        ]
    return []


# ================================================================================ server: Sandbox
class Sandbox:
    """Starts and confines environment processes for one server."""

    def __init__(
        self,
        root: Path,
        *,
        tmp_storage: Literal["tmpfs", "disk"] = "tmpfs",
        cpu_quota: Literal["vcpu", "fraction", "none"] = "vcpu",
        modes: Sequence[Mode] = ("cgroup2", "cgroup1", "rlimit"),
        mount_namespaces: bool = True,
    ) -> None:
        """`root`: scratch dir for per-env tmp dirs. `modes`: the modes to try, in order (tests
        force ``("rlimit",)``). `mount_namespaces=False` disables the private /tmp and read-only
        code mounts."""
        self._root = Path(root)
        self._tmp_storage = tmp_storage
        self._cpu_quota = cpu_quota
        self._modes = tuple(modes)
        self._want_mounts = mount_namespaces
        self.mode: Mode = "rlimit"
        self._cgroups: Cgroups | None = None
        self._mounts: MountSupport | None = None
        self._channel = SpawnerChannel(self._spawner_lost)
        self._started = False
        self._seq = itertools.count(1)
        self._live: dict[int, SandboxProcess] = {}
        self._readonly_done: set[Path] = set()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Detect the mode, start the spawner/reaper, probe what the kernel allows; log it once."""
        self._started = True
        (self._root / "envs").mkdir(parents=True, exist_ok=True)
        for mode in self._modes:
            for cand in cgroups.candidates(mode, self._cpu_quota):
                try:
                    # Before the spawner exists (v2 may move the server into a leaf cgroup, and
                    # our cgroup must then hold no other process of ours).
                    cand.setup()
                except OSError as exc:
                    log.debug("sandbox: %s unusable: %s", cand.mode, exc)
                    cand.teardown(abandon=True)
                    continue
                if not self._channel.running:
                    await self._channel.start()
                await self._send_parents(cand)  # from now on, the reaper removes them
                if await self._probe_cgroup(cand):
                    self._cgroups, self.mode = cand, cand.mode
                    break
                cand.teardown(abandon=True)
                await self._send_parents(None)
            if self._cgroups is not None:
                break
        if not self._channel.running:
            await self._channel.start()
        if self._want_mounts:
            await self._probe_mounts()
        log.info(
            "sandbox mode %s%s; mounts: %s",
            self.mode,
            f" ({','.join(self._cgroups.controllers)})" if self._cgroups else "",
            sandbox_mounts.describe(self._mounts),
        )

    async def close(self) -> None:
        """Kill every live environment, remove cgroups and tmp dirs, stop the spawner/reaper."""
        if self._closed:
            return
        self._closed = True
        live = list(self._live.values())
        for proc in live:
            proc.kill()
        await asyncio.gather(*(p.cleanup() for p in live), return_exceptions=True)
        await self._channel.stop()
        if self._cgroups is not None:
            self._cgroups.teardown()
        with contextlib.suppress(OSError):
            (self._root / "envs").rmdir()

    # -- spawning ----------------------------------------------------------------------------
    async def spawn(self, spec: SandboxSpec) -> SandboxProcess:
        """Start one environment process; raises `SpawnError` (an OSError) if it cannot start."""
        if not self._started or self._closed:
            raise SandboxError("sandbox is not started")
        if not self._channel.running:
            await self._channel.start()
            await self._send_parents(self._cgroups)
        env_id = f"{_safe_name(spec.name)}-{next(self._seq)}"
        tmp_dir = self._root / "envs" / env_id
        tmp_dir.mkdir(mode=0o1777, parents=True)
        cg: EnvCgroup | None = None
        readers: list[int] = []
        try:
            if self._cgroups is not None:
                cg = self._cgroups.create(env_id, spec.memory_mb)
            if self._mounts is None and spec.cwd not in self._readonly_done:
                await asyncio.to_thread(sandbox_mounts.chmod_readonly, spec.cwd)
                self._readonly_done.add(spec.cwd)
            plan, private_tmp = self._plan(spec, tmp_dir, cg)
            out_r, out_w = os.pipe()
            readers.append(out_r)
            err_r, err_w = os.pipe()
            readers.append(err_r)
            os.set_blocking(out_r, False)
            os.set_blocking(err_r, False)
            cleanup_paths = {"cgroups": [str(d) for d in cg.dirs] if cg else [], "dirs": [str(tmp_dir)]}
            # submit closes the write ends in every case: only the child keeps them.
            fut = await self._channel.submit({"op": "spawn", "plan": plan, **cleanup_paths}, [out_w, err_w])
            try:
                reply = await asyncio.shield(fut)
            except asyncio.CancelledError:
                fut.add_done_callback(self._channel.abandoned_spawn)
                raise
            if reply["op"] != "spawned":
                raise _spawn_error(reply)
        except BaseException:
            for fd in readers:
                os.close(fd)
            if cg is not None:
                await remove_env_cgroup(cg)
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        pid = int(reply["pid"])
        exit_future = self._channel.exit_future(pid)
        proc = SandboxProcess(self, pid, out_r, err_r, tmp_dir, cg, exit_future, spec, private_tmp)
        self._live[pid] = proc
        return proc

    def _plan(self, spec: SandboxSpec, tmp_dir: Path, cg: EnvCgroup | None) -> tuple[dict[str, Any], bool]:
        env = dict(spec.env)
        mount: dict[str, Any] | None = None
        private_tmp = False
        cwd = os.path.realpath(spec.cwd)
        if self._mounts is not None:
            private_tmp = self._mounts.private_tmp
            keep = sandbox_mounts.host_tmp_dirs(spec.argv, spec.env, cwd) if private_tmp else []
            mount = self._mounts.plan(spec.ephemeral_mb, str(tmp_dir), private_tmp, cwd, keep)
        env.setdefault("TMPDIR", "/tmp" if private_tmp else str(tmp_dir))
        rlimits: list[tuple[int, int, int]] = [
            (resource.RLIMIT_NOFILE, NOFILE, NOFILE),
            (resource.RLIMIT_CORE, 0, KEEP_RLIMIT),
        ]
        if self._cgroups is None and _is_python(spec.argv[0]):
            limit = (spec.memory_mb + RLIMIT_AS_SLACK_MB) * MB
            rlimits.append((resource.RLIMIT_AS, limit, limit))
        plan = {
            "argv": list(spec.argv),
            "env": env,
            "cwd": cwd,
            "procs": [str(p) for p in cg.join_files] if cg else [],
            "rlimits": rlimits,
            "mount": mount,
            "exec": True,
        }
        return plan, private_tmp

    # -- probes ------------------------------------------------------------------------------
    async def _probe_cgroup(self, cand: Cgroups) -> bool:
        try:
            cg = cand.create(f"probe-{os.getpid()}", 128)
        except OSError as exc:
            log.debug("sandbox: %s cannot create a cgroup: %s", cand.mode, exc)
            return False
        try:
            reply = await self._channel.request(
                {"op": "probe", "plan": {"procs": [str(p) for p in cg.join_files]}}
            )
        finally:
            await remove_env_cgroup(cg)
        if not reply.get("ok"):
            log.debug("sandbox: %s probe failed: %s", cand.mode, reply.get("strerror"))
        return bool(reply.get("ok"))

    async def _probe_mounts(self) -> None:
        probe = self._root / f"probe-{os.getpid()}"
        tmp, code = probe / "tmp", probe / "code"
        tmp.mkdir(parents=True, exist_ok=True)
        code.mkdir(parents=True, exist_ok=True)
        try:
            for support, mount in sandbox_mounts.probe_candidates(self._tmp_storage, tmp, code):
                reply = await self._channel.request(
                    {"op": "probe", "plan": {"mount": mount, "check_ro": str(code)}}
                )
                if reply.get("ok"):
                    self._mounts = support
                    return
                log.debug("sandbox: mount probe %s failed: %s", mount, reply.get("strerror"))
        finally:
            shutil.rmtree(probe, ignore_errors=True)

    # -- the spawner -------------------------------------------------------------------------
    async def _send_parents(self, cgroups: Cgroups | None) -> None:
        await self._channel.send(
            {"op": "parents", "paths": [str(p) for p in cgroups.parents] if cgroups else []}
        )

    def _spawner_lost(self, pids: list[int]) -> None:
        """The spawner died while we live: its children died with it (death signal)."""
        if not self._closed:
            log.error("sandbox: the spawner process exited; its environments died with it")
        for pid in pids:
            proc = self._live.get(pid)
            if proc is not None:
                proc._pinned = False  # init reaped it: the pid may be reused, never signal it

    def _forget(self, pid: int) -> None:
        self._live.pop(pid, None)
        self._channel.forget(pid)


def _spawn_error(reply: dict[str, Any]) -> SpawnError:
    code, text, filename = int(reply.get("errno") or 0), str(reply.get("strerror")), reply.get("filename")
    return SpawnError(code, text, filename) if filename else SpawnError(code, text)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:120] or "env"


def _is_python(argv0: str) -> bool:
    return os.path.basename(argv0).startswith("python")


# ========================================================================= server: SandboxProcess
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
        private_tmp: bool,
    ) -> None:
        self.pid = pid
        self.stdout_fd = stdout_fd  # separate pipes: stdout and stderr are never merged
        self.stderr_fd = stderr_fd
        self.tmp_dir = tmp_dir
        self.spec = spec
        self.private_tmp = private_tmp  # True: the child's /tmp is private (TMPDIR=/tmp)
        self._sandbox = sandbox
        self._cg = cgroup
        self._exit_future = exit_future
        self._exit: ExitInfo | None = None
        self._pinned = True  # the spawner holds our zombie: pid/pgid cannot be reused yet
        self._peak_cache = 0.0
        self._status_fd: int | None = None
        self._cleanup_task: asyncio.Task[None] | None = None

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
                value = sum(_vm_hwm_kb(p) for p in _process_tree(self.pid)) / 1024
        except OSError:
            return self._peak_cache
        self._peak_cache = max(value, self._peak_cache) if self._cg is None else value
        return self._peak_cache

    def _main_hwm_kb(self) -> int:
        """VmHWM (peak RSS) of the main process, from a /proc status file kept open and pread."""
        if self._status_fd is None:
            if self._exit_future.done():
                return 0
            self._status_fd = os.open(f"/proc/{self.pid}/status", os.O_RDONLY)
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
                write_file(f"/proc/{self.pid}/clear_refs", "5")  # and the main process's VmHWM
            else:
                for pid in _process_tree(self.pid):
                    with contextlib.suppress(OSError):
                        write_file(f"/proc/{pid}/clear_refs", "5")

    def kill(self) -> None:
        """SIGKILL the whole environment: its process group, and every process in its cgroup."""
        self._signal(signal.SIGKILL)

    async def terminate(self, grace: float) -> ExitInfo:
        """SIGTERM the environment, SIGKILL it after `grace` real seconds, return how it ended."""
        self._signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.wait(), grace)
        except TimeoutError:
            self.kill()
            return await self.wait()

    def _signal(self, sig: int) -> None:
        if self._pinned:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
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
        if self._pinned and sandbox._channel.running:
            with contextlib.suppress(SandboxError):
                await sandbox._channel.send({"op": "release", "pid": self.pid})
        self._pinned = False
        sandbox._forget(self.pid)

    def __repr__(self) -> str:
        return f"<SandboxProcess pid={self.pid} name={self.spec.name!r}>"


def _process_tree(pid: int) -> list[int]:
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
