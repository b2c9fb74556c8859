"""Start and confine execution-environment processes: the only place that decides how.

One `Sandbox` per server. `Sandbox.start()` detects what the machine allows and logs the mode
once; `spawn()` starts one environment process per `SandboxSpec`; `SandboxProcess` waits for it,
measures it, kills it and cleans up after it.

Choices, and why
================

Mode (``Sandbox.mode``), detected once at start-up, first that works:

- ``cgroup2``: the unified hierarchy with the memory controller. Env cgroups live under
  ``<our cgroup>/lambdabox-<server pid>/``; when our own cgroup holds processes (the "no internal
  processes" rule forbids enabling controllers there) the server moves itself into a leaf
  ``lambdabox-server-<pid>`` first, and gives up on v2 if anything else lives there.
- ``cgroup1``: the legacy per-controller hierarchies (memory required; cpu and pids if mounted),
  ``<our cgroup in each>/lambdabox-<server pid>/<env>``.
- ``rlimit``: no usable cgroups (read-only, not root, not mounted): per-process resource limits.

Each cgroup mode is proved by a probe child actually joining a probe cgroup before it is chosen.

Memory: ``memory.max`` (v2) / ``memory.limit_in_bytes`` (v1) = ``memory_mb``; swap is limited too
(``memory.swap.max = 0`` / ``memory.memsw.limit_in_bytes = memory_mb``), so the limit is a RAM+swap
limit as on Lambda. v2 also sets ``memory.oom.group = 1`` so an OOM kills the whole environment, as
Lambda does. ``ExitInfo.oom_killed`` is True when the env cgroup's ``oom_kill`` counter
(``memory.events`` / ``memory.oom_control``) is non-zero and the runtime process died of SIGKILL.
Under ``rlimit`` the only tool is ``RLIMIT_AS`` (address space, not resident memory): it is applied
to Python runtimes only (``memory_mb`` + 64 MB for the interpreter's unused mappings and thread
stacks), where an over-allocation becomes a ``MemoryError`` (``oom_killed`` stays False). It is
not applied to anything else: Node.js reserves gigabytes of address space up front and would not
start. For Node the caller adds `runtime_memory_args()` (``--max-old-space-size`` and friends, as
Lambda's own Node bootstrap does) in every mode.

Peak memory (``max_memory_mb``): ``memory.max_usage_in_bytes`` (v1, reset by writing 0) or
``memory.peak`` (v2; we keep one file descriptor open because since Linux 6.12 a write resets the
peak as seen through that descriptor only). Under ``rlimit``: the sum of ``VmHWM`` over the process
tree (reset by writing 5 to ``/proc/<pid>/clear_refs``). Tmpfs pages written to the env's /tmp are
charged to its memory cgroup (see Ephemeral storage).

CPU: shares proportional to memory as on Lambda, where 1769 MB is one vCPU: ``cpu.shares =
1024 * memory_mb / 1769`` (v1) / ``cpu.weight = 100 * memory_mb / 1769`` (v2), which divides the
machine fairly under contention. The hard quota defaults to whole vCPUs (``ceil(memory_mb / 1769)``,
so at most 6 vCPUs at 10240 MB as on Lambda): it stops a runaway environment from taking every core
without making a 128 MB function fourteen times slower on an idle laptop. ``cpu_quota="fraction"``
enforces Lambda's exact fraction; ``"none"`` sets no quota. ``pids.max = 1024`` (Lambda's
processes/threads quota) where the pids controller exists. Under ``rlimit`` there is no CPU or pids
control (``RLIMIT_NPROC`` counts every process of the user, and root ignores it).

Every mode: ``RLIMIT_NOFILE = 1024`` (Lambda's file-descriptor quota) and ``RLIMIT_CORE = 0``.

Ephemeral storage and the code directory: when the kernel lets us (root, or an unprivileged user
namespace elsewhere), the child gets a private mount namespace (propagation set to private so
nothing leaks back): a ``tmpfs`` of ``size=<ephemeral_mb>m`` mounted on ``/tmp`` itself, so the
function sees a private, size-limited ``/tmp`` as on Lambda, and ``cwd`` bind-mounted read-only onto
itself. Mounts die with the namespace, so nothing is left mounted after the env ends. ``/tmp`` is
not replaced when the spawn needs something under the host's ``/tmp`` (its cwd, an argv path, or a
path in an environment value, e.g. a test's code dir): the tmpfs is then mounted on the env's
``tmp_dir`` instead. ``TMPDIR`` is set to whichever path the child should use (a ``TMPDIR`` in the
spec wins). Trade-off: tmpfs pages count against the env's memory limit, whereas Lambda's /tmp is
disk; ``tmp_storage="disk"`` uses a plain per-env directory instead (bind-mounted on ``/tmp`` when
possible; its size is then not enforced). Without mount namespaces: a plain per-env directory with
``TMPDIR`` set, and the code directory's files are chmod'ed read-only once (which does not stop
root).

Process lifetime: every env is a new session and process group (pgid = pid), stdin is
/dev/null, and it inherits no descriptor but its stdout/stderr pipes. The server never forks an
env itself: ``start()`` launches one small helper, `sandbox_spawner` run as a script (standard
library only), which is both the *spawner* and the *reaper*. The server sends it each spawn over a
``SOCK_SEQPACKET`` socket pair, passing the pipe ends with ``SCM_RIGHTS``; the spawner forks, and
the child arms ``PR_SET_PDEATHSIG(SIGKILL)``, writes itself into its cgroup (so it is confined
before it can fork: no race; v1 through ``tasks``, see `_EnvCgroup.join_files`), enters its mount
namespace, sets rlimits and execs; exec failures come back as `SpawnError` with the errno.

Why not ``subprocess`` with ``preexec_fn`` in the server: it makes CPython ``fork()`` the whole
server (holding the GIL, so the event loop stalls) instead of ``vfork()``: measured here 3.7 ms at
63 MB RSS and 20 ms at 560 MB, and ``PR_SET_PDEATHSIG`` would fire when the *thread* that forked
exits. An exec wrapper instead costs one interpreter start per spawn. The spawner is small and
single-threaded, so its fork is cheap and Python code is safe between fork and exec.

The spawner knows every env because it created it (no registration race). It reports each exit
(``waitid(WNOWAIT)``) but leaves the zombie until `SandboxProcess.cleanup()` releases it, so the
pid, which is also the process group id, cannot be reused while the server may still signal the
group. When the socket hits EOF (the server exited, even by SIGKILL) the spawner SIGKILLs every
env's process group and every process in its cgroups (v2: ``cgroup.kill``), removes the cgroups
and tmp dirs, and exits; its children also die with it through the death signal. It runs in its own
session, so a terminal's Ctrl-C reaches the server, not the reaper. If the spawner itself dies, the
server marks its envs as killed and starts a new one on the next spawn. At start-up the server also
removes ``lambdabox-<pid>`` cgroups left by dead servers whose reaper was killed too.

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
import errno
import itertools
import json
import logging
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lambdabox.lambda_ import sandbox_spawner
from lambdabox.lambda_.sandbox_spawner import DRAIN_LIMIT, POLL, remove_cgroup_tree, write_file

log = logging.getLogger("lambdabox.sandbox")

MB = 1024 * 1024
VCPU_MB = 1769  # Lambda: 1769 MB of memory = one vCPU
MAX_VCPUS = 6
PIDS_MAX = 1024  # Lambda quota: processes/threads per environment
NOFILE = 1024  # Lambda quota: file descriptors
RLIMIT_AS_SLACK_MB = 64  # rlimit mode: address space beyond memory_mb for a Python interpreter
CPU_PERIOD_US = 100_000

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


class SandboxError(RuntimeError):
    """The sandbox machinery failed (spawner gone, not started); not the function's fault."""


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
        self._cgroups: _Cgroups | None = None
        self._mount_kind: Literal["root", "userns"] | None = None
        self._tmpfs_ok = False
        self._private_tmp_ok = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._spawner: subprocess.Popen[bytes] | None = None
        self._send_lock: asyncio.Lock | None = None
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._exits: dict[int, asyncio.Future[tuple[int, int]]] = {}
        self._live: dict[int, SandboxProcess] = {}
        self._readonly_done: set[Path] = set()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Detect the mode, start the spawner/reaper, probe what the kernel allows; log it once."""
        self._loop = asyncio.get_running_loop()
        self._send_lock = asyncio.Lock()
        (self._root / "envs").mkdir(parents=True, exist_ok=True)
        for mode in self._modes:
            detect = {"cgroup2": _CgroupsV2.detect, "cgroup1": _CgroupsV1.detect}.get(mode)
            for cand in detect(self._cpu_quota) if detect else []:
                try:
                    # Before the spawner exists (v2 may move the server into a leaf cgroup, and
                    # our cgroup must then hold no other process of ours).
                    cand.setup()
                except OSError as exc:
                    log.debug("sandbox: %s unusable: %s", cand.mode, exc)
                    cand.teardown(abandon=True)
                    continue
                if self._sock is None:
                    await self._start_spawner()
                await self._send_parents(cand)  # from now on, the reaper removes them
                if await self._probe_cgroup(cand):
                    self._cgroups, self.mode = cand, cand.mode
                    break
                cand.teardown(abandon=True)
                await self._send_parents(None)
            if self._cgroups is not None:
                break
        if self._sock is None:
            await self._start_spawner()
        if self._want_mounts:
            await self._probe_mounts()
        log.info(
            "sandbox mode %s%s; mounts: %s",
            self.mode,
            f" ({','.join(self._cgroups.controllers)})" if self._cgroups else "",
            self._describe_mounts(),
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
        await self._stop_spawner()
        if self._cgroups is not None:
            self._cgroups.teardown()
        with contextlib.suppress(OSError):
            (self._root / "envs").rmdir()

    # -- spawning ----------------------------------------------------------------------------
    async def spawn(self, spec: SandboxSpec) -> SandboxProcess:
        """Start one environment process; raises `SpawnError` (an OSError) if it cannot start."""
        if self._loop is None or self._closed:
            raise SandboxError("sandbox is not started")
        if self._sock is None:
            await self._start_spawner()
            await self._send_parents(self._cgroups)
        env_id = f"{_safe_name(spec.name)}-{next(self._seq)}"
        tmp_dir = self._root / "envs" / env_id
        tmp_dir.mkdir(mode=0o1777, parents=True)
        cg: _EnvCgroup | None = None
        readers: list[int] = []
        try:
            if self._cgroups is not None:
                cg = self._cgroups.create(env_id, spec.memory_mb)
            if self._mount_kind is None and spec.cwd not in self._readonly_done:
                await asyncio.to_thread(_chmod_readonly, spec.cwd)
                self._readonly_done.add(spec.cwd)
            plan, private_tmp = self._plan(spec, tmp_dir, cg)
            out_r, out_w = os.pipe()
            readers.append(out_r)
            err_r, err_w = os.pipe()
            readers.append(err_r)
            os.set_blocking(out_r, False)
            os.set_blocking(err_r, False)
            cleanup_paths = {"cgroups": [str(d) for d in cg.dirs] if cg else [], "dirs": [str(tmp_dir)]}
            # _submit closes the write ends in every case: only the child keeps them.
            fut = await self._submit({"op": "spawn", "plan": plan, **cleanup_paths}, [out_w, err_w])
            try:
                reply = await asyncio.shield(fut)
            except asyncio.CancelledError:
                fut.add_done_callback(self._abandoned_spawn)
                raise
            if reply["op"] != "spawned":
                raise _spawn_error(reply)
        except BaseException:
            for fd in readers:
                os.close(fd)
            if cg is not None:
                await _remove_cgroup(cg)
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        pid = int(reply["pid"])
        proc = SandboxProcess(self, pid, out_r, err_r, tmp_dir, cg, self._exits[pid], spec, private_tmp)
        self._live[pid] = proc
        return proc

    def _plan(self, spec: SandboxSpec, tmp_dir: Path, cg: _EnvCgroup | None) -> tuple[dict[str, Any], bool]:
        env = dict(spec.env)
        mount: dict[str, Any] | None = None
        private_tmp = False
        cwd = os.path.realpath(spec.cwd)
        if self._mount_kind is not None:
            private_tmp = self._private_tmp_ok and not _needs_host_tmp(spec, cwd)
            tmpfs = self._tmpfs_ok
            mount = {
                "userns": self._mount_kind == "userns",
                "tmpfs_mb": spec.ephemeral_mb if tmpfs else None,
                "tmp_dir": str(tmp_dir),
                "tmp_target": "/tmp" if private_tmp else str(tmp_dir),
                "ro": [cwd],
            }
        env.setdefault("TMPDIR", "/tmp" if private_tmp else str(tmp_dir))
        rlimits: list[tuple[int, int, int]] = [
            (resource.RLIMIT_NOFILE, NOFILE, NOFILE),
            (resource.RLIMIT_CORE, 0, sandbox_spawner.KEEP_RLIMIT),
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
    async def _probe_cgroup(self, cand: _Cgroups) -> bool:
        try:
            cg = cand.create(f"probe-{os.getpid()}", 128)
        except OSError as exc:
            log.debug("sandbox: %s cannot create a cgroup: %s", cand.mode, exc)
            return False
        try:
            reply = await self._request({"op": "probe", "plan": {"procs": [str(p) for p in cg.join_files]}})
        finally:
            await _remove_cgroup(cg)
        if not reply.get("ok"):
            log.debug("sandbox: %s probe failed: %s", cand.mode, reply.get("strerror"))
        return bool(reply.get("ok"))

    async def _probe_mounts(self) -> None:
        probe = self._root / f"probe-{os.getpid()}"
        tmp, code = probe / "tmp", probe / "code"
        tmp.mkdir(parents=True, exist_ok=True)
        code.mkdir(parents=True, exist_ok=True)
        kinds: list[Literal["root", "userns"]] = ["root", "userns"] if os.geteuid() == 0 else ["userns"]
        tmpfs_options = [True, False] if self._tmp_storage == "tmpfs" else [False]
        try:
            for kind in kinds:
                for tmpfs, private in itertools.product(tmpfs_options, (True, False)):
                    mount = {
                        "userns": kind == "userns",
                        "tmpfs_mb": 1 if tmpfs else None,
                        "tmp_dir": str(tmp),
                        "tmp_target": "/tmp" if private else str(tmp),
                        "ro": [str(code)],
                    }
                    reply = await self._request(
                        {"op": "probe", "plan": {"mount": mount, "check_ro": str(code)}}
                    )
                    if reply.get("ok"):
                        self._mount_kind, self._tmpfs_ok, self._private_tmp_ok = kind, tmpfs, private
                        return
                    log.debug("sandbox: mount probe %s failed: %s", mount, reply.get("strerror"))
        finally:
            shutil.rmtree(probe, ignore_errors=True)

    def _describe_mounts(self) -> str:
        if self._mount_kind is None:
            return "none (plain tmp dir, TMPDIR set; code dir chmod'ed read-only)"
        tmp = "tmpfs sized by EphemeralStorage" if self._tmpfs_ok else "per-env directory"
        where = "on a private /tmp" if self._private_tmp_ok else "on the env's tmp dir"
        via = "user namespace" if self._mount_kind == "userns" else "mount namespace"
        return f"{via}: {tmp} {where}, read-only code dir"

    # -- the spawner connection --------------------------------------------------------------
    async def _start_spawner(self) -> None:
        assert self._loop is not None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        script = str(Path(sandbox_spawner.__file__).resolve())
        try:
            self._spawner = subprocess.Popen(
                [sys.executable, "-I", "-S", script, str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=[theirs.fileno()],
                start_new_session=True,
                env=dict(os.environ),  # for the interpreter itself; children get their spec's env
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        _close_in_forked_children.add(ours)
        self._loop.add_reader(ours.fileno(), self._on_readable)

    async def _send_parents(self, cgroups: _Cgroups | None) -> None:
        await self._send({"op": "parents", "paths": [str(p) for p in cgroups.parents] if cgroups else []})

    async def _stop_spawner(self) -> None:
        sock, proc = self._sock, self._spawner
        self._sock = None
        if sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        if proc is not None:
            deadline = time.monotonic() + DRAIN_LIMIT
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(POLL)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self._spawner = None

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._spawner_lost()
                return
            self._dispatch(json.loads(data))

    def _dispatch(self, msg: dict[str, Any]) -> None:
        assert self._loop is not None
        op = msg["op"]
        if op == "exit":
            fut = self._exits.get(int(msg["pid"]))
            if fut is not None and not fut.done():
                fut.set_result((int(msg["code"]), int(msg["status"])))
            return
        if op == "spawned":
            self._exits[int(msg["pid"])] = self._loop.create_future()
        waiter = self._pending.pop(int(msg["id"]), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)

    def _spawner_lost(self) -> None:
        """The spawner died while we live: its children died with it (death signal)."""
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        self._sock = None
        if self._spawner is not None:
            with contextlib.suppress(Exception):
                self._spawner.wait(timeout=1)
            self._spawner = None
        if not self._closed:
            log.error("sandbox: the spawner process exited; its environments died with it")
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(SandboxError("the sandbox spawner exited"))
        self._pending.clear()
        for pid, fut in self._exits.items():
            if not fut.done():
                fut.set_result((os.CLD_KILLED, signal.SIGKILL))
            proc = self._live.get(pid)
            if proc is not None:
                proc._pinned = False  # init reaped it: the pid may be reused, never signal it

    async def _request(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send `msg` and await the spawner's reply."""
        return await (await self._submit(msg))

    async def _submit(self, msg: dict[str, Any], fds: Sequence[int] = ()) -> asyncio.Future[dict[str, Any]]:
        """Send `msg`, closing `fds` (the message carries its own copies); return the reply's future."""
        assert self._loop is not None
        req_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._pending[req_id] = fut
        try:
            await self._send({**msg, "id": req_id}, fds)
        except BaseException:
            self._pending.pop(req_id, None)
            raise
        finally:
            for fd in fds:
                os.close(fd)
        return fut

    def _abandoned_spawn(self, fut: asyncio.Future[dict[str, Any]]) -> None:
        """The caller of spawn() was cancelled after the request left: kill what it started."""
        if fut.cancelled() or fut.exception() is not None or fut.result()["op"] != "spawned":
            return
        pid = int(fut.result()["pid"])
        self._exits.pop(pid, None)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # still pinned by the spawner: safe
        if self._loop is not None and self._sock is not None:
            self._loop.create_task(self._send({"op": "release", "pid": pid}))

    async def _send(self, msg: dict[str, Any], fds: Sequence[int] = ()) -> None:
        assert self._loop is not None and self._send_lock is not None
        data = json.dumps(msg).encode()
        async with self._send_lock:
            while True:
                sock = self._sock
                if sock is None:
                    raise SandboxError("the sandbox spawner is not running")
                try:
                    if fds:
                        socket.send_fds(sock, [data], list(fds))
                    else:
                        sock.send(data)
                    return
                except (BlockingIOError, InterruptedError):
                    ready = self._loop.create_future()
                    self._loop.add_writer(sock.fileno(), _resolve, ready)
                    try:
                        await ready
                    finally:
                        self._loop.remove_writer(sock.fileno())
                except OSError as exc:
                    raise SandboxError(f"cannot reach the sandbox spawner: {exc}") from exc

    def _forget(self, pid: int) -> None:
        self._live.pop(pid, None)
        self._exits.pop(pid, None)


def _spawn_error(reply: dict[str, Any]) -> SpawnError:
    code, text, filename = int(reply.get("errno") or 0), str(reply.get("strerror")), reply.get("filename")
    return SpawnError(code, text, filename) if filename else SpawnError(code, text)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


# Sockets to the spawner are closed in a forked-but-not-exec'ed copy of the server (e.g.
# multiprocessing's fork start method): a copy holding it would hide the server's death.
_close_in_forked_children: weakref.WeakSet[socket.socket] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for sock in list(_close_in_forked_children):
        with contextlib.suppress(OSError):
            sock.close()


os.register_at_fork(after_in_child=_after_fork_in_child)


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
        cgroup: _EnvCgroup | None,
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
                value = self._cg.peak_bytes() / MB
            else:
                value = sum(_vm_hwm_kb(p) for p in _process_tree(self.pid)) / 1024
        except OSError:
            return self._peak_cache
        self._peak_cache = max(value, self._peak_cache) if self._cg is None else value
        return self._peak_cache

    def reset_peak(self) -> None:
        """Restart peak measurement from current usage, where the kernel allows it."""
        self._peak_cache = 0.0
        with contextlib.suppress(OSError):
            if self._cg is not None:
                self._cg.reset_peak()
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
        self.kill()  # grandchildren still in the group or cgroup
        if self._cg is not None:
            await _remove_cgroup(self._cg)
        await asyncio.to_thread(shutil.rmtree, self.tmp_dir, True)
        if self._pinned and sandbox._sock is not None:
            with contextlib.suppress(SandboxError):
                await sandbox._send({"op": "release", "pid": self.pid})
        self._pinned = False
        sandbox._forget(self.pid)

    def __repr__(self) -> str:
        return f"<SandboxProcess pid={self.pid} name={self.spec.name!r}>"


# ===================================================================================== cgroups
@dataclass
class _EnvCgroup:
    """One environment's cgroup directory (v2) or directories (v1, memory first)."""

    version: int
    dirs: list[Path]
    memory_dir: Path
    peak_fd: int | None = None  # v2: memory.peak (resets are per open file); v1: max_usage_in_bytes
    peak_resettable: bool = False

    @property
    def join_files(self) -> list[Path]:
        """Files the child writes "0" to, to enter this cgroup before it execs. v1: ``tasks``,
        which moves only the calling thread (the whole process: it is single-threaded then) and so
        skips the kernel's global threadgroup lock, whose write side waits for an RCU grace period
        (measured: up to 12 ms on one attach in ten via ``cgroup.procs``, 0.2 ms via ``tasks``).
        v2 has no such file for domain cgroups: ``cgroup.procs``."""
        return [d / ("tasks" if self.version == 1 else "cgroup.procs") for d in self.dirs]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError):
                found.update(int(x) for x in (d / "cgroup.procs").read_text().split())
        return sorted(found)

    def signal_all(self, sig: int) -> None:
        if sig == signal.SIGKILL and self.version == 2:
            with contextlib.suppress(OSError):
                write_file(self.memory_dir / "cgroup.kill", "1")
                return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def peak_bytes(self) -> int:
        if self.version == 1 and self.peak_fd is None:
            # read for every invocation's REPORT: keep the file open and pread it
            self.peak_fd = os.open(self.memory_dir / "memory.max_usage_in_bytes", os.O_RDONLY)
        if self.peak_fd is not None:
            return int(os.pread(self.peak_fd, 64, 0))
        return int((self.memory_dir / "memory.current").read_text())

    def reset_peak(self) -> None:
        if self.version == 1:
            write_file(self.memory_dir / "memory.max_usage_in_bytes", "0")
        elif self.peak_fd is not None and self.peak_resettable:
            os.pwrite(self.peak_fd, b"reset\n", 0)

    def oom_killed(self) -> bool:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            fields = dict(line.split() for line in (self.memory_dir / name).read_text().splitlines() if line)
        except (OSError, ValueError):
            return False
        if "oom_kill" in fields:
            return int(fields["oom_kill"]) > 0
        if self.version == 1:  # kernels before 4.13: the limit was hit at least once
            with contextlib.suppress(OSError, ValueError):
                return int((self.memory_dir / "memory.failcnt").read_text()) > 0
        return int(fields.get("oom", "0")) > 0

    def close(self) -> None:
        if self.peak_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.peak_fd)
            self.peak_fd = None


async def _remove_cgroup(cg: _EnvCgroup) -> None:
    """Kill what is inside, wait (bounded) for it to leave, remove the directories."""
    cg.close()
    deadline = time.monotonic() + DRAIN_LIMIT
    while True:
        cg.signal_all(signal.SIGKILL)
        if not cg.pids():
            break
        if time.monotonic() > deadline:
            log.warning("sandbox: processes still in %s after SIGKILL", cg.memory_dir)
            break
        await asyncio.sleep(POLL)
    for d in cg.dirs:
        for _ in range(100):
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    log.warning("sandbox: cannot remove %s: %s", d, exc)
                    break
                await asyncio.sleep(POLL)


class _Cgroups:
    """A cgroup hierarchy we may create environment cgroups in."""

    mode: Mode
    version: int

    def __init__(self, bases: dict[str, Path], cpu_quota: str) -> None:
        self.bases = bases  # controller -> our own cgroup's directory ("unified" for v2)
        self.cpu_quota = cpu_quota
        self.controllers: list[str] = []
        self.parents: list[Path] = []  # our parent directory in each hierarchy
        # unique per Sandbox: several may live in one process (in-process test servers)
        self.name = f"lambdabox-{os.getpid()}-{next(_parent_seq)}"

    def setup(self) -> None:
        raise NotImplementedError

    def create(self, env_id: str, memory_mb: int) -> _EnvCgroup:
        raise NotImplementedError

    def teardown(self, abandon: bool = False) -> None:
        """Remove our parents (and anything left in them). `abandon`: this mode was not chosen."""
        for parent in self.parents:
            remove_cgroup_tree(parent)
            _our_parents.discard(parent)
        self.parents = []

    def _quota_cpus(self, memory_mb: int) -> float | None:
        if self.cpu_quota == "none":
            return None
        exact = memory_mb / VCPU_MB
        if self.cpu_quota == "fraction":
            return min(max(exact, 0.01), MAX_VCPUS)
        return float(min(max(math.ceil(exact), 1), MAX_VCPUS))

    def _adopt(self, parent: Path) -> None:
        self.parents.append(parent)
        _our_parents.add(parent)

    @staticmethod
    def _sweep(base: Path) -> None:
        """Remove what a previous server (now dead) left behind, e.g. if its reaper was killed;
        also what an earlier process with our pid left."""
        with contextlib.suppress(OSError):
            for entry in base.iterdir():
                m = re.fullmatch(r"lambdabox-(?:server-)?(\d+)(?:-\d+)?", entry.name)
                if not m or not entry.is_dir() or entry in _our_parents:
                    continue
                pid = int(m.group(1))
                if pid == os.getpid() and "server" in entry.name:
                    continue  # v2: the leaf this very process lives in
                if pid == os.getpid() or not _pid_alive(pid):
                    remove_cgroup_tree(entry)


_parent_seq = itertools.count(1)
_our_parents: set[Path] = set()  # parents of this process's live Sandboxes: never swept


class _CgroupsV1(_Cgroups):
    mode: Mode = "cgroup1"
    version = 1

    @classmethod
    def detect(cls, cpu_quota: str) -> list[_Cgroups]:
        bases: dict[str, Path] = {}
        own = _own_cgroups()
        for ctl in ("memory", "cpu", "pids"):
            where = _v1_dir(ctl, own)
            if where is not None:
                bases[ctl] = where
        return [cls(bases, cpu_quota)] if "memory" in bases else []

    def setup(self) -> None:
        for ctl, base in self.bases.items():
            parent = base / self.name
            try:
                self._sweep(base)
                parent.mkdir()
            except OSError:
                if ctl == "memory":
                    raise
                continue
            self._adopt(parent)
            self.controllers.append(ctl)

    def create(self, env_id: str, memory_mb: int) -> _EnvCgroup:
        dirs: list[Path] = []
        try:
            for ctl, parent in zip(self.controllers, self.parents, strict=True):
                d = parent / env_id
                d.mkdir()
                dirs.append(d)
                if ctl == "memory":
                    limit = str(memory_mb * MB)
                    write_file(d / "memory.limit_in_bytes", limit)
                    with contextlib.suppress(OSError):  # absent without swap accounting
                        write_file(d / "memory.memsw.limit_in_bytes", limit)
                elif ctl == "cpu":
                    shares = min(max(round(1024 * memory_mb / VCPU_MB), 2), 262144)
                    write_file(d / "cpu.shares", str(shares))
                    cpus = self._quota_cpus(memory_mb)
                    if cpus is not None:
                        with contextlib.suppress(OSError):  # kernels without CFS bandwidth control
                            write_file(d / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                            write_file(d / "cpu.cfs_quota_us", str(max(int(CPU_PERIOD_US * cpus), 1000)))
                elif ctl == "pids":
                    write_file(d / "pids.max", str(PIDS_MAX))
        except BaseException:
            for d in dirs:
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise
        return _EnvCgroup(1, dirs, dirs[0])


class _CgroupsV2(_Cgroups):
    mode: Mode = "cgroup2"
    version = 2

    def __init__(self, bases: dict[str, Path], cpu_quota: str) -> None:
        super().__init__(bases, cpu_quota)
        self._moved_from: Path | None = None  # set when the server moved itself into a leaf
        self._enabled_at_base: list[str] = []

    @classmethod
    def detect(cls, cpu_quota: str) -> list[_Cgroups]:
        own = _own_cgroups().get("")
        if own is None:
            return []
        for root, mountpoint, fstype, _opts in _mountinfo():
            if fstype != "cgroup2":
                continue
            rel = _relative(own, root)
            if rel is None:
                continue
            base = Path(mountpoint + rel)
            try:
                available = (base / "cgroup.controllers").read_text().split()
            except OSError:
                continue
            if "memory" in available:
                return [cls({"unified": base}, cpu_quota)]
        return []

    def setup(self) -> None:
        base = self.bases["unified"]
        self._sweep(base)
        available = (base / "cgroup.controllers").read_text().split()
        wanted: list[str] = [c for c in ("memory", "cpu", "pids") if c in available]
        missing: list[str] = [
            c for c in wanted if c not in (base / "cgroup.subtree_control").read_text().split()
        ]
        if missing:
            try:
                write_file(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
                self._move_self_to_leaf(base)
                write_file(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
            self._enabled_at_base = missing
        parent = base / self.name
        parent.mkdir()
        self._adopt(parent)
        write_file(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
        self.controllers = wanted

    def _move_self_to_leaf(self, base: Path) -> None:
        """Our cgroup holds processes, so controllers cannot be enabled for its children: move
        the server into a leaf (only if it is alone there)."""
        others = [p for p in (base / "cgroup.procs").read_text().split() if int(p) != os.getpid()]
        if others:
            raise OSError(errno.EBUSY, f"other processes share {base}")
        leaf = base / f"lambdabox-server-{os.getpid()}"
        leaf.mkdir(exist_ok=True)
        write_file(leaf / "cgroup.procs", str(os.getpid()))
        self._moved_from = base

    def teardown(self, abandon: bool = False) -> None:
        """The server stays in its leaf after a normal close (another Sandbox of this process
        may rely on the controllers); only an abandoned v2 setup moves it back."""
        super().teardown(abandon)
        base = self._moved_from
        if base is not None and abandon:
            with contextlib.suppress(OSError):
                if self._enabled_at_base:
                    write_file(
                        base / "cgroup.subtree_control", " ".join(f"-{c}" for c in self._enabled_at_base)
                    )
                write_file(base / "cgroup.procs", str(os.getpid()))
                (base / f"lambdabox-server-{os.getpid()}").rmdir()
            self._moved_from = None

    def create(self, env_id: str, memory_mb: int) -> _EnvCgroup:
        d = self.parents[0] / env_id
        d.mkdir()
        try:
            write_file(d / "memory.max", str(memory_mb * MB))
            for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                with contextlib.suppress(FileNotFoundError):
                    write_file(d / name, value)
            if "cpu" in self.controllers:
                write_file(d / "cpu.weight", str(min(max(round(100 * memory_mb / VCPU_MB), 1), 10000)))
                cpus = self._quota_cpus(memory_mb)
                if cpus is not None:
                    write_file(d / "cpu.max", f"{max(int(CPU_PERIOD_US * cpus), 1000)} {CPU_PERIOD_US}")
            if "pids" in self.controllers:
                write_file(d / "pids.max", str(PIDS_MAX))
        except BaseException:
            with contextlib.suppress(OSError):
                d.rmdir()
            raise
        cg = _EnvCgroup(2, [d], d)
        try:
            cg.peak_fd = os.open(d / "memory.peak", os.O_RDWR)
            cg.peak_resettable = True
        except OSError:
            with contextlib.suppress(OSError):
                cg.peak_fd = os.open(d / "memory.peak", os.O_RDONLY)
        return cg


def _own_cgroups() -> dict[str, str]:
    """controller -> our cgroup path (relative to the hierarchy root); "" for cgroup v2."""
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            _, ctls, path = parts
            for ctl in ctls.split(",") if ctls else [""]:
                out[ctl] = path
    return out


def _mountinfo() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fs type, super options) for every mount we can see."""
    out: list[tuple[str, str, str, str]] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, sep, right = line.partition(" - ")
            if not sep:
                continue
            lf, rf = left.split(), right.split()
            if len(lf) < 5 or len(rf) < 3:
                continue
            out.append((_unescape(lf[3]), _unescape(lf[4]), rf[0], rf[2]))
    return out


def _unescape(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def _relative(path: str, root: str) -> str | None:
    if root == "/":
        return "" if path == "/" else path
    if path == root:
        return ""
    if path.startswith(root + "/"):
        return path[len(root) :]
    return None


def _v1_dir(ctl: str, own: dict[str, str]) -> Path | None:
    path = own.get(ctl)
    if path is None:
        return None
    for root, mountpoint, fstype, opts in _mountinfo():
        if fstype == "cgroup" and ctl in opts.split(","):
            rel = _relative(path, root)
            if rel is not None and os.access(mountpoint + rel, os.W_OK):
                return Path(mountpoint + rel)
    return None


# ====================================================================================== helpers
def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:120] or "env"


def _is_python(argv0: str) -> bool:
    return os.path.basename(argv0).startswith("python")


def _needs_host_tmp(spec: SandboxSpec, cwd: str) -> bool:
    """Does the child need something under the host's /tmp (so /tmp must not be replaced)?"""
    values = [cwd, *spec.argv, *(v for k, v in spec.env.items() if k != "TMPDIR")]
    if spec.argv and os.path.isabs(spec.argv[0]):
        values.append(os.path.realpath(spec.argv[0]))
    for value in values:
        for token in re.split(r"[:=\s,;]", value):
            if token == "/tmp" or token.startswith("/tmp/"):
                return True
    return False


def _chmod_readonly(top: Path) -> None:
    """Without mount namespaces: take write permission off the code files (dirs left alone so
    the owner can still delete the tree)."""
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            p = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                st = os.lstat(p)
                if not os.path.islink(p):
                    os.chmod(p, st.st_mode & ~0o222)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
