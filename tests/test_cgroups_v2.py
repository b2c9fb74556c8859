"""The cgroup v2 code path (cgroups.py, `remove_cgroup_tree`) against a cgroupfs tree built here.

`FakeCgroupFs` builds a cgroup v2 hierarchy in a plain directory and behaves as the kernel's
cgroupfs does where our code depends on it: a mkdir makes the interface files of the controllers
enabled in the parent's ``cgroup.subtree_control``; writes are commands (``cgroup.procs`` moves a
process, ``cgroup.subtree_control`` enables controllers for the children, ``cgroup.kill`` ends
every member) and refuse what the kernel refuses (the "no internal processes" rule, rmdir of a
cgroup with members or children: EBUSY); nothing is created by a write. Its processes are numbers:
`kill` records signals and never sends one. Pure and fast, no root needed; the last test mounts
a real cgroup2 file system (root only) to check `remove_cgroup_tree` on the kernel's own files.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from lambdabox.lambda_.sandbox.cgroupfs import CgroupFs
from lambdabox.lambda_.sandbox.cgroups import MB, CgroupsV2, remove_env_cgroup
from lambdabox.lambda_.sandbox.spawner import remove_cgroup_tree

ME = os.getpid()
OTHER = 4_000_001  # beyond pid_max: a number no real process has
CORE = ("cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "cgroup.events", "cgroup.kill")
CONTROLLER_FILES = {
    "memory": {
        "memory.max": "max",
        "memory.swap.max": "max",
        "memory.oom.group": "0",
        "memory.current": "0",
        "memory.peak": "0",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0",
    },
    "cpu": {"cpu.weight": "100", "cpu.max": "max 100000"},
    "pids": {"pids.max": "max"},
}
READ_ONLY = {"cgroup.controllers", "cgroup.events", "memory.current", "memory.events"}
ORDER = ("cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc")


def _busy(what: str) -> OSError:
    return OSError(errno.EBUSY, os.strerror(errno.EBUSY), what)


class FakeCgroupFs(CgroupFs):
    """A cgroup v2 hierarchy rooted at `root` (the root cgroup: exempt from the no-internal-
    processes rule, as in the kernel), kept in plain files."""

    def __init__(
        self,
        root: Path,
        controllers: Iterable[str] = ("cpuset", "cpu", "io", "memory", "pids"),
        *,
        without: Iterable[str] = (),
        peak_resettable: bool = True,
        live: Iterable[int] = (),
    ) -> None:
        self.root = root
        self.without = set(without)  # interface files this kernel lacks
        self.peak_resettable = peak_resettable  # memory.peak is writable since Linux 6.12
        self.live = set(live)  # processes alive but in no cgroup of this tree
        self.unkillable: set[int] = set()  # stuck in the kernel (D state): SIGKILL does not end them
        self.writes: list[tuple[str, str]] = []  # (path relative to root, value)
        self.kills: list[tuple[int, int]] = []
        root.mkdir()
        for name in CORE:
            (root / name).write_text("")
        (root / "cgroup.controllers").write_text(" ".join(controllers))

    # -- the tree ---------------------------------------------------------------------------
    def _words(self, path: Path) -> list[str]:
        return path.read_text().split()

    def procs(self, d: Path) -> list[int]:
        return [int(p) for p in self._words(d / "cgroup.procs")]

    def _set_procs(self, d: Path, pids: Iterable[int]) -> None:
        (d / "cgroup.procs").write_text("".join(f"{p}\n" for p in pids))

    def _cgroups(self) -> list[Path]:
        return [Path(p) for p, _, files in os.walk(self.root) if "cgroup.procs" in files]

    def _children(self, d: Path) -> list[Path]:
        return [c for c in d.iterdir() if c.is_dir()]

    def _remove_everywhere(self, pid: int) -> None:
        for d in self._cgroups():
            if pid in self.procs(d):
                self._set_procs(d, [p for p in self.procs(d) if p != pid])

    def _alive(self, pid: int) -> bool:
        return pid in self.live or any(pid in self.procs(d) for d in self._cgroups())

    def _controller_files(self, d: Path, ctl: str) -> dict[str, str]:
        return {k: v for k, v in CONTROLLER_FILES.get(ctl, {}).items() if k not in self.without}

    def _sync_child(self, child: Path, enabled: list[str]) -> None:
        """A child's cgroup.controllers and interface files follow its parent's subtree_control."""
        old = self._words(child / "cgroup.controllers")
        (child / "cgroup.controllers").write_text(" ".join(enabled))
        for ctl in set(old) - set(enabled):
            for name in self._controller_files(child, ctl):
                (child / name).unlink()
        for ctl in set(enabled) - set(old):
            for name, value in self._controller_files(child, ctl).items():
                (child / name).write_text(value + "\n")

    # -- CgroupFs ---------------------------------------------------------------------------
    def mkdir(self, path: str | os.PathLike[str], exist_ok: bool = False) -> None:
        d = Path(path)
        if exist_ok and d.is_dir():
            return
        assert (d.parent / "cgroup.procs").is_file(), f"{d.parent} is not a cgroup"
        d.mkdir()
        for name in CORE:
            (d / name).write_text("")
        (d / "cgroup.events").write_text("populated 0\nfrozen 0\n")
        for name in self.without & set(CORE):
            (d / name).unlink()
        self._sync_child(d, self._words(d.parent / "cgroup.subtree_control"))

    def rmdir(self, path: str | os.PathLike[str]) -> None:
        d = Path(path)
        if not (d / "cgroup.procs").is_file():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(d))
        if self.procs(d) or self._children(d):
            raise _busy(str(d))
        for f in d.iterdir():
            f.unlink()
        d.rmdir()

    def open(self, path: str | os.PathLike[str], flags: int) -> int:
        p = Path(path)
        writable = flags & (os.O_WRONLY | os.O_RDWR)
        if writable and (p.name in READ_ONLY or (p.name == "memory.peak" and not self.peak_resettable)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(p))
        return os.open(p, flags)  # no O_CREAT: FileNotFoundError for a file the kernel lacks

    def write(self, path: str | os.PathLike[str], value: str) -> None:
        p = Path(path)
        d = p.parent
        self.writes.append((str(p.relative_to(self.root)), value))
        if not p.is_file():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(p))
        if p.name in READ_ONLY or p.name == "memory.peak":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(p))
        if p.name == "cgroup.procs":
            pid = int(value) or ME
            if d != self.root and self._words(d / "cgroup.subtree_control"):
                raise _busy(f"{d} distributes controllers: no internal processes")
            self._remove_everywhere(pid)
            self._set_procs(d, [*self.procs(d), pid])
        elif p.name == "cgroup.subtree_control":
            self._subtree_control(d, value.split())
        elif p.name == "cgroup.kill":
            if value.strip() != "1":
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), str(p))
            for c in self._cgroups():
                if c == d or d in c.parents:
                    for pid in self.procs(c):
                        self.live.discard(pid)
                    self._set_procs(c, [])
        else:
            p.write_text(value.strip() + "\n")

    def _subtree_control(self, d: Path, tokens: list[str]) -> None:
        available = self._words(d / "cgroup.controllers")
        enabled = set(self._words(d / "cgroup.subtree_control"))
        for tok in tokens:
            sign, ctl = tok[:1], tok[1:]
            if sign not in ("+", "-"):
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), tok)
            if ctl not in available:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), ctl)
            if sign == "+" and ctl not in enabled and d != self.root and self.procs(d):
                raise _busy(f"{d} has processes: no internal processes")
            if sign == "-" and any(
                ctl in self._words(c / "cgroup.subtree_control") for c in self._children(d)
            ):
                raise _busy(f"a child of {d} uses {ctl}")
            (enabled.add if sign == "+" else enabled.discard)(ctl)
        ordered = [c for c in ORDER if c in enabled]
        (d / "cgroup.subtree_control").write_text(" ".join(ordered) + "\n")
        for child in self._children(d):
            self._sync_child(child, ordered)

    def kill(self, pid: int, sig: int) -> None:
        self.kills.append((pid, sig))
        if not self._alive(pid):
            raise ProcessLookupError(errno.ESRCH, os.strerror(errno.ESRCH))
        if sig == signal.SIGKILL and pid not in self.unkillable:
            self.live.discard(pid)
            self._remove_everywhere(pid)

    # -- for the tests ----------------------------------------------------------------------
    def make(self, rel: str, *, procs: Iterable[int] = ()) -> Path:
        """A cgroup as systemd or another server would have made it."""
        d = self.root / rel
        self.mkdir(d)
        for pid in procs:
            self.write(d / "cgroup.procs", str(pid))
        self.writes.clear()
        return d


def words(path: Path) -> list[str]:
    return path.read_text().split()


@pytest.fixture
def fs(tmp_path: Path) -> FakeCgroupFs:
    fake = FakeCgroupFs(tmp_path / "cgroup")
    fake.write(fake.root / "cgroup.subtree_control", "+cpu +io +memory +pids")  # as systemd does
    return fake


@pytest.fixture
def base(fs: FakeCgroupFs) -> Path:
    """The server's own cgroup, which it shares with nobody."""
    return fs.make("lambdabox.service", procs=[ME])


def started(fs: FakeCgroupFs, base: Path, cpu_quota: str = "vcpu") -> CgroupsV2:
    cg = CgroupsV2({"unified": base}, cpu_quota, fs=fs)
    cg.setup()
    return cg


# ==================================================================================== setup
def test_setup_moves_a_lone_server_into_a_leaf_and_enables_the_controllers(
    fs: FakeCgroupFs, base: Path
) -> None:
    cg = started(fs, base)
    leaf = base / f"lambdabox-server-{ME}"
    parent = base / cg.name
    try:
        assert cg.controllers == ["memory", "cpu", "pids"]
        assert cg.parents == [parent]
        assert fs.procs(leaf) == [ME] and fs.procs(base) == []
        assert words(base / "cgroup.subtree_control") == ["cpu", "memory", "pids"]
        assert words(parent / "cgroup.controllers") == ["cpu", "memory", "pids"]
        assert words(parent / "cgroup.subtree_control") == ["cpu", "memory", "pids"]
        # the first attempt met the no-internal-processes rule; the second came after the move
        control = ("lambdabox.service/cgroup.subtree_control", "+memory +cpu +pids")
        assert fs.writes.count(control) == 2
        assert fs.writes.index(control) < fs.writes.index(
            (f"{leaf.relative_to(fs.root)}/cgroup.procs", str(ME))
        )
    finally:
        cg.teardown()
    assert not parent.exists()
    assert fs.procs(leaf) == [ME]  # a normal close leaves the server (and controllers) in place
    assert words(base / "cgroup.subtree_control") == ["cpu", "memory", "pids"]


def test_setup_refuses_when_other_processes_share_our_cgroup(fs: FakeCgroupFs) -> None:
    base = fs.make("shared.service", procs=[ME, OTHER])
    cg = CgroupsV2({"unified": base}, "vcpu", fs=fs)
    with pytest.raises(OSError) as exc:
        cg.setup()
    assert exc.value.errno == errno.EBUSY
    cg.teardown(abandon=True)
    assert sorted(fs.procs(base)) == sorted([ME, OTHER])
    assert words(base / "cgroup.subtree_control") == []
    assert [c.name for c in base.iterdir() if c.is_dir()] == []


def test_setup_uses_only_the_controllers_our_cgroup_has(tmp_path: Path) -> None:
    fs = FakeCgroupFs(tmp_path / "cgroup", ("memory", "io"))
    fs.write(fs.root / "cgroup.subtree_control", "+memory +io")
    base = fs.make("lambdabox.service", procs=[ME])
    cg = started(fs, base)
    try:
        assert cg.controllers == ["memory"]
        env = cg.create("f-1", 256)
        assert not (env.memory_dir / "cpu.weight").exists()
        assert [p for p, _ in fs.writes if "/cpu." in p or "/pids." in p] == []
        assert words(env.memory_dir / "memory.max") == [str(256 * MB)]
        env.close()
        fs.rmdir(env.memory_dir)
    finally:
        cg.teardown(abandon=True)


def test_abandoned_setup_moves_the_server_back_and_disables_what_it_enabled(
    fs: FakeCgroupFs, base: Path
) -> None:
    cg = started(fs, base)
    cg.teardown(abandon=True)
    assert fs.procs(base) == [ME]
    assert words(base / "cgroup.subtree_control") == []
    assert [c for c in base.iterdir() if c.is_dir()] == []
    assert cg.parents == []


def test_abandoned_setup_in_the_root_cgroup_disables_what_it_enabled(tmp_path: Path) -> None:
    """The root cgroup may hold processes and distribute controllers: no move, but the
    controllers we enabled there are disabled again."""
    fs = FakeCgroupFs(tmp_path / "cgroup")
    fs.write(fs.root / "cgroup.procs", str(ME))
    fs.write(fs.root / "cgroup.subtree_control", "+io")
    cg = started(fs, fs.root)
    assert fs.procs(fs.root) == [ME]
    assert words(fs.root / "cgroup.subtree_control") == ["cpu", "io", "memory", "pids"]
    cg.teardown(abandon=True)
    assert words(fs.root / "cgroup.subtree_control") == ["io"]  # what was there before stays
    assert [c for c in fs.root.iterdir() if c.is_dir()] == []


def test_a_later_sandbox_of_the_process_shares_the_leafs_parent(fs: FakeCgroupFs, base: Path) -> None:
    """After the first setup our own cgroup (what detect() finds) is the leaf; the second setup
    must neither nest another leaf nor give up because the first one's spawner lives there."""
    first = started(fs, base)
    leaf = base / f"lambdabox-server-{ME}"
    fs.write(leaf / "cgroup.procs", str(OTHER))  # the first Sandbox's spawner, started after setup
    fs.writes.clear()
    second = CgroupsV2({"unified": leaf}, "vcpu", fs=fs)
    second.setup()
    try:
        assert second.parents == [base / second.name]
        assert second.controllers == ["memory", "cpu", "pids"]
        assert not any(path.endswith("cgroup.subtree_control") and "-" in v for path, v in fs.writes)
        assert sorted(fs.procs(leaf)) == sorted([ME, OTHER])
        assert (first.parents[0]).is_dir()  # not swept: a live Sandbox of this process
        second.teardown(abandon=True)  # it enabled nothing and moved nothing: nothing to undo
        assert words(base / "cgroup.subtree_control") == ["cpu", "memory", "pids"]
        assert sorted(fs.procs(leaf)) == sorted([ME, OTHER])
    finally:
        first.teardown()


# =================================================================================== create
@pytest.mark.parametrize(
    ("cpu_quota", "memory_mb", "weight", "cpu_max"),
    [
        ("vcpu", 128, "7", "100000 100000"),
        ("vcpu", 1769, "100", "100000 100000"),
        ("vcpu", 10240, "579", "600000 100000"),
        ("fraction", 128, "7", "7235 100000"),
        ("fraction", 1769, "100", "100000 100000"),
        ("fraction", 10240, "579", "578858 100000"),
        ("none", 128, "7", None),
        ("none", 10240, "579", None),
    ],
)
def test_create_writes_the_limits(
    fs: FakeCgroupFs, base: Path, cpu_quota: str, memory_mb: int, weight: str, cpu_max: str | None
) -> None:
    cg = started(fs, base, cpu_quota)
    fs.writes.clear()
    env = cg.create("f-1", memory_mb)
    d = base / cg.name / "f-1"
    try:
        assert env.version == 2 and env.dirs == [d] and env.memory_dir == d
        assert env.join_files == [d / "cgroup.procs"]
        written = {path.rsplit("/", 1)[1]: value for path, value in fs.writes}
        expected = {
            "memory.max": str(memory_mb * MB),
            "memory.swap.max": "0",
            "memory.oom.group": "1",
            "cpu.weight": weight,
            "pids.max": "1024",
        }
        if cpu_max is not None:
            expected["cpu.max"] = cpu_max
        assert written == expected
        assert words(d / "cpu.max") == (cpu_max or "max 100000").split()
    finally:
        env.close()
        cg.teardown()


def test_create_without_swap_accounting(tmp_path: Path) -> None:
    fs = FakeCgroupFs(tmp_path / "cgroup", without=["memory.swap.max"])
    fs.write(fs.root / "cgroup.subtree_control", "+cpu +memory +pids")
    cg = started(fs, fs.make("lambdabox.service", procs=[ME]))
    try:
        env = cg.create("f-1", 128)
        assert words(env.memory_dir / "memory.oom.group") == ["1"]
        assert not (env.memory_dir / "memory.swap.max").exists()
        env.close()
    finally:
        cg.teardown()


# ============================================================================ one env's cgroup
def test_oom_killed_reads_the_oom_kill_counter(fs: FakeCgroupFs, base: Path) -> None:
    cg = started(fs, base)
    env = cg.create("f-1", 128)
    try:
        assert env.oom_killed() is False
        events = env.memory_dir / "memory.events"
        events.write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 1\n")  # the kernel
        assert env.oom_killed() is True
        events.write_text("low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n")
        assert env.oom_killed() is False
    finally:
        env.close()
        cg.teardown()


def test_peak_bytes_and_reset_through_the_kept_descriptor(fs: FakeCgroupFs, base: Path) -> None:
    cg = started(fs, base)
    env = cg.create("f-1", 128)
    try:
        assert env.peak_fd is not None and env.peak_resettable
        peak = env.memory_dir / "memory.peak"
        peak.write_text("52428800\n")  # the kernel's figure
        assert env.peak_bytes() == 52428800
        env.reset_peak()
        assert peak.read_text().startswith("reset\n")  # written through the descriptor we keep
    finally:
        env.close()
        cg.teardown()
    assert env.peak_fd is None


def test_peak_read_only_before_linux_6_12(tmp_path: Path) -> None:
    fs = FakeCgroupFs(tmp_path / "cgroup", peak_resettable=False)
    fs.write(fs.root / "cgroup.subtree_control", "+cpu +memory +pids")
    cg = started(fs, fs.make("lambdabox.service", procs=[ME]))
    env = cg.create("f-1", 128)
    try:
        assert env.peak_fd is not None and not env.peak_resettable
        (env.memory_dir / "memory.peak").write_text("1048576\n")
        env.reset_peak()  # nothing to do, and no error
        assert env.peak_bytes() == 1048576
    finally:
        env.close()
        cg.teardown()


def test_without_memory_peak_the_current_usage_is_read(tmp_path: Path) -> None:
    fs = FakeCgroupFs(tmp_path / "cgroup", without=["memory.peak"])  # a kernel before 5.19
    fs.write(fs.root / "cgroup.subtree_control", "+cpu +memory +pids")
    cg = started(fs, fs.make("lambdabox.service", procs=[ME]))
    env = cg.create("f-1", 128)
    d = env.memory_dir
    try:
        assert env.peak_fd is None
        (d / "memory.current").write_text("2097152\n")
        assert env.peak_bytes() == 2097152
        env.reset_peak()
    finally:
        env.close()
        cg.teardown()


def test_signals_reach_the_members_and_sigkill_uses_cgroup_kill(fs: FakeCgroupFs, base: Path) -> None:
    cg = started(fs, base)
    env = cg.create("f-1", 128)
    rel = f"lambdabox.service/{cg.name}/f-1"
    fs.write(env.memory_dir / "cgroup.procs", str(OTHER))
    fs.write(env.memory_dir / "cgroup.procs", str(OTHER + 1))
    try:
        assert env.pids() == [OTHER, OTHER + 1]
        env.signal_all(signal.SIGTERM)
        assert fs.kills == [(OTHER, signal.SIGTERM), (OTHER + 1, signal.SIGTERM)]
        fs.writes.clear()
        env.signal_all(signal.SIGKILL)
        assert fs.writes == [(f"{rel}/cgroup.kill", "1")]
        assert len(fs.kills) == 2  # no kill(2): the cgroup did it
        assert env.pids() == []
    finally:
        env.close()
        cg.teardown()


def test_remove_env_cgroup_kills_the_members_and_removes_the_directory(fs: FakeCgroupFs, base: Path) -> None:
    cg = started(fs, base)
    env = cg.create("f-1", 128)
    fs.write(env.memory_dir / "cgroup.procs", str(OTHER))
    try:
        with pytest.raises(OSError) as exc:
            fs.rmdir(env.memory_dir)  # the kernel refuses while it has members
        assert exc.value.errno == errno.EBUSY
        fs.writes.clear()
        asyncio.run(remove_env_cgroup(env))
        assert (f"lambdabox.service/{cg.name}/f-1/cgroup.kill", "1") in fs.writes
        assert not env.memory_dir.exists()
        assert env.peak_fd is None
    finally:
        cg.teardown()


# ================================================================================== teardown
def test_teardown_kills_what_is_left_and_removes_every_cgroup(fs: FakeCgroupFs, base: Path) -> None:
    cg = started(fs, base)
    parent = cg.parents[0]
    for name, pid in (("f-1", OTHER), ("f-2", OTHER + 1)):
        env = cg.create(name, 128)
        env.close()
        fs.write(env.memory_dir / "cgroup.procs", str(pid))
    fs.writes.clear()
    cg.teardown()
    kills = {path for path, value in fs.writes if path.endswith("cgroup.kill") and value == "1"}
    rel = f"lambdabox.service/{cg.name}"
    assert kills >= {f"{rel}/f-1/cgroup.kill", f"{rel}/f-2/cgroup.kill"}
    assert fs.kills == []  # cgroup.kill emptied them: no kill(2)
    assert not parent.exists()
    assert cg.parents == []


def test_remove_cgroup_tree_sigkills_members_without_cgroup_kill(tmp_path: Path) -> None:
    """Before Linux 5.14 there is no cgroup.kill: each member gets SIGKILL."""
    fs = FakeCgroupFs(tmp_path / "cgroup", without=["cgroup.kill"])
    top = fs.make("old")
    fs.make("old/f-1", procs=[OTHER])
    assert remove_cgroup_tree(top, time.monotonic() + 2, fs=fs)
    assert (OTHER, signal.SIGKILL) in fs.kills
    assert not top.exists()


def test_remove_cgroup_tree_gives_up_at_the_deadline(tmp_path: Path) -> None:
    fs = FakeCgroupFs(tmp_path / "cgroup", without=["cgroup.kill"])
    stuck = fs.make("stuck", procs=[OTHER])
    fs.unkillable.add(OTHER)
    assert not remove_cgroup_tree(stuck, time.monotonic() + 0.05, fs=fs)
    assert stuck.is_dir()


# ===================================================================================== sweep
def test_sweep_removes_what_dead_servers_left_but_not_live_ones(tmp_path: Path) -> None:
    dead, alive = OTHER + 10, OTHER + 20
    fs = FakeCgroupFs(tmp_path / "cgroup", live=[alive])
    fs.write(fs.root / "cgroup.subtree_control", "+cpu +memory +pids")
    base = fs.make("lambdabox.service", procs=[ME])
    left = {
        "dead": fs.make(f"lambdabox.service/lambdabox-{dead}-1"),
        "dead_env": fs.make(f"lambdabox.service/lambdabox-{dead}-1/f-1", procs=[dead + 1]),
        "dead_leaf": fs.make(f"lambdabox.service/lambdabox-server-{dead}"),
        "alive": fs.make(f"lambdabox.service/lambdabox-{alive}-3"),
        "alive_env": fs.make(f"lambdabox.service/lambdabox-{alive}-3/f-1", procs=[alive + 1]),
        "alive_leaf": fs.make(f"lambdabox.service/lambdabox-server-{alive}", procs=[alive]),
        "our_old": fs.make(f"lambdabox.service/lambdabox-{ME}-999999"),  # an earlier process with our pid
        "unrelated": fs.make("lambdabox.service/other-thing", procs=[alive + 2]),
    }
    cg = started(fs, base)
    try:
        gone = {k for k, d in left.items() if not d.exists()}
        assert gone == {"dead", "dead_env", "dead_leaf", "our_old"}
        assert (f"lambdabox.service/lambdabox-{dead}-1/f-1/cgroup.kill", "1") in fs.writes
        assert fs.procs(left["alive_env"]) == [alive + 1]
        assert not any(str(alive) in path for path, _ in fs.writes)
    finally:
        cg.teardown(abandon=True)


# ============================================================================ a real cgroup2
def test_remove_cgroup_tree_on_a_real_cgroup2_mount() -> None:
    """Root only: the kernel's own cgroup.kill/cgroup.procs and rmdir (no controller needed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting cgroup2 needs root")
    mnt = Path(tempfile.mkdtemp(prefix="lambdabox-cg2-"))
    if subprocess.run(["mount", "-t", "cgroup2", "none", str(mnt)], capture_output=True).returncode != 0:
        mnt.rmdir()
        pytest.skip("cannot mount cgroup2 here")
    top = mnt / f"lambdabox-test-{ME}"
    proc: subprocess.Popen[bytes] | None = None
    try:
        top.mkdir()
        (top / "f-1").mkdir()
        proc = subprocess.Popen(["sleep", "60"])
        (top / "f-1" / "cgroup.procs").write_text(str(proc.pid))
        assert words(top / "f-1" / "cgroup.procs") == [str(proc.pid)]
        assert remove_cgroup_tree(top, time.monotonic() + 5)
        assert proc.wait(timeout=5) == -signal.SIGKILL
        assert not top.exists()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        for d in (top / "f-1", top):
            with contextlib.suppress(OSError):
                d.rmdir()
        subprocess.run(["umount", str(mnt)], check=False, timeout=10)
        with contextlib.suppress(OSError):
            mnt.rmdir()
