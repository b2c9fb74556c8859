"""Per-environment control groups: find a usable hierarchy, create, measure and remove env cgroups.

`candidates()` finds the hierarchies this process may use for one mode; `Cgroups.setup()` makes our
parent directory in them and `Cgroups.create()` one `EnvCgroup` per environment, which measures
peak memory, tells an OOM kill and signals its members; `remove_env_cgroup()` removes it. Which
mode is chosen, and the probe that proves it, is the sandbox manager's business (manager.py).

Hierarchies
===========

- ``cgroup2``: the unified hierarchy with the memory controller. Env cgroups live under
  ``<our cgroup>/lambdabox-<server pid>/``; when our own cgroup holds processes (the "no internal
  processes" rule forbids enabling controllers there) the server moves itself into a leaf
  ``lambdabox-server-<pid>`` first, and gives up on v2 if anything else lives there. It stays
  there (later Sandboxes of the process use the leaf's parent as their base); an abandoned setup
  disables the controllers it enabled and moves the server back.
- ``cgroup1``: the legacy per-controller hierarchies (memory required; cpu and pids if mounted),
  ``<our cgroup in each>/lambdabox-<server pid>/<env>``.

Each parent is unique per `Cgroups` (several sandboxes may live in one process). `setup()` first
removes ``lambdabox-<pid>`` cgroups left by dead servers whose reaper was killed too. Every
cgroupfs operation goes through the `CgroupFs` given to `Cgroups` (cgroupfs.py), so tests can hand
it a fake cgroupfs tree.

Limits
======

Memory: ``memory.max`` (v2) / ``memory.limit_in_bytes`` (v1) = ``memory_mb``; swap is limited too
(``memory.swap.max = 0`` / ``memory.memsw.limit_in_bytes = memory_mb``), so the limit is a RAM+swap
limit as on Lambda. v2 also sets ``memory.oom.group = 1`` so an OOM kills the whole environment, as
Lambda does. `EnvCgroup.oom_killed()` is True when the env cgroup's ``oom_kill`` counter
(``memory.events`` / ``memory.oom_control``) is non-zero.

Peak memory: ``memory.max_usage_in_bytes`` (v1, reset by writing 0) or ``memory.peak`` (v2; we keep
one file descriptor open because since Linux 6.12 a write resets the peak as seen through that
descriptor only). Tmpfs pages written to the env's /tmp are charged to its memory cgroup.

CPU: shares proportional to memory as on Lambda, where 1769 MB is one vCPU: ``cpu.shares =
1024 * memory_mb / 1769`` (v1) / ``cpu.weight = 100 * memory_mb / 1769`` (v2), which divides the
machine fairly under contention. The hard quota defaults to whole vCPUs (``ceil(memory_mb / 1769)``,
so at most 6 vCPUs at 10240 MB as on Lambda): it stops a runaway environment from taking every core
without making a 128 MB function fourteen times slower on an idle laptop. ``cpu_quota="fraction"``
enforces Lambda's exact fraction; ``"none"`` sets no quota. The parent of all environments weighs
`ENVS_CPU_WEIGHT` times a single task or cgroup at the default weight (``cpu.shares = 8192`` /
``cpu.weight = 800``): on Lambda the front end runs elsewhere, here it shares the cores, and at the
default weight the server's threads (the store writer above all) left busy environments waiting
(an Express route behind an HTTP API at c=10 on 2 cores: p99 75 ms, 15-25 ms at this weight;
benchmarks/http_api_vs_offline.py). The server still gets a ninth of the CPU against any number of
spinning environments (ten of them on 2 cores: ListFunctions p50 6 ms, 1 ms at equal weight), and
each environment keeps its own quota. ``pids.max = 1024`` (Lambda's
processes/threads quota) where the pids controller exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import math
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lambdabox.lambda_.sandbox.cgroupfs import REAL_FS, CgroupFs
from lambdabox.lambda_.sandbox.spawner import DRAIN_LIMIT, POLL, remove_cgroup_tree

log = logging.getLogger("lambdabox.sandbox")

MB = 1024 * 1024
VCPU_MB = 1769  # Lambda: 1769 MB of memory = one vCPU
MAX_VCPUS = 6
PIDS_MAX = 1024  # Lambda quota: processes/threads per environment
CPU_PERIOD_US = 100_000
ENVS_CPU_WEIGHT = 8  # the environments' parent, in default weights (see Limits)

CgroupMode = Literal["cgroup2", "cgroup1"]


def candidates(mode: str, cpu_quota: str) -> list[Cgroups]:
    """The hierarchies usable for `mode` (none for a mode that is not a cgroup mode)."""
    if mode == "cgroup2":
        return CgroupsV2.detect(cpu_quota)
    if mode == "cgroup1":
        return CgroupsV1.detect(cpu_quota)
    return []


# ===================================================================== one environment's cgroup
@dataclass
class EnvCgroup:
    """One environment's cgroup directory (v2) or directories (v1, memory first)."""

    version: int
    dirs: list[Path]
    memory_dir: Path
    peak_fd: int | None = None  # v2: memory.peak (resets are per open file); v1: max_usage_in_bytes
    peak_resettable: bool = False
    fs: CgroupFs = field(default=REAL_FS, repr=False)

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
                found.update(int(x) for x in self.fs.read(d / "cgroup.procs").split())
        return sorted(found)

    def signal_all(self, sig: int) -> None:
        if sig == signal.SIGKILL and self.version == 2:
            with contextlib.suppress(OSError):
                self.fs.write(self.memory_dir / "cgroup.kill", "1")
                return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.fs.kill(pid, sig)

    def peak_bytes(self) -> int:
        if self.version == 1 and self.peak_fd is None:
            # read for every invocation's REPORT: keep the file open and pread it
            self.peak_fd = self.fs.open(self.memory_dir / "memory.max_usage_in_bytes", os.O_RDONLY)
        if self.peak_fd is not None:
            return int(os.pread(self.peak_fd, 64, 0))
        return int(self.fs.read(self.memory_dir / "memory.current"))

    def reset_peak(self) -> None:
        if self.version == 1:
            self.fs.write(self.memory_dir / "memory.max_usage_in_bytes", "0")
        elif self.peak_fd is not None and self.peak_resettable:
            os.pwrite(self.peak_fd, b"reset\n", 0)

    def oom_killed(self) -> bool:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            fields = dict(line.split() for line in self.fs.read(self.memory_dir / name).splitlines() if line)
        except (OSError, ValueError):
            return False
        if "oom_kill" in fields:
            return int(fields["oom_kill"]) > 0
        if self.version == 1:  # kernels before 4.13: the limit was hit at least once
            with contextlib.suppress(OSError, ValueError):
                return int(self.fs.read(self.memory_dir / "memory.failcnt")) > 0
        return int(fields.get("oom", "0")) > 0

    def close(self) -> None:
        if self.peak_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.peak_fd)
            self.peak_fd = None


async def remove_env_cgroup(cg: EnvCgroup) -> None:
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
                cg.fs.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    log.warning("sandbox: cannot remove %s: %s", d, exc)
                    break
                await asyncio.sleep(POLL)


# =============================================================================== hierarchies
class Cgroups:
    """A cgroup hierarchy we may create environment cgroups in."""

    mode: CgroupMode
    version: int

    def __init__(self, bases: dict[str, Path], cpu_quota: str, *, fs: CgroupFs = REAL_FS) -> None:
        self.bases = bases  # controller -> our own cgroup's directory ("unified" for v2)
        self.cpu_quota = cpu_quota
        self.fs = fs  # every cgroupfs operation goes through it (tests: a fake)
        self.controllers: list[str] = []
        self.parents: list[Path] = []  # our parent directory in each hierarchy
        # unique per Sandbox: several may live in one process (in-process test servers)
        self.name = f"lambdabox-{os.getpid()}-{next(_parent_seq)}"

    def setup(self) -> None:
        raise NotImplementedError

    def create(self, env_id: str, memory_mb: int) -> EnvCgroup:
        raise NotImplementedError

    def teardown(self, abandon: bool = False) -> None:
        """Remove our parents (and anything left in them). `abandon`: this mode was not chosen."""
        for parent in self.parents:
            remove_cgroup_tree(parent, fs=self.fs)
            _our_parents.discard(parent)
        self.parents = []

    def _quota_us(self, memory_mb: int) -> int | None:
        """The CPU quota per `CPU_PERIOD_US`, None for no quota."""
        if self.cpu_quota == "none":
            return None
        exact = memory_mb / VCPU_MB
        if self.cpu_quota == "fraction":
            cpus = min(max(exact, 0.01), MAX_VCPUS)
        else:
            cpus = float(min(max(math.ceil(exact), 1), MAX_VCPUS))
        return max(int(CPU_PERIOD_US * cpus), 1000)

    def _adopt(self, parent: Path) -> None:
        self.parents.append(parent)
        _our_parents.add(parent)

    def _sweep(self, base: Path) -> None:
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
                if pid == os.getpid() or not _pid_alive(pid, self.fs):
                    remove_cgroup_tree(entry, fs=self.fs)


_parent_seq = itertools.count(1)
_our_parents: set[Path] = set()  # parents of this process's live Sandboxes: never swept


class CgroupsV1(Cgroups):
    mode: CgroupMode = "cgroup1"
    version = 1

    @classmethod
    def detect(cls, cpu_quota: str) -> list[Cgroups]:
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
                self.fs.mkdir(parent)
            except OSError:
                if ctl == "memory":
                    raise
                continue
            self._adopt(parent)
            self.controllers.append(ctl)
            if ctl == "cpu":
                with contextlib.suppress(OSError):
                    self.fs.write(parent / "cpu.shares", str(1024 * ENVS_CPU_WEIGHT))

    def create(self, env_id: str, memory_mb: int) -> EnvCgroup:
        dirs: list[Path] = []
        try:
            for ctl, parent in zip(self.controllers, self.parents, strict=True):
                d = parent / env_id
                self.fs.mkdir(d)
                dirs.append(d)
                if ctl == "memory":
                    limit = str(memory_mb * MB)
                    self.fs.write(d / "memory.limit_in_bytes", limit)
                    with contextlib.suppress(OSError):  # absent without swap accounting
                        self.fs.write(d / "memory.memsw.limit_in_bytes", limit)
                elif ctl == "cpu":
                    shares = min(max(round(1024 * memory_mb / VCPU_MB), 2), 262144)
                    self.fs.write(d / "cpu.shares", str(shares))
                    quota = self._quota_us(memory_mb)
                    if quota is not None:
                        with contextlib.suppress(OSError):  # kernels without CFS bandwidth control
                            self.fs.write(d / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                            self.fs.write(d / "cpu.cfs_quota_us", str(quota))
                elif ctl == "pids":
                    self.fs.write(d / "pids.max", str(PIDS_MAX))
        except BaseException:
            for d in dirs:
                with contextlib.suppress(OSError):
                    self.fs.rmdir(d)
            raise
        return EnvCgroup(1, dirs, dirs[0], fs=self.fs)


class CgroupsV2(Cgroups):
    mode: CgroupMode = "cgroup2"
    version = 2

    def __init__(self, bases: dict[str, Path], cpu_quota: str, *, fs: CgroupFs = REAL_FS) -> None:
        super().__init__(bases, cpu_quota, fs=fs)
        self._moved_from: Path | None = None  # set when the server moved itself into a leaf
        self._enabled_at_base: list[str] = []

    @classmethod
    def detect(cls, cpu_quota: str) -> list[Cgroups]:
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
        if base.name == f"lambdabox-server-{os.getpid()}":
            # an earlier Sandbox of this process moved the server into this leaf: the base is its
            # parent, where the controllers are enabled already (else each Sandbox would nest one
            # level deeper, or give up on v2 while the earlier one's spawner shares the leaf)
            base = self.bases["unified"] = base.parent
        self._sweep(base)
        available = self.fs.read(base / "cgroup.controllers").split()
        wanted: list[str] = [c for c in ("memory", "cpu", "pids") if c in available]
        missing: list[str] = [
            c for c in wanted if c not in self.fs.read(base / "cgroup.subtree_control").split()
        ]
        if missing:
            try:
                self.fs.write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
                self._move_self_to_leaf(base)
                self.fs.write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
            self._enabled_at_base = missing
        parent = base / self.name
        self.fs.mkdir(parent)
        self._adopt(parent)
        self.fs.write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
        self.controllers = wanted
        if "cpu" in wanted:
            with contextlib.suppress(OSError):
                self.fs.write(parent / "cpu.weight", str(100 * ENVS_CPU_WEIGHT))

    def _move_self_to_leaf(self, base: Path) -> None:
        """Our cgroup holds processes, so controllers cannot be enabled for its children: move
        the server into a leaf (only if it is alone there)."""
        others = [p for p in self.fs.read(base / "cgroup.procs").split() if int(p) != os.getpid()]
        if others:
            raise OSError(errno.EBUSY, f"other processes share {base}")
        leaf = base / f"lambdabox-server-{os.getpid()}"
        self.fs.mkdir(leaf, exist_ok=True)
        self.fs.write(leaf / "cgroup.procs", str(os.getpid()))
        self._moved_from = base

    def teardown(self, abandon: bool = False) -> None:
        """The server stays in its leaf after a normal close (another Sandbox of this process
        may rely on the controllers); only an abandoned v2 setup disables the controllers it
        enabled at the base and moves the server back."""
        super().teardown(abandon)
        if not abandon:
            return
        base = self.bases["unified"]
        with contextlib.suppress(OSError):  # EBUSY while another Sandbox of ours uses them
            if self._enabled_at_base:
                self.fs.write(
                    base / "cgroup.subtree_control", " ".join(f"-{c}" for c in self._enabled_at_base)
                )
                self._enabled_at_base = []
            if self._moved_from is not None:
                self.fs.write(base / "cgroup.procs", str(os.getpid()))
                self.fs.rmdir(base / f"lambdabox-server-{os.getpid()}")
        self._moved_from = None

    def create(self, env_id: str, memory_mb: int) -> EnvCgroup:
        d = self.parents[0] / env_id
        self.fs.mkdir(d)
        try:
            self.fs.write(d / "memory.max", str(memory_mb * MB))
            for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                with contextlib.suppress(FileNotFoundError):
                    self.fs.write(d / name, value)
            if "cpu" in self.controllers:
                self.fs.write(d / "cpu.weight", str(min(max(round(100 * memory_mb / VCPU_MB), 1), 10000)))
                quota = self._quota_us(memory_mb)
                if quota is not None:
                    self.fs.write(d / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            if "pids" in self.controllers:
                self.fs.write(d / "pids.max", str(PIDS_MAX))
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.rmdir(d)
            raise
        cg = EnvCgroup(2, [d], d, fs=self.fs)
        try:
            cg.peak_fd = self.fs.open(d / "memory.peak", os.O_RDWR)
            cg.peak_resettable = True
        except OSError:
            with contextlib.suppress(OSError):
                cg.peak_fd = self.fs.open(d / "memory.peak", os.O_RDONLY)
        return cg


# ========================================================================= /proc and mounts
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


def _pid_alive(pid: int, fs: CgroupFs) -> bool:
    try:
        fs.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
