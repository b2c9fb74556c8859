"""Confine the current (freshly forked) process as its plan says, then exec: the child's side.

Runs in a child of the spawner between fork and exec (`lambdabox.lambda_.sandbox.spawner`), so
it imports only light standard-library modules and never returns: it execs or `_exit`s. What to
do is decided by the server (manager.py, rootfs.py, seccomp.py); this module only carries out a
plan, in this order, each step fatal if it fails:

1. a new session (pgid = pid); join the env's cgroups (so it is confined before it can fork);
2. (userns mode) a user namespace whose only uid is the sandbox user, with the pid namespace:
   this process then forks the namespace's pid 1 and waits for it (the spawner keeps the pid
   namespace trick for itself in full mode, so there the process is already pid 1);
3. new mount, ipc, uts and cgroup namespaces (and network, for ``--function-network none``: loopback
   only, up; the Runtime API and AWS endpoint listeners are created *inside* it and handed back
   to the spawner over the report socket);
4. the environment's own root: a small read-only tmpfs holding bind mounts of /usr, the
   interpreter's installation, a prepared /etc, /var/task (code), /var/runtime, an empty /opt, a
   sized tmpfs /tmp, a minimal /dev and its own /proc; then pivot_root into it;
5. privileges: the capability bounding set emptied, no supplementary groups, the env's own
   uid/gid, ``PR_SET_PDEATHSIG`` (after the uid change, which clears it), ``no_new_privs``,
   rlimits, the seccomp filter;
6. exec the init (tini, which reaps orphaned grandchildren as pid 1 and runs the runtime as its
   child) or, without one, fork the runtime and reap here; a fork of a template (template.py)
   forks and reaps the same way, its runtime child running the already loaded interpreter.

Errors before exec are reported as one JSON message on the report socket; EOF means exec'ed (a
fork of a template reports `STARTED` first: its EOF alone could be its death).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import resource
import select
import signal
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

KEEP_RLIMIT = -2  # in a plan's rlimits: keep the current hard limit
#: what a fork of a template reports once it is confined, just before its runtime starts
STARTED = b'{"started": true}'

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_NOATIME = 1024
_MS_NODIRATIME = 2048
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MS_RELATIME = 1 << 21
_MNT_DETACH = 2
_SIOCSIFFLAGS = 0x8914
_IFF_UP, _IFF_LOOPBACK, _IFF_RUNNING = 0x1, 0x8, 0x40
_SYS_PIVOT_ROOT = 155  # x86_64
_CAP_LAST = 63  # drop every bounding capability the kernel knows (EINVAL past its last)
# statvfs f_flag bits -> mount flags a read-only remount must keep (they are locked in a user
# namespace, and dropping them silently would change the mount's behaviour)
_ST_TO_MS = (
    (os.ST_NOSUID, _MS_NOSUID),
    (os.ST_NODEV, _MS_NODEV),
    (os.ST_NOEXEC, _MS_NOEXEC),
    (os.ST_NOATIME, _MS_NOATIME),
    (os.ST_NODIRATIME, _MS_NODIRATIME),
    (os.ST_RELATIME, _MS_RELATIME),
)
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc_handle: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """The C library, loaded once (call before the first fork)."""
    global _libc_handle
    if _libc_handle is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.unshare.argtypes = [ctypes.c_int]
        lib.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        lib.syscall.restype = ctypes.c_long
        _libc_handle = lib
    return _libc_handle


def check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def write_file(path: str | os.PathLike[str], value: str) -> None:
    """One write(2) of `value` (cgroup and /proc files want exactly that)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    check(libc().mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {source} on {target}")


def bind(source: str, target: str, readonly: bool) -> None:
    """Bind `source` on `target` (recursively); read-only keeps the source's other flags."""
    mount(source, target, None, _MS_BIND | _MS_REC)
    if readonly:
        keep = 0
        f_flag = os.statvfs(target).f_flag
        for st, ms in _ST_TO_MS:
            if f_flag & st:
                keep |= ms
        mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | keep)


# ------------------------------------------------------------------------------ namespaces
def enter_user_namespace(user: dict[str, Any], flags: int) -> None:
    """Unprivileged mode: a user namespace (plus `flags`) whose one uid/gid map to ours."""
    outer_uid, outer_gid = os.getuid(), os.getgid()
    check(libc().unshare(CLONE_NEWUSER | flags), "unshare(user)")
    write_file("/proc/self/setgroups", "deny")
    write_file("/proc/self/uid_map", f"{int(user['uid'])} {outer_uid} 1")
    write_file("/proc/self/gid_map", f"{int(user['gid'])} {outer_gid} 1")


def loopback_up() -> None:
    """Bring up `lo` in a new network namespace (it starts down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", _IFF_UP | _IFF_LOOPBACK | _IFF_RUNNING))


def listen_inside(addrs: Sequence[Sequence[Any]]) -> list[socket.socket]:
    """Listeners in this (new) network namespace: only its own processes can connect to them."""
    out = []
    for host, port in addrs:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((str(host), int(port)))
        s.listen(64)
        out.append(s)
    return out


# ------------------------------------------------------------------------------ the root
def _mkdirs(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def _touch(path: str) -> None:
    """A file to mount on (or to prove a mount read-only); one that exists is left alone."""
    if not os.path.lexists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))


def mount_skeleton(root: dict[str, Any]) -> None:
    """The first part of an environment's root, under ``root["dir"]``: a private mount tree, the
    root's tmpfs, its symlinks, every bind of ``root["binds"]``, /dev and /proc."""
    new = str(root["dir"])
    mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing we mount propagates to the host
    mount("tmpfs", new, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    for link, target in root["symlinks"]:
        _mkdirs(os.path.dirname(new + link))
        os.symlink(target, new + link)
    for src, dst, readonly in root["binds"]:
        _bind_into(new, src, dst, bool(readonly))
    _build_dev(new + "/dev")
    _mkdirs(new + "/proc", 0o555)
    # before the old root goes: in a user namespace the kernel mounts a proc only while a full
    # one is visible
    mount("proc", new + "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)


def _bind_into(new: str, src: str, dst: str, readonly: bool) -> None:
    where = new + dst
    if os.path.isdir(src):
        _mkdirs(where)
    else:
        _mkdirs(os.path.dirname(where))
        _touch(where)
    bind(src, where, readonly)


def build_root(root: dict[str, Any], ready: dict[str, Any] | None = None) -> None:
    """Assemble the environment's root and pivot into it. `ready`: the skeleton a spare fork
    already mounted (`mount_skeleton`, in its own dir): only the binds of `root` it lacks are
    added; else the whole root is built under ``root["dir"]``."""
    if ready is None:
        mount_skeleton(root)
        new = str(root["dir"])
    else:
        new = str(ready["dir"])
        done = [list(b) for b in ready["binds"]]
        for src, dst, readonly in root["binds"]:
            if [src, dst, readonly] not in done:
                _bind_into(new, src, dst, bool(readonly))
    for d in root["dirs"]:
        _mkdirs(new + d)
    tmp = root["tmp"]
    _mkdirs(new + "/tmp", 0o1777)
    if tmp.get("tmpfs_mb"):
        mount(
            "tmpfs", new + "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={int(tmp['tmpfs_mb'])}m,mode=1777"
        )
    else:
        bind(str(tmp["dir"]), new + "/tmp", False)
    # into the new root; the old one is detached (and gone from this namespace)
    os.chdir(new)
    if libc().syscall(_SYS_PIVOT_ROOT, b".", b".") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    check(libc().umount2(b".", _MNT_DETACH), "umount old root")
    os.chdir("/")
    mount(None, "/", None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def _unshare_flags(ns: dict[str, Any]) -> int:
    flags = (CLONE_NEWNS if ns.get("mnt") else 0) | (CLONE_NEWIPC if ns.get("ipc") else 0)
    return flags | (CLONE_NEWUTS if ns.get("uts") else 0) | (CLONE_NEWNET if ns.get("net") else 0)


def prepare(skeleton: dict[str, Any]) -> None:
    """What a spare fork of a template (template.py) sets up before it has a plan, all of it the
    same for every plan it may get: a new session; its mount, ipc, uts (and network: loopback
    up) namespaces; the hostname; the root's skeleton (`mount_skeleton`). `run(..., ready=
    skeleton)` then does the rest, in run's order: cgroup (then the cgroup namespace), the
    plan's own binds and the pivot, listeners, privileges, rlimits, seccomp."""
    os.setsid()
    ns = skeleton["ns"]
    check(libc().unshare(_unshare_flags(ns)), "unshare")
    if ns.get("net"):
        loopback_up()
    if ns.get("uts"):
        name = str(skeleton.get("hostname") or "localhost").encode()
        check(libc().sethostname(name, len(name)), "sethostname")
    mount_skeleton(skeleton["root"])


def _build_dev(dev: str) -> None:
    _mkdirs(dev)
    mount("tmpfs", dev, "tmpfs", _MS_NOSUID | _MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755")
    for name in DEVICES:
        _touch(f"{dev}/{name}")
        bind(f"/dev/{name}", f"{dev}/{name}", False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, f"{dev}/{name}")
    mount(None, dev, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NOEXEC)


# ------------------------------------------------------------------------------ privileges
def drop_privileges(user: dict[str, Any] | None, full: bool) -> None:
    """Empty the capability bounding set and become the sandbox user (full mode), or keep
    the namespace's one uid (userns mode; exec clears its capabilities)."""
    lib = libc()
    for cap in range(_CAP_LAST + 1):
        if lib.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            if err == errno.EINVAL:  # past the kernel's last capability
                break
            if err == errno.EPERM and user is None:  # rlimits mode: we hold no capabilities
                break
            check(-1, f"drop capability {cap}")
    if user is not None and full:
        uid, gid = int(user["uid"]), int(user["gid"])
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise OSError(errno.EPERM, "could not become the sandbox user")


_PR_SET_MM, _PR_SET_MM_MAP = 35, 14
_shown: list[ctypes.Array[ctypes.c_char]] = []  # what /proc/self/{cmdline,environ} now point at


_MM_BOUNDS = (
    "start_code end_code start_data end_data start_brk brk start_stack arg_start arg_end env_start env_end"
)


class _MmMap(ctypes.Structure):  # struct prctl_mm_map (linux/prctl.h)
    _fields_ = [
        *((name, ctypes.c_uint64) for name in _MM_BOUNDS.split()),
        ("auxv", ctypes.c_void_p),
        ("auxv_size", ctypes.c_uint32),
        ("exe_fd", ctypes.c_uint32),
    ]


def show_as(argv: Sequence[str], env: dict[str, str]) -> None:
    """Make ``/proc/<pid>/cmdline`` and ``environ`` show `argv` and `env`, as after an exec of
    them (a fork of a template otherwise shows the template's), with ``PR_SET_MM_MAP``: the
    process's other bounds as they are (``/proc/self/stat``, the break), the new argument and
    environment areas in buffers kept for the process's life. Where the kernel refuses, they
    are left as they are."""
    lib = libc()
    lib.sbrk.restype = ctypes.c_void_p
    lib.sbrk.argtypes = [ctypes.c_long]
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()

    def stat(n: int) -> int:  # field n of proc(5)'s numbering (fields[0] is the 3rd)
        return int(fields[n - 3])

    areas = []
    for items in (argv, [f"{k}={v}" for k, v in env.items()]):
        data = b"".join(item.encode() + b"\0" for item in items) or b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        _shown.append(buf)
        areas += [ctypes.addressof(buf), ctypes.addressof(buf) + len(data)]
    mm = _MmMap(
        stat(26),
        stat(27),
        stat(45),
        stat(46),
        stat(47),
        lib.sbrk(0) or 0,
        stat(28),
        *areas,
        None,
        0,
        0xFFFFFFFF,
    )
    lib.prctl(_PR_SET_MM, _PR_SET_MM_MAP, ctypes.addressof(mm), ctypes.sizeof(mm), 0)


def load_seccomp(program: bytes) -> None:
    """Install a compiled BPF filter (libseccomp's export, see seccomp.py)."""
    count = len(program) // 8
    buf = ctypes.create_string_buffer(program, len(program))

    class _Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = _Fprog(count, ctypes.addressof(buf))
    check(
        libc().prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0),
        "seccomp",
    )


def set_rlimits(rlimits: Sequence[Sequence[int]]) -> None:
    for res, soft, hard in rlimits:
        cur_hard = resource.getrlimit(res)[1]
        if hard == KEEP_RLIMIT:
            hard = cur_hard
        elif cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(res, (soft, hard))


def which(name: str, env: dict[str, str]) -> str:
    """The executable `name` names (PATH search without a slash); ENOENT/EACCES as exec would."""
    if "/" in name:
        if not os.path.exists(name):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        return name
    for d in env.get("PATH", os.defpath).split(":"):
        candidate = os.path.join(d or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


# ------------------------------------------------------------------------------ the child
def run(
    plan: dict[str, Any],
    stdio: Sequence[int],
    report: socket.socket,
    seccomp: bytes | None,
    start: Callable[[], NoReturn] | None = None,
    ready: dict[str, Any] | None = None,
    twin: Twin | None = None,
) -> NoReturn:
    """In the forked child: confine ourselves as `plan` says, then exec (a probe exits 0).

    `start`: run this instead of exec'ing ``plan["argv"]`` (a fork of a template: the runtime is
    already loaded), fully confined, once `STARTED` is reported and the report socket closed.
    `ready`: the skeleton `prepare()` already set up (a spare fork of a template; the server
    checked that it is this plan's): its session, namespaces, hostname and root skeleton.
    `twin`: the runtime, forked ahead by this spare (pid 1): it shares the namespaces and root we
    finish: it is handed the plan once we are in the cgroups, joins them itself (moving it from
    here stalls for up to 15 ms in cgroup v1, measured), waits for our root, and confines its
    own process (`confine_process`) while we confine ours; we then become its reaper."""
    stage = "setsid"
    try:
        if ready is None:
            os.setsid()
        stage = "cgroup"
        for procs in plan.get("procs", ()):
            write_file(procs, "0")  # "0": the writing process itself, before it can fork
        if twin is not None:  # its turn to join: the cgroup files are gone once the root is built
            socket.send_fds(twin.sock, [twin.plan], list(stdio))
            if twin.sock.recv(1) != b"j":
                raise OSError(errno.ECHILD, "the runtime did not join its cgroups")
        ns = plan.get("ns") or {}
        flags = 0 if ready is not None else _unshare_flags(ns)
        flags |= CLONE_NEWCGROUP if ns.get("cgroup") else 0  # after joining: its cgroup is its "/"
        if ns.get("user"):
            stage = "userns"
            enter_user_namespace(plan["user"], flags | (CLONE_NEWPID if ns.get("pid") else 0))
            if ns.get("pid"):
                _relay_for_pid1(report)  # the parent waits; the child continues as pid 1
        elif flags:
            stage = "unshare"
            check(libc().unshare(flags), "unshare")
        fds: list[socket.socket] = []
        if ns.get("net"):
            stage = "network"
            if ready is None:
                loopback_up()
            fds = listen_inside(plan.get("listen", ()))
        if ns.get("uts") and ready is None:
            name = str(plan.get("hostname") or "localhost").encode()
            check(libc().sethostname(name, len(name)), "sethostname")
        if plan.get("root"):
            stage = "root"
            build_root(plan["root"], ready["root"] if ready is not None else None)
        if plan.get("check_ro"):
            stage = "check"
            try:
                os.close(os.open(os.path.join(plan["check_ro"], "probe"), os.O_WRONLY | os.O_CREAT, 0o600))
            except OSError as exc:
                if exc.errno != errno.EROFS:
                    raise
            else:
                raise OSError(errno.EPERM, "the read-only bind mount is writable")
        if fds:
            socket.send_fds(report, [json.dumps({"listeners": len(fds)}).encode()], [s.fileno() for s in fds])
            for s in fds:
                s.close()
        if twin is not None:  # our namespaces and root are its; its process is its own to confine
            twin.sock.send(b"r")
        confine_process(plan, stdio, report, seccomp, start, pid1=twin is None, twin_of=twin)
    except BaseException as exc:
        _report_failure(report, stage, exc)
    os._exit(127)


@dataclass
class Twin:
    """The runtime a spare fork (pid 1) forked ahead of its plan (template.py)."""

    pid: int
    sock: socket.socket  # ours of the pair: the plan and stdio go to it here
    plan: bytes  # the plan as the server sent it


def confine_process(
    plan: dict[str, Any],
    stdio: Sequence[int],
    report: socket.socket,
    seccomp: bytes | None,
    start: Callable[[], NoReturn] | None,
    pid1: bool = True,
    twin_of: Twin | None = None,
    parent: int | None = None,
) -> NoReturn:
    """The part of `run` that confines one process (its namespaces and root done): privileges,
    death signal, ``no_new_privs``, working dir, stdio, rlimits, seccomp; then exec, or `start`
    (under a pid-1 reaper of ours when `pid1`; as the reaper of `twin_of` when it is given).
    Also run on its own by a twin runtime, once it has joined the cgroups: `parent` is then its
    pid 1's pid (it must still be there once our death signal is armed)."""
    ns = plan.get("ns") or {}
    stage = "privileges"
    try:
        if start is not None:
            show_as(plan["argv"], plan["env"])
        drop_privileges(plan.get("user"), full=not ns.get("user"))
        check(libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
        if (os.getppid() != parent) if parent is not None else _peer_gone(report):
            os._exit(1)  # whoever made us died before the death signal was armed
        check(libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")  # every mode
        if start is not None:  # what an exec would reset after the uid change: /proc/self is ours
            check(libc().prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(DUMPABLE)")
        if not plan.get("exec"):
            if seccomp is not None and plan.get("seccomp"):
                load_seccomp(seccomp)
            os._exit(0)
        stage = "chdir"
        os.chdir(plan["cwd"])
        stage = "stdio"
        # [stdout, stderr] or [stdout, stderr, control socket, extensions' output]: the control
        # socket becomes stdin (else /dev/null), the extensions' output pipe fd 3. Sources and the
        # report socket move above the targets first, so that no dup2 lands on one of them.
        null = os.open(os.devnull, os.O_RDONLY)
        if len(stdio) > 3:
            was = report.detach()
            report = socket.socket(fileno=fcntl.fcntl(was, fcntl.F_DUPFD_CLOEXEC, 64))
            os.close(was)
        sources = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd in stdio]
        os.dup2(sources[2] if len(sources) > 2 else null, 0)
        os.dup2(sources[0], 1)
        os.dup2(sources[1], 2)
        if len(sources) > 3:
            os.dup2(sources[3], 3)
        keep = report.fileno()
        os.closerange(4 if len(stdio) > 3 else 3, keep)  # the rest is close-on-exec already; be sure
        os.closerange(keep + 1, 1 << 20)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        stage = "rlimit"
        set_rlimits(plan["rlimits"])
        env = {str(k): str(v) for k, v in plan["env"].items()}
        argv = [str(a) for a in plan["argv"]]
        stage = "exec"
        exe = which(argv[0], env) if start is None else argv[0]  # ENOENT is the caller's error
        init = plan.get("init")
        if seccomp is not None and plan.get("seccomp"):
            stage = "seccomp"
            load_seccomp(seccomp)
        stage = "exec"
        if start is not None and (pid1 or twin_of is not None):  # confined: said so (EOF may be a death)
            report.send(STARTED)
        if twin_of is not None:  # pid 1 of a twin: its reaper, as tini is a spawned runtime's
            report.close()
            _be_init(twin_of.pid, plan.get("fork_init"), env)
        if start is not None:
            report.close()  # the runtime's fork below overlaps the server's own work
            if ns.get("pid") and pid1:
                _reap_as_pid1(start, report, plan.get("fork_init"), env)
            start()
        if init:
            os.execve(init, [init, "--", exe, *argv[1:]], env)
        if ns.get("pid"):
            _reap_as_pid1(lambda: os.execve(exe, argv, env), report)
        os.execve(exe, argv, env)
    except BaseException as exc:
        _report_failure(report, stage, exc)
    os._exit(127)


def _report_failure(report: socket.socket, stage: str, exc: BaseException) -> None:
    msg: dict[str, Any] = {"errno": 0, "strerror": f"{stage}: {exc}", "filename": None}
    if isinstance(exc, OSError) and exc.errno:
        msg["errno"] = exc.errno
        if stage == "exec":
            msg["strerror"] = exc.strerror
            msg["filename"] = exc.filename
    with contextlib.suppress(BaseException):
        report.send(json.dumps(msg).encode())


def _peer_gone(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return any(ev & (select.POLLHUP | select.POLLERR) for _fd, ev in poller.poll(0))


def _relay_for_pid1(report: socket.socket) -> None:
    """Userns mode: fork the pid namespace's pid 1 (which returns and goes on confining) and
    stay as its parent, ending as it ends."""
    pid = os.fork()
    if pid == 0:
        return
    report.close()
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
    _end_like(status)


def _reap_as_pid1(
    start: Callable[[], NoReturn],
    report: socket.socket,
    init: str | None = None,
    env: dict[str, str] | None = None,
) -> NoReturn:
    """No init binary (or a fork of a template): stay as pid 1, run the runtime as our child
    (`start` execs it or runs it here), reap every orphan, and end with the runtime's status
    (128 + signal for a signal, as tini reports it). `init`: a program that does this for the
    runtime's pid (runtimes/_lambdabox_init.c), exec'ed so that this copy of an interpreter's
    memory is given back; without one (or if it cannot be exec'ed) the loop below does it."""
    child = os.fork()
    if child == 0:
        report.close()  # close-on-exec would; `start` may not exec
        start()
    report.close()
    _be_init(child, init, env)


def _be_init(child: int, init: str | None, env: dict[str, str] | None = None) -> NoReturn:
    """Reap every orphan until `child` (the runtime) ends; end with its status. `init` is exec'ed
    with `env`, the environment's (as tini is)."""
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.close(fd)
    if init:
        with contextlib.suppress(OSError):
            os.execve(init, [init, str(child)], env or {})
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGTERM))
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def _end_like(status: int) -> NoReturn:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)
