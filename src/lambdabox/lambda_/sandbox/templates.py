"""The server's side of template processes: Python environments forked from a loaded interpreter.

`Templates` (owned by `Sandbox`) decides whether a plan can start from a template: a root of its
own (full or userns isolation), the runtime started exactly as ``python -u -S
/var/runtime/bootstrap_python.py`` (no wrapper, no extensions launcher), no ``PYTHON*``,
``LC_*`` or ``LD_*`` variable that only an interpreter's or the loader's own start-up could
honour, and no shared library of the function's on ``LD_LIBRARY_PATH``. It
starts one template per interpreter, tenant (account) and loader path (`TemplateKey`) when
first needed, keeps `SPARES` forks of it waiting (with full isolation each has set up its
skeleton and forked its runtime ahead: template.py), and `fork()`s environments from them: the
plan goes over the fork's own socket straight to it, which confines itself exactly as a spawned
one (confine.run) and reports back on that socket, ``{"started"}`` last.

`fork()` returns the new pid, the listeners the child made (network ``none``) and the channel
that reports its exit; it raises `ForkFailed` (with the fork's error report) when the fork
could not confine itself, and `TemplateUnavailable` when no fork was made or it died before it
started (the template is gone, not started, or out of pids or memory): in both cases the caller
spawns instead. Spares used are replaced on `settled()`, once the starts they served are over.

A template that exits takes its forks with it (death signal), as the spawner does: their exit
futures resolve as killed and `on_lost` is told. The next use starts a new template; after
`MAX_DEATHS` deaths without a fork in between, templates stay off for that key (logged).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import os
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdabox.lambda_.sandbox import template
from lambdabox.lambda_.sandbox.channel import SandboxError, SpawnerChannel, resolve
from lambdabox.lambda_.sandbox.rootfs import OPT_DIR, TASK_ROOT

log = logging.getLogger("lambdabox.sandbox")

MAX_DEATHS = 3  # template deaths in a row (no successful fork between) before giving up on it
SPARES = 2  # forks kept waiting for a plan, per template and namespace shape


class TemplateUnavailable(Exception):
    """No fork was made: spawn instead."""


class ForkFailed(Exception):
    """The fork could not confine itself; `reply` is its error report (as a spawn's)."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(reply.get("strerror"))
        self.reply = reply


@dataclass(frozen=True)
class TemplateKey:
    """Which template: one per interpreter, tenant (account) and dynamic-loader search path."""

    exe: str
    tenant: str
    library_path: str


@dataclass
class _Fork:
    """A fork of a template waiting for its plan on `sock` (a spare until it gets one)."""

    pid: int
    sock: socket.socket


class _Template:
    def __init__(self, channel: SpawnerChannel, skeleton: dict[str, Any] | None) -> None:
        self.channel = channel
        self.skeleton = skeleton  # what its spares set up ahead (for plans that match it)
        self.deaths = 0
        self.disabled = False
        self.spares: dict[tuple[bool, bool], list[_Fork]] = {}  # by (own pid ns, user ns)
        self.coming: dict[tuple[bool, bool], int] = {}  # spares asked for, not here yet

    def drop_spares(self) -> None:
        for forks in self.spares.values():
            for f in forks:
                f.sock.close()  # a spare whose socket closes exits
        self.spares.clear()


class Templates:
    """One template process per Python interpreter, started on first use."""

    def __init__(
        self,
        clients: Path,
        on_lost: Callable[[list[int]], None],
        enabled: bool = True,
        skeleton: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        """`clients`: the host dir of the runtime clients (what /var/runtime holds). `skeleton(exe)`:
        what every plan for `exe` has in common, for spares to set up ahead (confine.prepare:
        {"ns", "hostname", "root"}), or None."""
        self._clients = clients
        self._on_lost = on_lost
        self.enabled = enabled
        self._skeleton = skeleton
        self._by_exe: dict[TemplateKey, _Template] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # spares being forked
        self._wanted: set[tuple[SpawnerChannel, tuple[bool, bool]]] = set()  # spares to make next

    # -- which plans ------------------------------------------------------------------------
    def eligible(self, plan: dict[str, Any], tenant: str = "") -> TemplateKey | None:
        """The template that can start `plan` for `tenant`, or None (spawn it): one per
        interpreter, tenant and dynamic-loader path (read once, by the template's own exec)."""
        if not self.enabled or not plan.get("root") or not plan.get("exec"):
            return None
        argv = plan.get("argv") or []
        if len(argv) != 2 + len(template.RUNTIME_FLAGS) or argv[-1] != template.CLIENT:
            return None
        if tuple(argv[1:-1]) != template.RUNTIME_FLAGS or not os.path.basename(argv[0]).startswith("python"):
            return None
        env = plan.get("env") or {}
        if any(k.startswith("PYTHON") and k not in template.HONOURED_ENV for k in env):
            return None
        if any(env.get(k) != template.LOCALE_ENV.get(k) for k in template.LOCALE_KEYS):
            return None
        if any(k.startswith("LD_") and k != "LD_LIBRARY_PATH" for k in env):
            return None  # LD_PRELOAD, LD_BIND_NOW …: the loader reads them at exec only
        if _ships_libraries(plan):
            return None
        key = TemplateKey(str(argv[0]), tenant, str(env.get("LD_LIBRARY_PATH", "")))
        known = self._by_exe.get(key)
        if known is not None and known.disabled:
            return None
        return key

    # -- lifecycle --------------------------------------------------------------------------
    async def _running(self, key: TemplateKey) -> _Template:
        t = self._by_exe.get(key)
        if t is None:
            exe = key.exe
            launch = [exe, *template.RUNTIME_FLAGS, "-c", template.LAUNCH, str(self._clients)]
            env = dict(template.LOCALE_ENV)
            if key.library_path:
                env["LD_LIBRARY_PATH"] = key.library_path
            t = _Template(
                SpawnerChannel(lambda pids: self._lost(key, pids), launch=launch, env=env),
                self._skeleton(exe) if self._skeleton is not None else None,
            )
            self._by_exe[key] = t
        if t.disabled:
            raise TemplateUnavailable("templates are off for this interpreter")
        if not t.channel.running:
            await t.channel.start()
        return t

    def _lost(self, key: TemplateKey, pids: list[int]) -> None:
        exe = key.exe
        t = self._by_exe.get(key)
        if t is not None:
            t.drop_spares()
            t.coming.clear()
            t.deaths += 1
            if t.deaths >= MAX_DEATHS and not t.disabled:
                t.disabled = True
                log.error(
                    "sandbox: the template for %s keeps exiting; spawning its environments instead", exe
                )
            elif pids:
                log.error(
                    "sandbox: the template for %s exited; its %d environment(s) died with it", exe, len(pids)
                )
        self._on_lost(pids)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for t in self._by_exe.values():
            t.drop_spares()
            await t.channel.stop()
        self._by_exe.clear()

    async def fork(
        self,
        exe: TemplateKey,
        plan: dict[str, Any],
        seccomp: bytes | None,
        stdio: Sequence[int],
        abandoned: Callable[[], None],
    ) -> tuple[int, list[int], SpawnerChannel]:
        """Start `plan`'s environment in a fork of `exe`'s template (a spare if one is waiting);
        `stdio` stays open (copies are sent). If cancelled, `abandoned()` is called once no
        child of this call is alive any more."""
        try:
            t = await self._running(exe)
        except (SandboxError, OSError) as exc:
            raise TemplateUnavailable(str(exc)) from exc
        key = _ns_key(plan.get("ns") or {})
        skeleton = t.skeleton if t.skeleton is not None and _matches(plan, t.skeleton) else None
        fork = self._take_spare(t, key) if skeleton is not None or t.skeleton is None else None
        if fork is None:
            try:
                fork = await self._new_fork(t, key, skeleton, keep_if_abandoned=skeleton is t.skeleton)
            except asyncio.CancelledError:
                abandoned()  # no plan was sent: nothing of this environment exists
                raise
        channel = t.channel
        try:
            program = base64.b64encode(seccomp).decode() if seccomp and plan.get("seccomp") else None
            payload = json.dumps({**plan, "seccomp_program": program}).encode()
            try:
                socket.send_fds(fork.sock, [payload], list(stdio))
            except OSError as exc:  # the fork died waiting (its template is gone)
                self._kill(channel, fork.pid, lambda: None)
                raise TemplateUnavailable(f"the fork is gone: {exc}") from exc
            try:
                error, fds, started = await _read_report(fork.sock)
            except asyncio.CancelledError:
                self._kill(channel, fork.pid, abandoned)
                raise
            if error is not None or not started:
                for fd in fds:
                    os.close(fd)
                self._kill(channel, fork.pid, lambda: None)
                if error is None:  # it died before it was confined (killed as it got its plan)
                    raise TemplateUnavailable("the fork ended before it started")
                raise ForkFailed(error)
            t.deaths = 0
            return fork.pid, fds, channel
        finally:
            fork.sock.close()
            if skeleton is t.skeleton:  # when `settled()`: not while this one starts
                self._wanted.add((t.channel, key))  # once this fork is confined: not in its way for the CPU

    def settled(self) -> None:
        """The environments started from spares are running (or have failed): fork their
        replacements now, not while they start (on two cores, that delayed them ~1 ms)."""
        wanted, self._wanted = self._wanted, set()
        for t in self._by_exe.values():
            for channel, key in wanted:
                if t.channel is channel:
                    self._replenish(t, key)

    def _take_spare(self, t: _Template, key: tuple[bool, bool]) -> _Fork | None:
        forks = t.spares.get(key) or []
        while forks:
            fork = forks.pop()
            try:
                alive = not t.channel.exit_future(fork.pid).done()
            except KeyError:
                alive = False
            if alive:
                return fork
            fork.sock.close()
            self._kill(t.channel, fork.pid, lambda: None)
        return None

    def _replenish(self, t: _Template, key: tuple[bool, bool]) -> None:
        """Fork spares in the background until `SPARES` wait (or are on their way)."""
        missing = SPARES - len(t.spares.get(key, ())) - t.coming.get(key, 0)
        for _ in range(max(0, missing)):
            t.coming[key] = t.coming.get(key, 0) + 1
            task = asyncio.ensure_future(self._spare(t, key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _spare(self, t: _Template, key: tuple[bool, bool]) -> None:
        try:
            fork = await self._new_fork(t, key, t.skeleton, keep_if_abandoned=False)
        except (TemplateUnavailable, asyncio.CancelledError):
            return
        finally:
            t.coming[key] = max(0, t.coming.get(key, 0) - 1)
        if t.channel.running:
            t.spares.setdefault(key, []).append(fork)
        else:
            fork.sock.close()

    async def _new_fork(
        self, t: _Template, key: tuple[bool, bool], skeleton: dict[str, Any] | None, keep_if_abandoned: bool
    ) -> _Fork:
        """Ask the template for a fork that sets up `skeleton` and waits for its plan."""
        channel = t.channel
        request: dict[str, Any] = {"op": "spawn", "ns": {"pid": key[0], "user": key[1]}}
        if skeleton is not None:
            request["skeleton"] = skeleton
        try:
            fut = await channel.submit(request)
        except SandboxError as exc:
            raise TemplateUnavailable(str(exc)) from exc
        try:
            reply = await asyncio.shield(fut)
        except asyncio.CancelledError:  # the fork is still clean: keep it as a spare, or end it
            fut.add_done_callback(lambda f: self._orphan_fork(t, key, f, keep_if_abandoned))
            raise
        except SandboxError as exc:
            raise TemplateUnavailable(str(exc)) from exc
        if reply["op"] != "spawned" or not reply.get("fds"):
            for fd in reply.get("fds", ()):
                os.close(fd)
            raise TemplateUnavailable(str(reply.get("strerror")))
        return _Fork(int(reply["pid"]), socket.socket(fileno=reply["fds"][0]))

    def _orphan_fork(
        self, t: _Template, key: tuple[bool, bool], fut: asyncio.Future[dict[str, Any]], keep: bool
    ) -> None:
        if fut.cancelled() or fut.exception() is not None or fut.result()["op"] != "spawned":
            return
        fds = fut.result().get("fds") or []
        if not fds:
            return
        fork = _Fork(int(fut.result()["pid"]), socket.socket(fileno=fds[0]))
        if keep and t.channel.running and len(t.spares.get(key, ())) < SPARES:
            t.spares.setdefault(key, []).append(fork)
        else:
            fork.sock.close()  # it exits
            self._kill(t.channel, fork.pid, lambda: None)

    @staticmethod
    def _kill(channel: SpawnerChannel, pid: int, then: Callable[[], None]) -> None:
        """SIGKILL a fork that will not be used; once it is gone, reap it and call `then`."""
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # still pinned by the template: safe
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)

        def gone(_fut: object) -> None:
            channel.forget(pid)
            if channel.running:
                asyncio.get_running_loop().create_task(_release(channel, pid))
            then()

        try:
            channel.exit_future(pid).add_done_callback(gone)
        except KeyError:
            then()


def _ships_libraries(plan: dict[str, Any]) -> bool:
    """Whether the function's code or layers put shared libraries in a directory of its
    LD_LIBRARY_PATH (/var/task, /var/task/lib, /opt/lib …): a template's dynamic loader looked
    for those directories on the host, found none, and never looks again (glibc keeps that per
    directory), so such an environment is spawned. The host dirs are the plan's own binds."""
    hosts = {dst: src for src, dst, _ro in plan["root"]["binds"] if dst in (TASK_ROOT, OPT_DIR)}
    for d in (plan.get("env") or {}).get("LD_LIBRARY_PATH", "").split(":"):
        for inside, host in hosts.items():
            if (d == inside or d.startswith(inside + "/")) and _holds_libraries(
                os.path.join(host, d[len(inside) :].lstrip("/"))
            ):
                return True
    return False


@functools.lru_cache(maxsize=4096)
def _holds_libraries(directory: str) -> bool:
    """A directory of code or layers (content-addressed: it never changes) holds a ``*.so*``."""
    try:
        return any(".so" in name for name in os.listdir(directory))
    except OSError:
        return False


def _matches(plan: dict[str, Any], skeleton: dict[str, Any]) -> bool:
    """`plan` has all of `skeleton` (so a spare that set it up can take the plan)."""
    root = plan.get("root") or {}
    binds = [list(b) for b in root.get("binds", ())]
    return (
        (plan.get("ns") or {}) == skeleton["ns"]
        and plan.get("hostname") == skeleton["hostname"]
        and [list(x) for x in root.get("symlinks", ())] == [list(x) for x in skeleton["root"]["symlinks"]]
        and all(list(b) in binds for b in skeleton["root"]["binds"])
    )


def _ns_key(ns: dict[str, Any]) -> tuple[bool, bool]:
    return bool(ns.get("pid")), bool(ns.get("user"))


async def _release(channel: SpawnerChannel, pid: int) -> None:
    with contextlib.suppress(SandboxError):
        await channel.send({"op": "release", "pid": pid})


async def _read_report(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int], bool]:
    """The fork's reports until EOF: an error, the listeners it made, and whether it said it is
    confined and starting (EOF without that: it died first)."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    error: dict[str, Any] | None = None
    fds: list[int] = []
    started = False
    try:
        while True:
            try:
                data, got, _flags, _addr = socket.recv_fds(sock, 65536, 8, socket.MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(sock.fileno(), resolve, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(sock.fileno())
                continue
            except OSError:
                break
            fds.extend(got)
            if not data:
                break
            msg = json.loads(data)
            if msg.get("started"):
                started = True
            elif "listeners" not in msg:
                error = msg
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return error, fds, started
