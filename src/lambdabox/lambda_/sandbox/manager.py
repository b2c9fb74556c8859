"""Start and confine execution-environment processes: the one place that decides how.

One `Sandbox` per server. `Sandbox.start()` detects what the machine allows and logs it once;
`spawn()` starts one environment per `SandboxSpec` and returns its `SandboxProcess`
(process.py). The decisions are here; the mechanism is in the package's other modules
(see the package docstring for the threat model and what confines what).

Isolation (``Sandbox.isolation``), detected once at start-up, the first that a probe child
manages: ``full`` (lambdabox runs as root: a uid of its own per environment, an empty capability
set, ``no_new_privs``, its own pid/ipc/uts/mount namespaces with a root built for it, seccomp),
``userns`` (not root: the same layout inside an unprivileged user namespace, every environment
the server's own uid outside it), ``rlimits`` (neither: rlimits and cgroups only, the host's file
system visible; one warning at start).

Cgroups (``Sandbox.mode``), also probed: ``cgroup2``, ``cgroup1`` (memory required) or
``rlimit``. Memory: the cgroup modes limit RAM+swap to ``memory_mb`` as Lambda does (see
cgroups.py); ``ExitInfo.oom_killed`` is True when the env cgroup counted an OOM kill and the
runtime died of SIGKILL. Under ``rlimit`` the only tool is ``RLIMIT_AS`` (address space), applied
to Python runtimes only (``memory_mb`` + 64 MB), where an over-allocation becomes a
``MemoryError``. Node.js reserves gigabytes of address space up front, so for Node the caller adds
`runtime_memory_args()` (heap limits, as Lambda's own Node bootstrap does) in every mode.

Every mode: ``RLIMIT_NOFILE = 1024`` (Lambda's quota) and ``RLIMIT_CORE = 0``; ``full`` adds
``RLIMIT_NPROC = 1024`` (per uid, so per environment). Network (``--function-network``): ``host``
shares the host's network (functions reach services on localhost); ``none`` gives each
environment a network namespace with only loopback, in which the spawn creates the Runtime API
listener (127.0.0.1:9001) and the AWS endpoint listener (127.0.0.1:<server port>) that the
server then serves: the environment reaches those two and nothing else.

Process lifetime: every environment is a new session and process group (pgid = pid); in the
namespaced modes its first process is pid 1 of its own pid namespace (tini, which reaps orphans,
or a small reaper of ours) and killing it ends every process in the namespace. The server never
forks an environment itself: the spawner helper does, and kills everything when the server exits,
however it exits (spawner.py). It keeps each environment's zombie until `SandboxProcess.cleanup()`
releases it, so the pid cannot be reused while the server may still signal it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import os
import re
import resource
import shutil
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lambdabox.lambda_.sandbox import cgroups, rootfs, seccomp
from lambdabox.lambda_.sandbox.cgroups import MB, Cgroups, EnvCgroup, remove_env_cgroup
from lambdabox.lambda_.sandbox.channel import SandboxError, SpawnerChannel
from lambdabox.lambda_.sandbox.confine import KEEP_RLIMIT
from lambdabox.lambda_.sandbox.process import SandboxProcess
from lambdabox.lambda_.sandbox.rootfs import Rootfs, RuntimeSources
from lambdabox.lambda_.sandbox.templates import ForkFailed, Templates, TemplateUnavailable
from lambdabox.lambda_.sandbox.users import Identity, SandboxUsers

log = logging.getLogger("lambdabox.sandbox")

NOFILE = 1024  # Lambda quota: file descriptors
NPROC = 1024  # Lambda quota: processes/threads (per uid: per environment in full mode)
RLIMIT_AS_SLACK_MB = 64  # rlimit mode: address space beyond memory_mb for a Python interpreter
#: the Runtime API address inside an environment's own network namespace (as on Lambda)
INSIDE_RUNTIME_API = ("127.0.0.1", 9001)
#: the uid/gid an environment has inside its user namespace (userns mode): Lambda's sbx_user1051
USERNS_UID = 993

Mode = Literal["cgroup2", "cgroup1", "rlimit"]
Isolation = Literal["full", "userns", "rlimits"]
Network = Literal["host", "none"]


@dataclass(frozen=True)
class SandboxSpec:
    """What to run and how big its box is."""

    argv: list[str]  # e.g. [python, "-u", bootstrap]; paths as the environment sees them
    env: dict[str, str]  # complete environment for the child (nothing inherited)
    cwd: Path  # the unpacked code dir on the host (/var/task inside, where it has a root)
    memory_mb: int  # Lambda MemorySize: hard memory limit
    ephemeral_mb: int  # EphemeralStorage size: private writable /tmp
    name: str  # for cgroup naming/logs, e.g. "<function>-<envid>"
    #: host interpreters/dirs the environment needs (their installations are bound read-only
    #: when outside /usr); argv[0] is always included
    interpreters: tuple[str, ...] = field(default=())
    #: the uid to run as, from `Sandbox.new_identity()` (full mode; the sandbox releases it when
    #: the environment is cleaned up or fails to start); None: the sandbox picks
    identity: Identity | None = None
    #: the merged layers tree on the host: bound read-only at /opt where the environment has a root
    #: of its own (an empty /opt otherwise); None when the function has no layers
    opt_dir: Path | None = None
    #: give the environment a control socket as its stdin (the host end is
    #: `SandboxProcess.control`): lambdabox's extensions launcher reads its go-ahead there and
    #: reports the extensions' exits on it; and a third output pipe as its fd 3, for the
    #: extensions' output (`SandboxProcess.extensions_fd`); False: stdin is /dev/null
    control: bool = False
    #: where the runtime's own command starts in `argv` (after launchers and wrappers): the
    #: interpreter the sandbox sizes and compiles for
    runtime_at: int = 0
    #: whose environment this is (the account): forks of one template share its hash seed and
    #: address-space layout, so each tenant has templates of its own (templates.py)
    tenant: str = ""


@dataclass(frozen=True)
class View:
    """Where things are as an environment sees them (depends on the isolation)."""

    task_root: str  # /var/task, or the host code dir without a root of its own
    runtime_dir: str  # /var/runtime, or the host runtime clients dir
    python_sdk: str | None  # the directory holding the bundled boto3 (PYTHONPATH), if any
    node_modules: str | None  # the bundled AWS SDK for JavaScript, if any
    runtime_api: str | None  # fixed Runtime API address (network none), else the server's choice
    endpoint_port: int | None  # the AWS endpoint's port inside (network none)
    #: where the layers are: "/opt" with a root of its own; the host's merged layers dir (or None
    #: without layers) in rlimits mode
    opt: str | None = None


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


class Sandbox:
    """Starts and confines environment processes for one server."""

    def __init__(
        self,
        root: Path,
        *,
        runtime: RuntimeSources | None = None,
        network: Network = "host",
        endpoint_port: int | None = None,
        tmp_storage: Literal["tmpfs", "disk"] = "tmpfs",
        cpu_quota: Literal["vcpu", "fraction", "none"] = "vcpu",
        modes: Sequence[Mode] = ("cgroup2", "cgroup1", "rlimit"),
        isolations: Sequence[Isolation] = ("full", "userns", "rlimits"),
        users: SandboxUsers | None = None,
        templates: bool = True,
    ) -> None:
        """`root`: scratch dir (per-env dirs, the shared /etc and /var/runtime). `runtime`: what
        becomes /var/runtime. `modes`/`isolations`: what to try, in order (tests force some).
        `templates`: fork Python environments from a pre-initialised template (templates.py)
        where the plan allows it, else spawn every environment."""
        self._root = Path(root)
        self._runtime = runtime or RuntimeSources(Path(__file__).resolve().parent.parent / "runtimes")
        self.network: Network = network
        self._endpoint_port = endpoint_port
        self._tmp_storage = tmp_storage
        self._cpu_quota = cpu_quota
        self._modes = tuple(modes)
        self._isolations = tuple(isolations)
        self._users = users or SandboxUsers()
        self._rootfs = Rootfs(self._root, self._runtime, self._users)
        self.mode: Mode = "rlimit"
        self.isolation: Isolation = "rlimits"
        self._cgroups: Cgroups | None = None
        self._seccomp: bytes | None = None
        self._init: str | None = None
        self._channel = SpawnerChannel(self._spawner_lost)
        self._templates = Templates(self._runtime.clients, self._unpin, templates, self._skeleton)
        self._channel_of: dict[int, SpawnerChannel] = {}  # pid -> the channel reporting its exit
        self._started = False
        self._seq = itertools.count(1)
        self._live: dict[int, SandboxProcess] = {}
        self._readonly_done: set[Path] = set()
        self._closed = False

    # -- what environments see ---------------------------------------------------------------
    @property
    def own_root(self) -> bool:
        """Environments get a root of their own (/var/task, /var/runtime, ...)."""
        return self.isolation != "rlimits"

    def owns_uid(self, uid: int | None) -> bool:
        """True if `uid` belongs to an execution environment (full mode: the sandbox's range)."""
        return uid is not None and self.isolation == "full" and self._users.owns(uid)

    def new_identity(self) -> Identity | None:
        """A uid of its own for the next environment (full mode), known before it is spawned so
        that its Runtime API listener can accept that uid only; pass it in the `SandboxSpec`."""
        return self._users.acquire() if self.isolation == "full" else None

    def view(self, code_dir: Path, opt_dir: Path | None = None) -> View:
        src = self._runtime
        if self.own_root:
            return View(
                task_root=rootfs.TASK_ROOT,
                runtime_dir=rootfs.RUNTIME_DIR,
                python_sdk=rootfs.RUNTIME_DIR if src.python_sdk is not None else None,
                node_modules=f"{rootfs.RUNTIME_DIR}/node_modules" if src.node_modules is not None else None,
                runtime_api=":".join(map(str, INSIDE_RUNTIME_API)) if self.network == "none" else None,
                endpoint_port=self._endpoint_port if self.network == "none" else None,
                opt=rootfs.OPT_DIR,
            )
        return View(
            task_root=str(code_dir),
            runtime_dir=str(src.clients),
            python_sdk=str(src.python_sdk) if src.python_sdk is not None else None,
            node_modules=str(src.node_modules) if src.node_modules is not None else None,
            runtime_api=None,
            endpoint_port=None,
            opt=str(opt_dir) if opt_dir is not None else None,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Detect the modes, start the spawner/reaper, probe what the kernel allows; log it once."""
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
                    await self._start_spawner()
                await self._send_parents(cand)  # from now on, the reaper removes them
                if await self._probe_cgroup(cand):
                    self._cgroups, self.mode = cand, cand.mode
                    break
                cand.teardown(abandon=True)
                await self._send_parents(None)
            if self._cgroups is not None:
                break
        if not self._channel.running:
            await self._start_spawner()
        await self._detect_isolation()
        if self.isolation == "rlimits":
            log.warning(
                "sandbox: isolation 'rlimits' only (no root and no user namespaces here): functions "
                "run as the server's user and can see its files; run as root for full isolation"
            )
        elif self.isolation == "userns":
            log.warning(
                "sandbox: isolation 'userns' (not root): environments have their own namespaces and "
                "root, but all run as the server's uid outside them, so Runtime API and internal "
                "endpoints cannot tell them apart by uid; run as root for full isolation"
            )
        log.info(
            "sandbox: isolation %s, network %s, cgroups %s%s, seccomp %s, init %s, cold starts %s",
            self.isolation,
            self.network,
            self.mode,
            f" ({','.join(self._cgroups.controllers)})" if self._cgroups else "",
            "on" if self._seccomp and self.own_root else "off",
            self._init or ("our reaper" if self.own_root else "none"),
            self.cold_start,
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
        await self._templates.close()
        await self._channel.stop()
        self._users.close()
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
            await self._start_spawner()
            await self._send_parents(self._cgroups)
        env_id = f"{_safe_name(spec.name)}-{next(self._seq)}"
        tmp_dir = self._root / "envs" / env_id
        tmp_dir.mkdir(mode=0o700, parents=True)
        cg: EnvCgroup | None = None
        readers: list[int] = []
        ident = spec.identity or (self._users.acquire() if self.isolation == "full" else None)
        listeners: list[socket.socket] = []
        try:
            if self._cgroups is not None:
                cg = self._cgroups.create(env_id, spec.memory_mb)
            exe = spec.argv[spec.runtime_at]
            if self.own_root and _is_python(exe) and not self._rootfs.compiled_for(exe):
                await asyncio.to_thread(self._rootfs.compile_for, exe)
            if not self.own_root and spec.cwd not in self._readonly_done:
                await asyncio.to_thread(rootfs.chmod_readonly, spec.cwd)
                self._readonly_done.add(spec.cwd)
            plan = self._plan(spec, tmp_dir, cg, ident)
            out_r, out_w = os.pipe()
            readers.append(out_r)
            err_r, err_w = os.pipe()
            readers.append(err_r)
            os.set_blocking(out_r, False)
            os.set_blocking(err_r, False)
            stdio = [out_w, err_w]
            ext_r: int | None = None
            if spec.control:  # + the control socket (stdin) and the extensions' output (fd 3)
                control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                listeners.append(control)  # closed with them on failure
                ext_r, ext_w = os.pipe()
                readers.append(ext_r)
                os.set_blocking(ext_r, False)
                stdio += [theirs.detach(), ext_w]
            channel: SpawnerChannel = self._channel
            reply: dict[str, Any] | None = None
            forker = self._templates.eligible(plan, spec.tenant)
            if forker is not None:
                held = ident
                try:
                    pid, fds, channel = await self._templates.fork(
                        forker,
                        plan,
                        self._seccomp,
                        stdio,
                        lambda: self._release_identity(held),
                    )
                except TemplateUnavailable as exc:
                    log.debug("sandbox: spawning %s (no template fork: %s)", spec.name, exc)
                except ForkFailed as exc:  # spawn it: a spawn fails the same way if it must
                    log.warning("sandbox: a template fork for %s failed (%s); spawning it", spec.name, exc)
                except asyncio.CancelledError:
                    ident = None  # released once the abandoned child is gone
                    raise
                else:
                    for fd in stdio:  # only the child keeps the write ends
                        os.close(fd)
                    reply = {"op": "spawned", "pid": pid, "fds": fds}
            if reply is None:
                channel = self._channel
                cleanup_paths = {"cgroups": [str(d) for d in cg.dirs] if cg else [], "dirs": [str(tmp_dir)]}
                # submit closes the write ends in every case: only the child keeps them.
                fut = await self._channel.submit({"op": "spawn", "plan": plan, **cleanup_paths}, stdio)
                try:
                    reply = await asyncio.shield(fut)
                except asyncio.CancelledError:
                    fut.add_done_callback(self._channel.abandoned_spawn)
                    if ident is not None:  # its uid is free once the abandoned child is killed
                        held, ident = ident, None
                        fut.add_done_callback(lambda _f: self._users.release(held))
                    raise
            listeners += [socket.socket(fileno=fd) for fd in reply.pop("fds", ())]
            if reply["op"] != "spawned":
                raise _spawn_error(reply)
        except BaseException:
            for fd in readers:
                os.close(fd)
            for s in listeners:
                s.close()
            if cg is not None:
                await remove_env_cgroup(cg)
            shutil.rmtree(tmp_dir, ignore_errors=True)
            if ident is not None:
                self._users.release(ident)
            raise
        pid = int(reply["pid"])
        for s in listeners:
            s.setblocking(False)
        control_sock = listeners.pop(0) if spec.control else None
        proc = SandboxProcess(
            self, pid, out_r, err_r, tmp_dir, cg, channel.exit_future(pid), spec, ident,
            listeners, self.own_root, self._users.release, control_sock, ext_r,
        )  # fmt: skip
        self._live[pid] = proc
        self._channel_of[pid] = channel
        return proc

    def _plan(
        self, spec: SandboxSpec, tmp_dir: Path, cg: EnvCgroup | None, ident: Identity | None
    ) -> dict[str, Any]:
        env = dict(spec.env)
        cwd = os.path.realpath(spec.cwd)
        argv = list(spec.argv)
        rlimits: list[tuple[int, int, int]] = [
            (resource.RLIMIT_NOFILE, NOFILE, NOFILE),
            (resource.RLIMIT_CORE, 0, KEEP_RLIMIT),
        ]
        plan: dict[str, Any] = {"procs": [str(p) for p in cg.join_files] if cg else [], "exec": True}
        at = spec.runtime_at
        if self._cgroups is None and _is_python(argv[at]):  # every isolation: no cgroup holds memory
            limit = (spec.memory_mb + RLIMIT_AS_SLACK_MB) * MB
            rlimits.append((resource.RLIMIT_AS, limit, limit))
        if not self.own_root:
            env.setdefault("TMPDIR", str(tmp_dir))
            return {**plan, "argv": argv, "env": env, "cwd": cwd, "rlimits": rlimits}
        # a root of its own: host paths of the code dir become /var/task
        argv = [rootfs.TASK_ROOT + a[len(cwd) :] if a == cwd or a.startswith(cwd + "/") else a for a in argv]
        for i in {0, at}:
            if os.path.isabs(argv[i]) and not argv[i].startswith(
                (rootfs.TASK_ROOT + "/", rootfs.OPT_DIR + "/")
            ):
                argv[i] = os.path.realpath(argv[i])  # e.g. a virtualenv's python: its base interpreter
        prefixes = {
            rootfs.install_prefix(p) for p in (argv[0], argv[at], *spec.interpreters) if os.path.isabs(p)
        }
        (tmp_dir / "root").mkdir()
        (tmp_dir / "tmp").mkdir(mode=0o1777)
        os.chmod(tmp_dir / "tmp", 0o1777)
        tmpfs_mb = spec.ephemeral_mb if self._tmp_storage == "tmpfs" else None
        opt = os.path.realpath(spec.opt_dir) if spec.opt_dir is not None else None
        root = self._rootfs.plan(
            str(tmp_dir / "root"), cwd, tmpfs_mb, str(tmp_dir / "tmp"), [p for p in prefixes if p], opt
        )
        if self.isolation == "full":
            assert ident is not None
            user = {"uid": ident.uid, "gid": ident.gid}
            rlimits.append((resource.RLIMIT_NPROC, NPROC, NPROC))
        else:
            user = {"uid": USERNS_UID, "gid": USERNS_UID}
        listen = []
        if self.network == "none":
            listen = [list(INSIDE_RUNTIME_API)]
            if self._endpoint_port is not None:
                listen.append(["127.0.0.1", self._endpoint_port])
        return {
            **plan,
            "argv": argv,
            "env": env,
            "cwd": rootfs.TASK_ROOT,
            "rlimits": rlimits,
            "ns": self._namespaces(),
            "root": root,
            "user": user,
            "listen": listen,
            "hostname": "localhost",
            "init": self._init,
            "fork_init": self._rootfs.fork_init,  # the pid 1 a fork of a template execs
            "seccomp": self._seccomp is not None,
        }

    def _skeleton(self, exe: str) -> dict[str, Any] | None:
        """What every plan for the interpreter `exe` has in common, for a template's spares to
        set up before they have one (confine.prepare); full isolation only."""
        if self.isolation != "full":
            return None
        where = self._root / "spare-root"  # each spare mounts its root here in its own namespace
        where.mkdir(mode=0o700, exist_ok=True)
        prefixes = [p for p in {rootfs.install_prefix(exe), rootfs.install_prefix(os.path.dirname(exe))} if p]
        return {
            "ns": self._namespaces(),
            "hostname": "localhost",
            "root": self._rootfs.skeleton(str(where), prefixes),
        }

    def _namespaces(self) -> dict[str, bool]:
        return {"user": self.isolation == "userns", "pid": True, "mnt": True, "ipc": True, "uts": True,
                "cgroup": True, "net": self.network == "none"}  # fmt: skip

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

    async def _detect_isolation(self) -> None:
        """Prepare the shared root parts and keep the first isolation a probe child manages."""
        await asyncio.to_thread(self._rootfs.prepare)
        self._seccomp = await asyncio.to_thread(seccomp.compile_filter)
        await self._send_seccomp()
        tini = shutil.which("tini-static", path="/usr/bin:/usr/sbin:/usr/local/bin") or shutil.which(
            "tini", path="/usr/bin:/usr/sbin:/usr/local/bin"
        )
        self._init = tini if tini and rootfs.is_system_path(os.path.realpath(tini)) else None
        probe = self._root / f"probe-{os.getpid()}"
        code = probe / "code"
        code.mkdir(parents=True, exist_ok=True)
        try:
            for isolation in self._isolations:
                if isolation == "rlimits":
                    break
                if isolation == "full" and os.geteuid() != 0:
                    continue
                self.isolation = isolation
                shutil.rmtree(probe / "env", ignore_errors=True)
                (probe / "env").mkdir()
                ident = self._users.acquire() if isolation == "full" else None
                try:
                    spec = SandboxSpec(["/bin/true"], {}, code, 128, 1, "probe")
                    plan = {
                        **self._plan(spec, probe / "env", None, ident),
                        "exec": False,
                        "check_ro": "/var/task",
                    }
                    reply = await self._channel.request({"op": "probe", "plan": plan})
                finally:
                    if ident is not None:
                        self._users.release(ident)
                if reply.get("ok"):
                    return
                log.debug("sandbox: isolation %s unavailable: %s", isolation, reply.get("strerror"))
            self.isolation = "rlimits"
        finally:
            shutil.rmtree(probe, ignore_errors=True)

    # -- the spawner -------------------------------------------------------------------------
    async def _start_spawner(self) -> None:
        await self._channel.start()
        await self._send_seccomp()

    async def _send_seccomp(self) -> None:
        if self._seccomp is not None and self._channel.running:
            await self._channel.send({"op": "seccomp", "program": base64.b64encode(self._seccomp).decode()})

    async def _send_parents(self, cgroups: Cgroups | None) -> None:
        await self._channel.send(
            {
                "op": "parents",
                "paths": [str(p) for p in cgroups.parents] if cgroups else [],
                "scratch": str(self._root / "envs"),  # forks' dirs too (templates.py)
            }
        )

    def settled(self) -> None:
        """An environment's start is over (ready or failed): background work held back while it
        started (forking spares) may run."""
        self._templates.settled()

    @property
    def cold_start(self) -> str:
        """How new Python environments start: "template" (forked, where the plan allows) or "spawn"."""
        return "template" if self._templates.enabled and self.own_root else "spawn"

    async def release_pid(self, pid: int) -> None:
        """Let the process that forked `pid` (spawner or template) reap its zombie (the pid may
        be reused afterwards); nothing if that process is gone (its init reaped it)."""
        channel = self._channel_of.get(pid, self._channel)
        if channel.running:
            await channel.send({"op": "release", "pid": pid})

    def _spawner_lost(self, pids: list[int]) -> None:
        """The spawner died while we live: its children died with it (death signal)."""
        if not self._closed:
            log.error("sandbox: the spawner process exited; its environments died with it")
        self._unpin(pids)

    def _release_identity(self, ident: Identity | None) -> None:
        if ident is not None:
            self._users.release(ident)

    def _unpin(self, pids: list[int]) -> None:
        """Their spawner or template is gone and init reaped them: never signal those pids again."""
        for pid in pids:
            proc = self._live.get(pid)
            if proc is not None:
                proc.unpin()

    def forget(self, pid: int) -> None:
        self._live.pop(pid, None)
        self._channel_of.pop(pid, self._channel).forget(pid)


def _spawn_error(reply: dict[str, Any]) -> SpawnError:
    code, text, filename = int(reply.get("errno") or 0), str(reply.get("strerror")), reply.get("filename")
    return SpawnError(code, text, filename) if filename else SpawnError(code, text)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:120] or "env"


def _is_python(argv0: str) -> bool:
    return os.path.basename(argv0).startswith("python")
