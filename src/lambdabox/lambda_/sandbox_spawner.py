"""The sandbox's helper process: forks confined environment processes and reaps them after the server.

`lambdabox.lambda_.sandbox_channel` starts this file as a script (``python -I -S
sandbox_spawner.py FD``) and talks to it over a ``SOCK_SEQPACKET`` socket (one JSON message per
packet, pipe ends passed with ``SCM_RIGHTS``). What to confine and how is decided in sandbox.py,
cgroups.py and sandbox_mounts.py; this module is only the mechanism. It imports a few light
standard-library modules on purpose: every module that registers fork hooks or starts thread
bookkeeping (threading, logging, asyncio) makes each fork slower, and forking is this process's job.

Why a helper process
====================

The server never forks an env itself: it launches this small helper once (standard library only),
which is both the *spawner* and the *reaper*. The server sends it each spawn; the spawner forks,
and the child arms ``PR_SET_PDEATHSIG(SIGKILL)``, writes itself into its cgroup (so it is confined
before it can fork: no race; v1 through ``tasks``, see `cgroups.EnvCgroup.join_files`), enters its
mount namespace, sets rlimits and execs; exec failures come back to the server as
`sandbox.SpawnError` with the errno.

Why not ``subprocess`` with ``preexec_fn`` in the server: it makes CPython ``fork()`` the whole
server (holding the GIL, so the event loop stalls) instead of ``vfork()``: measured here 3.7 ms at
63 MB RSS and 20 ms at 560 MB, and ``PR_SET_PDEATHSIG`` would fire when the *thread* that forked
exits. An exec wrapper instead costs one interpreter start per spawn. The spawner is small and
single-threaded, so its fork is cheap and Python code is safe between fork and exec.

The spawner knows every env because it created it (no registration race). It reports each exit
(``waitid(WNOWAIT)``) but leaves the zombie until the server releases it, so the pid, which is also
the process group id, cannot be reused while the server may still signal the group. When the socket
hits EOF (the server exited, even by SIGKILL) the spawner SIGKILLs every env's process group and
every process in its cgroups (v2: ``cgroup.kill``), removes the cgroups and tmp dirs, and exits; its
children also die with it through the death signal. It runs in its own session, so a terminal's
Ctrl-C reaches the server, not the reaper. If the spawner itself dies, the server marks its envs as
killed and starts a new one on the next spawn.

Protocol
========

Server -> spawner:
  {"op": "spawn", "id", "plan", "cgroups": [dir...], "dirs": [dir...]} + fds [stdout_w, stderr_w]
  {"op": "probe", "id", "plan"}       fork, apply the plan's confinement, exit 0 (no exec)
  {"op": "release", "pid"}            forget an env: reap its zombie (pins the pid until now)
  {"op": "parents", "paths": [...]}   cgroup directories to remove when the server is gone
Spawner -> server:
  {"op": "spawned", "id", "pid"} | {"op": "failed", "id", "errno", "strerror", "filename"}
  {"op": "probed", "id", "ok", "error"?}
  {"op": "exit", "pid", "code" (CLD_*), "status"}   the env's main process ended (still a zombie)
On EOF (the server exited, however) every env's process group and cgroup members are SIGKILLed, the
cgroups and tmp dirs are removed, and the spawner exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

POLL = 0.005  # seconds between looks at a cgroup that is emptying (kernel state, not semantic)
DRAIN_LIMIT = 5.0  # seconds to wait for killed processes to leave their cgroup

_PR_SET_PDEATHSIG = 1
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
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
KEEP_RLIMIT = -2  # in a plan's rlimits: keep the current hard limit


def write_file(path: str | os.PathLike[str], value: str) -> None:
    """One write(2) of `value` (cgroup and /proc files want exactly that)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def remove_cgroup_tree(top: str | os.PathLike[str], deadline: float | None = None) -> bool:
    """SIGKILL everything in a cgroup subtree and remove its directories, deepest first.

    Blocking and bounded (`DRAIN_LIMIT` by default). True when the whole tree is gone.
    """
    if deadline is None:
        deadline = time.monotonic() + DRAIN_LIMIT
    dirs = sorted((p for p, _, _ in os.walk(top)), key=lambda p: p.count("/"), reverse=True)
    for d in dirs:
        while True:
            with contextlib.suppress(OSError):
                write_file(os.path.join(d, "cgroup.kill"), "1")  # cgroup v2 (Linux 5.14+)
            with contextlib.suppress(OSError, ValueError):
                with open(os.path.join(d, "cgroup.procs")) as f:
                    pids = f.read().split()
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), signal.SIGKILL)
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(POLL)
    return True


# ---------------------------------------------------------------------------- in the child
_libc_handle: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
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
        lib.unshare.argtypes = [ctypes.c_int]
        lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        _libc_handle = lib
    return _libc_handle


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(_libc().mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {source} on {target}")


def _setup_mounts(m: dict[str, Any]) -> None:
    """Enter a private mount namespace: tmpfs (or a bind) for /tmp, the code dir read-only."""
    libc = _libc()
    if m["userns"]:
        uid, gid = os.getuid(), os.getgid()
        _check(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS), "unshare(user+mount)")
        write_file("/proc/self/setgroups", "deny")
        write_file("/proc/self/uid_map", f"{uid} {uid} 1")
        write_file("/proc/self/gid_map", f"{gid} {gid} 1")
    else:
        _check(libc.unshare(_CLONE_NEWNS), "unshare(mount)")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing we mount propagates to the host
    target = str(m["tmp_target"])
    # host directories under /tmp the child needs: held open, then bound back after /tmp is replaced
    held = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in m.get("keep", ())]
    if m["tmpfs_mb"]:
        _mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={int(m['tmpfs_mb'])}m,mode=1777")
    elif target != m["tmp_dir"]:
        _mount(str(m["tmp_dir"]), target, None, _MS_BIND | _MS_REC)
    for path, fd in held:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC)
        os.close(fd)
    for d in m["ro"]:
        _mount(d, d, None, _MS_BIND | _MS_REC)
        keep = 0
        f_flag = os.statvfs(d).f_flag
        for st, ms in _ST_TO_MS:
            if f_flag & st:
                keep |= ms
        _mount(None, d, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | keep)


def _which(name: str, env: dict[str, str]) -> str:
    if "/" in name:
        return name
    for d in env.get("PATH", os.defpath).split(":"):
        candidate = os.path.join(d or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _child(plan: dict[str, Any], stdio: Sequence[int], report_fd: int, parent: int) -> NoReturn:
    """In the forked child: confine ourselves, then exec (a probe exits 0 instead)."""
    stage = "setsid"
    try:
        os.setsid()  # new session and process group: pgid == pid
        stage = "prctl"
        _check(_libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
        if os.getppid() != parent:  # the spawner died before the death signal was armed
            os._exit(1)
        stage = "cgroup"
        for procs in plan.get("procs", ()):
            write_file(procs, "0")  # "0": the writing process itself, before it can fork
        if plan.get("mount"):
            stage = "mount"
            _setup_mounts(plan["mount"])
        if plan.get("check_ro"):
            stage = "check"
            try:
                os.close(os.open(os.path.join(plan["check_ro"], "probe"), os.O_WRONLY | os.O_CREAT, 0o600))
            except OSError as exc:
                if exc.errno != errno.EROFS:
                    raise
            else:
                raise OSError(errno.EPERM, "the read-only bind mount is writable")
        if not plan.get("exec"):
            os._exit(0)
        stage = "chdir"
        os.chdir(plan["cwd"])
        stage = "stdio"
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(stdio[0], 1)
        os.dup2(stdio[1], 2)
        os.closerange(3, report_fd)  # everything else is close-on-exec already; be sure
        os.closerange(report_fd + 1, 1 << 20)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGHUP):  # ignored here
            signal.signal(sig, signal.SIG_DFL)
        stage = "rlimit"
        for res, soft, hard in plan["rlimits"]:
            cur_hard = resource.getrlimit(res)[1]
            if hard == KEEP_RLIMIT:
                hard = cur_hard
            elif cur_hard != resource.RLIM_INFINITY:
                hard = min(hard, cur_hard)
            if hard != resource.RLIM_INFINITY:
                soft = min(soft, hard)
            resource.setrlimit(res, (soft, hard))
        stage = "exec"
        env = {str(k): str(v) for k, v in plan["env"].items()}
        argv = [str(a) for a in plan["argv"]]
        os.execve(_which(argv[0], env), argv, env)
    except BaseException as exc:
        report: dict[str, Any] = {"errno": 0, "strerror": f"{stage}: {exc}", "filename": None}
        if isinstance(exc, OSError) and exc.errno:
            report["errno"] = exc.errno
            if stage == "exec":
                report["strerror"] = exc.strerror
                report["filename"] = exc.filename
        with contextlib.suppress(BaseException):
            os.write(report_fd, json.dumps(report).encode())
    os._exit(127)


# --------------------------------------------------------------------------- the spawner
class _Env:
    __slots__ = ("cgroups", "dirs", "exited", "released")

    def __init__(self, cgroups: list[str], dirs: list[str]) -> None:
        self.cgroups = cgroups
        self.dirs = dirs
        self.exited = False  # reported to the server; a zombie until released
        self.released = False  # the server is done with it; reap as soon as it has exited


class Spawner:
    """Forks environments on request, reports their exits, reaps everything after the server."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.envs: dict[int, _Env] = {}
        self.parents: list[str] = []
        self.stopping = False

    def run(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector
        signal.signal(signal.SIGTERM, self._on_term)  # terminated: clean up as if the server left
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        sel.register(wake_r, selectors.EVENT_READ)
        try:
            while not self.stopping:
                for key, _ in sel.select():
                    if key.fileobj is self.sock:
                        self._receive()
                    else:
                        with contextlib.suppress(OSError):
                            while os.read(wake_r, 512):
                                pass
                        self._scan_exits()
                    if self.stopping:
                        break
        finally:
            self.reap_all()

    def _on_term(self, *_: object) -> None:
        self.stopping = True

    def _receive(self) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, 1 << 18, 8, socket.MSG_CMSG_CLOEXEC)
        except InterruptedError:
            return
        except OSError:
            data, fds = b"", []
        if not data:
            self.stopping = True
            return
        try:
            self._handle(json.loads(data), fds)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _reply(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.sock.send(json.dumps(msg).encode())

    def _handle(self, msg: dict[str, Any], fds: list[int]) -> None:
        op = msg.get("op")
        if op == "spawn":
            pid, error = self._fork(msg["plan"], fds)
            if error is None:
                self.envs[pid] = _Env(list(msg.get("cgroups", ())), list(msg.get("dirs", ())))
                self._reply({"op": "spawned", "id": msg["id"], "pid": pid})
                self._scan_exits()
            else:
                self._reply({"op": "failed", "id": msg["id"], **error})
        elif op == "probe":
            pid, error = self._fork(msg["plan"], [])
            if error is None:
                _, status = os.waitpid(pid, 0)
                if os.waitstatus_to_exitcode(status) != 0:
                    error = {"strerror": f"probe exit status {status}"}
            self._reply({"op": "probed", "id": msg["id"], "ok": error is None, **(error or {})})
        elif op == "release":
            self._release(int(msg["pid"]))
        elif op == "parents":
            self.parents = [str(p) for p in msg["paths"]]

    def _fork(self, plan: dict[str, Any], stdio: list[int]) -> tuple[int, dict[str, Any] | None]:
        report_r, report_w = os.pipe()  # close-on-exec: EOF without data means exec succeeded
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            os.close(report_r)
            signal.set_wakeup_fd(-1)
            _child(plan, stdio, report_w, parent)
        os.close(report_w)
        chunks = []
        while True:
            try:
                chunk = os.read(report_r, 65536)
            except InterruptedError:
                continue
            if not chunk:
                break
            chunks.append(chunk)
        os.close(report_r)
        if chunks:  # failed before exec: the child exits on its own
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            report: dict[str, Any] = json.loads(b"".join(chunks))
            return pid, report
        return pid, None

    def _scan_exits(self) -> None:
        done: list[int] = []
        for pid, env in self.envs.items():
            if env.exited and not env.released:
                continue
            try:  # WNOWAIT: leave the zombie, so the pid (= pgid) is not reused before release
                res = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                res, env.exited = None, True
                done.append(pid)
                if not env.released:
                    self._reply(
                        {"op": "exit", "pid": pid, "code": os.CLD_KILLED, "status": int(signal.SIGKILL)}
                    )
                continue
            if res is None or res.si_pid != pid:
                continue
            if env.released:
                done.append(pid)
            else:
                env.exited = True
                self._reply({"op": "exit", "pid": pid, "code": res.si_code, "status": res.si_status})
        for pid in done:
            del self.envs[pid]
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)

    def _release(self, pid: int) -> None:
        env = self.envs.get(pid)
        if env is None:
            return
        if env.exited:
            del self.envs[pid]
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # a zombie: returns at once
        else:  # still running (should not happen: the server kills first); reap when it exits
            env.released = True
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            self._scan_exits()

    def reap_all(self) -> None:
        """The server is gone: kill every environment and remove what it left behind."""
        for pid in self.envs:  # not reaped yet, so the pid still names that process group
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + DRAIN_LIMIT
        for env in self.envs.values():
            for cg in env.cgroups:
                remove_cgroup_tree(cg, deadline)
        for pid in self.envs:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        for env in self.envs.values():
            for d in env.dirs:
                shutil.rmtree(d, ignore_errors=True)
        self.envs.clear()
        for parent in self.parents:
            with contextlib.suppress(OSError):
                remove_cgroup_tree(parent, deadline)


def main(argv: Sequence[str]) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=int(argv[0]))
    _libc()  # load once, before the first fork
    Spawner(sock).run()


if __name__ == "__main__":
    main(sys.argv[1:])
