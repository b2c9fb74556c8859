"""The sandbox's helper process: forks confined environment processes and reaps them after the server.

`lambdabox.lambda_.sandbox.channel` starts this module (``python -I -S -c LAUNCH SRC FD``) and
talks to it over a ``SOCK_SEQPACKET`` socket (one JSON message per packet, pipe ends and listener
sockets passed with ``SCM_RIGHTS``). What to confine and how is decided by the server
(manager.py, rootfs.py, cgroups.py, seccomp.py) and carried out in the child by confine.py; this
module forks, reports and reaps. It imports a few light
standard-library modules on purpose: every module that registers fork hooks or starts thread
bookkeeping (threading, logging, asyncio) makes each fork slower, and forking is this process's job.

Why a helper process
====================

The server never forks an env itself: it launches this small helper once (standard library only),
which is both the *spawner* and the *reaper*. The server sends it each spawn; the spawner forks
(in full mode into a new pid namespace: ``unshare(CLONE_NEWPID)`` before the fork makes the child
pid 1 of its own namespace, and ``setns`` back to our own right after, so the next fork starts
clean), and the child confines itself (confine.py: cgroup first, so it is confined before it can
fork; namespaces, its root, its uid, seccomp) and execs; failures before exec come back to the
server as `SpawnError` with the errno. Listeners the child made inside its own network namespace
come back with the ``spawned`` reply.

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
  {"op": "spawn", "id", "plan", "cgroups": [dir...], "dirs": [dir...]} + fds [stdout_w, stderr_w(, control)]
  {"op": "probe", "id", "plan"}       fork, apply the plan's confinement, exit 0 (no exec)
  {"op": "release", "pid"}            forget an env: reap its zombie (pins the pid until now)
  {"op": "parents", "paths": [...], "scratch"}  cgroup directories to remove, and the dir whose
                                      entries to remove, when the server is gone
  {"op": "seccomp", "program"}        the compiled filter (base64 BPF) plans with "seccomp" load
Spawner -> server:
  {"op": "spawned", "id", "pid", "listeners": n} + n listener fds | {"op": "failed", "id", "errno", "strerror", "filename"}
  {"op": "probed", "id", "ok", "error"?}
  {"op": "exit", "pid", "code" (CLD_*), "status"}   the env's main process ended (still a zombie)
On EOF (the server exited, however) every env's process group and cgroup members are SIGKILLed, the
cgroups and tmp dirs are removed, and the spawner exits.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import time
from collections.abc import Sequence
from typing import Any

from lambdabox.lambda_.sandbox import confine
from lambdabox.lambda_.sandbox.cgroupfs import REAL_FS, CgroupFs

POLL = 0.005  # seconds between looks at a cgroup that is emptying (kernel state, not semantic)
DRAIN_LIMIT = 5.0  # seconds to wait for killed processes to leave their cgroup

KEEP_RLIMIT = confine.KEEP_RLIMIT
write_file = confine.write_file


def remove_cgroup_tree(
    top: str | os.PathLike[str], deadline: float | None = None, fs: CgroupFs = REAL_FS
) -> bool:
    """SIGKILL everything in a cgroup subtree and remove its directories, deepest first.

    Blocking and bounded (`DRAIN_LIMIT` by default). True when the whole tree is gone.
    """
    if deadline is None:
        deadline = time.monotonic() + DRAIN_LIMIT
    dirs = sorted((p for p, _, _ in os.walk(top)), key=lambda p: p.count("/"), reverse=True)
    for d in dirs:
        while True:
            with contextlib.suppress(OSError):
                fs.write(os.path.join(d, "cgroup.kill"), "1")  # cgroup v2 (Linux 5.14+)
            with contextlib.suppress(OSError, ValueError):
                for pid in fs.read(os.path.join(d, "cgroup.procs")).split():
                    with contextlib.suppress(OSError):
                        fs.kill(int(pid), signal.SIGKILL)
            try:
                fs.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(POLL)
    return True


def fork_child(own_pid_ns: bool, pid_ns: int) -> int:
    """``os.fork()``; with `own_pid_ns` the child is born as pid 1 of a new pid namespace (this
    process's later children are in its own again: `pid_ns` is an fd of that namespace)."""
    pid = -1
    if own_pid_ns:
        confine.check(confine.libc().unshare(confine.CLONE_NEWPID), "unshare(pid)")
    try:
        pid = os.fork()
    finally:
        if own_pid_ns and pid != 0:
            confine.check(confine.libc().setns(pid_ns, confine.CLONE_NEWPID), "setns(pid)")
    return pid


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
        self.scratch: str | None = None  # the envs' dirs' parent: emptied when the server is gone
        self.stopping = False
        self.seccomp: bytes | None = None  # the compiled filter, sent once by the server
        self.pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    @staticmethod
    def new_env(cgroups: list[str], dirs: list[str]) -> _Env:
        return _Env(cgroups, dirs)

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

    def _reply(self, msg: dict[str, Any], fds: Sequence[int] = ()) -> None:
        with contextlib.suppress(OSError):
            if fds:
                socket.send_fds(self.sock, [json.dumps(msg).encode()], list(fds))
            else:
                self.sock.send(json.dumps(msg).encode())

    def _handle(self, msg: dict[str, Any], fds: list[int]) -> None:
        op = msg.get("op")
        if op == "spawn":
            pid, error, listeners = self._fork(msg["plan"], fds)
            if error is None:
                self.envs[pid] = self.new_env(list(msg.get("cgroups", ())), list(msg.get("dirs", ())))
                self._reply(
                    {"op": "spawned", "id": msg["id"], "pid": pid, "listeners": len(listeners)}, listeners
                )
                for fd in listeners:
                    os.close(fd)
                self._scan_exits()
            else:
                self._reply({"op": "failed", "id": msg["id"], **error})
        elif op == "seccomp":
            self.seccomp = base64.b64decode(msg["program"]) if msg.get("program") else None
        elif op == "probe":
            pid, error, listeners = self._fork(msg["plan"], [])
            for fd in listeners:
                os.close(fd)
            if error is None:
                _, status = os.waitpid(pid, 0)
                if os.waitstatus_to_exitcode(status) != 0:
                    error = {"strerror": f"probe exit status {status}"}
            self._reply({"op": "probed", "id": msg["id"], "ok": error is None, **(error or {})})
        elif op == "release":
            self._release(int(msg["pid"]))
        elif op == "parents":
            self.parents = [str(p) for p in msg["paths"]]
            self.scratch = msg.get("scratch")

    def _fork(self, plan: dict[str, Any], stdio: list[int]) -> tuple[int, dict[str, Any] | None, list[int]]:
        """Fork a child that confines itself (confine.run). Returns its pid, an error report or
        None once it has exec'ed, and the listener fds it created inside its own namespaces."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # close-on-exec
        ns = plan.get("ns") or {}
        pid = fork_child(bool(ns.get("pid")) and not ns.get("user"), self.pid_ns)
        if pid == 0:
            ours.close()
            signal.set_wakeup_fd(-1)
            confine.run(plan, stdio, theirs, self.seccomp if plan.get("seccomp") else None)
        theirs.close()
        report: dict[str, Any] | None = None
        fds: list[int] = []
        try:
            while True:
                try:
                    data, got, _flags, _addr = socket.recv_fds(ours, 65536, 8, socket.MSG_CMSG_CLOEXEC)
                except InterruptedError:
                    continue
                fds.extend(got)
                if not data:
                    break
                msg = json.loads(data)
                if "listeners" not in msg:
                    report = msg
        finally:
            ours.close()
        if report is not None:  # failed before exec: the child exits on its own
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            for fd in fds:
                os.close(fd)
            return pid, report, []
        return pid, None, fds

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
        if self.scratch:  # what template forks (not ours) left there
            with contextlib.suppress(OSError):
                for name in os.listdir(self.scratch):
                    shutil.rmtree(os.path.join(self.scratch, name), ignore_errors=True)


def main(argv: Sequence[str]) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=int(argv[0]))
    confine.libc()  # load once, before the first fork
    Spawner(sock).run()


#: how the server starts this module: the standard library only, nothing of the server's
#: virtualenv (no site), the package found through the source directory put first on sys.path
LAUNCH = "import sys; sys.path.insert(0, sys.argv[1]); from lambdabox.lambda_.sandbox.spawner import main; main(sys.argv[2:])"
