"""The server's end of the spawner: start the helper process, talk to it, notice when it is gone.

`SpawnerChannel` starts `lambdabox.lambda_.sandbox.spawner` in its own interpreter and owns the
``SOCK_SEQPACKET`` socket to it: it sends requests (with pipe ends passed by ``SCM_RIGHTS``),
matches replies to requests by id, and keeps one exit future per spawned environment, resolved by
the spawner's ``exit`` report. The messages themselves are listed in spawner.py.

If the spawner dies while the server lives, its environments die with it (death signal): every
pending request fails with `SandboxError`, every exit future resolves as killed by SIGKILL, and the
owner is told which pids were lost (init reaps them, so their pids may be reused: never signal
them again). The next `start()` starts a new spawner.

The socket is closed in a forked-but-not-exec'ed copy of the server (e.g. multiprocessing's fork
start method): a copy holding it would hide the server's death from the reaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lambdabox
from lambdabox.lambda_.sandbox.spawner import DRAIN_LIMIT, LAUNCH, POLL


class SandboxError(RuntimeError):
    """The sandbox machinery failed (spawner gone, not started); not the function's fault."""


class SpawnerChannel:
    """One spawner process at a time and the socket to it."""

    def __init__(
        self,
        on_lost: Callable[[list[int]], None],
        launch: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """`on_lost(pids)`: the spawner exited while we were connected; `pids` are every env it
        had reported spawned (their exit futures are already resolved as killed). `launch`: the
        interpreter command to start instead of the spawner's (a template's: it is given the
        source dir and the socket's fd as its first arguments, then the rest of `launch`); `env`:
        its environment (the server's by default)."""
        self._on_lost = on_lost
        self._launch = list(launch) if launch is not None else None
        self._env = env
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._send_lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._exits: dict[int, asyncio.Future[tuple[int, int]]] = {}

    @property
    def running(self) -> bool:
        """Connected to a live spawner."""
        return self._sock is not None

    def exit_future(self, pid: int) -> asyncio.Future[tuple[int, int]]:
        """Resolves to ``(CLD_* code, status)`` when the env `pid` ends (it stays a zombie)."""
        return self._exits[pid]

    def forget(self, pid: int) -> None:
        self._exits.pop(pid, None)

    # -- the process -------------------------------------------------------------------------
    async def start(self) -> None:
        """Start a spawner and connect to it."""
        self._loop = loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        src = str(Path(lambdabox.__file__).resolve().parent.parent)
        if self._launch is None:
            argv = [sys.executable, "-I", "-S", "-c", LAUNCH, src, str(theirs.fileno())]
        else:  # [interpreter, flags..., "-c", code, *rest]: source dir and fd go after the code
            at = self._launch.index("-c") + 2
            argv = [*self._launch[:at], src, str(theirs.fileno()), *self._launch[at:]]
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=[theirs.fileno()],
                start_new_session=True,
                cwd="/" if self._launch is not None else None,
                # for the interpreter itself; children get their spec's env
                env=dict(os.environ) if self._env is None else self._env,
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        _close_in_forked_children.add(ours)
        loop.add_reader(ours.fileno(), self._on_readable)

    async def stop(self) -> None:
        """Disconnect (the spawner then kills and removes everything) and wait for it to exit."""
        sock, proc = self._sock, self.process
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
            self.process = None

    def _lost(self) -> None:
        """The spawner died while we live: its children died with it (death signal)."""
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
        self._sock = None
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.process.wait(timeout=1)
            self.process = None
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(SandboxError("the sandbox spawner exited"))
        self._pending.clear()
        for fut in self._exits.values():
            if not fut.done():
                fut.set_result((os.CLD_KILLED, signal.SIGKILL))
        self._on_lost(list(self._exits))

    # -- receiving ---------------------------------------------------------------------------
    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 8, socket.MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if not data:
                for fd in fds:
                    os.close(fd)
                self._lost()
                return
            msg = json.loads(data)
            if fds:
                msg["fds"] = fds  # the receiver owns them (listeners made in the child's netns)
            self._dispatch(msg)

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
        else:
            for fd in msg.get("fds", ()):
                os.close(fd)

    # -- sending -----------------------------------------------------------------------------
    async def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send `msg` and await the spawner's reply."""
        return await (await self.submit(msg))

    async def submit(self, msg: dict[str, Any], fds: Sequence[int] = ()) -> asyncio.Future[dict[str, Any]]:
        """Send `msg`, closing `fds` (the message carries its own copies); return the reply's future."""
        assert self._loop is not None
        req_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._pending[req_id] = fut
        try:
            await self.send({**msg, "id": req_id}, fds)
        except BaseException:
            self._pending.pop(req_id, None)
            raise
        finally:
            for fd in fds:
                os.close(fd)
        return fut

    def abandoned_spawn(self, fut: asyncio.Future[dict[str, Any]]) -> None:
        """Done-callback for a spawn reply whose caller was cancelled: kill what it started."""
        if fut.cancelled() or fut.exception() is not None or fut.result()["op"] != "spawned":
            return
        for fd in fut.result().get("fds", ()):
            os.close(fd)
        pid = int(fut.result()["pid"])
        self._exits.pop(pid, None)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # still pinned by the spawner: safe
        if self._loop is not None and self._sock is not None:
            self._loop.create_task(self.send({"op": "release", "pid": pid}))

    async def send(self, msg: dict[str, Any], fds: Sequence[int] = ()) -> None:
        """Send one message (and `fds`, which stay open) without waiting for a reply."""
        assert self._loop is not None
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
                    self._loop.add_writer(sock.fileno(), resolve, ready)
                    try:
                        await ready
                    finally:
                        self._loop.remove_writer(sock.fileno())
                except OSError as exc:
                    raise SandboxError(f"cannot reach the sandbox spawner: {exc}") from exc


def resolve(fut: asyncio.Future[None]) -> None:
    """A reader/writer callback: the fd is ready (once)."""
    if not fut.done():
        fut.set_result(None)


# Sockets to the spawner, closed in a forked-but-not-exec'ed copy of the server.
_close_in_forked_children: weakref.WeakSet[socket.socket] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for sock in list(_close_in_forked_children):
        with contextlib.suppress(OSError):
            sock.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
