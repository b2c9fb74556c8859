"""The command line that starts an environment with extensions: launcher, exec wrapper, runtime.

An environment's process runs one command. With external extensions (files in the layers'
``/opt/extensions``) that command is lambdabox's launcher (``/var/runtime/`` + `LAUNCHER`, a POSIX
shell script): it starts every extension in the environment (same namespaces, uid, cgroup and
environment variables; their output goes to the function's log through a pipe of their own),
waits for the server's go-ahead on its control socket (sent once every extension has registered;
`LauncherControl` is the server's end of it, which also hears of each extension's exit), then
execs the runtime. With ``AWS_LAMBDA_EXEC_WRAPPER`` set on a managed runtime (Python, Node.js) the
runtime's command is run through that wrapper, which gets the runtime's command line as its
arguments, by a shell that checks it first as the runtimes' bootstrap does (as on Lambda;
``provided.*`` runtimes ignore it there too).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from lambdabox.lambda_.runtime_catalog import is_node, is_python

#: lambdabox's extensions launcher, in the runtime clients' directory
LAUNCHER = "_lambdabox_rt_extensions.sh"
WRAPPER_ENV = "AWS_LAMBDA_EXEC_WRAPPER"
#: the arguments the launcher puts before what it execs
LAUNCHER_ARGS = 3
#: how the managed runtimes' bootstrap runs the exec wrapper (as on Lambda: a missing one is
#: "<wrapper>: does not exist", exit 127; one that cannot be run "...: is not an executable",
#: exit 126). Run as: sh -c WRAP sh <wrapper as the function names it> <its path here> <runtime...>
WRAP = (
    'name=$1; shift; if [ ! -f "$1" ]; then echo "$name: does not exist"; exit 127; fi; '
    'if [ ! -x "$1" ]; then echo "$name: is not an executable"; exit 126; fi; exec "$@"'
)
#: the arguments WRAP puts before the runtime's own command
WRAP_ARGS = 6
#: the longest line the launcher writes on its control socket ("exit <status> <file name>")
CONTROL_LINE = 4096


@dataclass(frozen=True)
class Command:
    """An environment's command line and where in it the runtime's own command starts."""

    argv: tuple[str, ...]
    runtime_at: int
    extensions: tuple[str, ...]  # external extensions the launcher starts (file names)


def external_extensions(opt_dir: Path | None) -> tuple[str, ...]:
    """The external extensions of a merged layers tree: the files of its ``extensions/``
    (hidden ones aside, as the launcher's shell glob leaves them out), sorted."""
    if opt_dir is None:
        return ()
    found = []
    try:
        with os.scandir(opt_dir / "extensions") as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    if stat.S_ISREG(os.stat(entry.path).st_mode):
                        found.append(entry.name)
                except OSError:
                    continue
    except OSError:
        return ()
    return tuple(sorted(found))


def command(
    argv: tuple[str, ...],
    *,
    runtime: str | None,
    environment: dict[str, str],
    opt_dir: Path | None,
    runtime_dir: str,
    task_root: str,
    opt: str | None,
) -> Command:
    """`argv` (the runtime's command, paths as the environment sees them) behind the exec wrapper
    and the extensions launcher where they apply. `task_root`/`opt`: where /var/task and /opt
    are as the environment sees them (they differ without a root of its own)."""
    at = 0
    wrapper = environment.get(WRAPPER_ENV, "")
    if wrapper and (is_python(runtime) or is_node(runtime)):
        argv = ("/bin/sh", "-c", WRAP, "sh", wrapper, _seen(wrapper, task_root, opt), *argv)
        at += WRAP_ARGS
    names = external_extensions(opt_dir)
    if names and opt is not None:
        argv = ("/bin/sh", f"{runtime_dir}/{LAUNCHER}", f"{opt}/extensions", *argv)
        at += LAUNCHER_ARGS
    else:
        names = ()
    return Command(argv, at, names)


def _seen(path: str, task_root: str, opt: str | None) -> str:
    """A path the function names as on Lambda (/var/task/…, /opt/…) where the environment has it."""
    for lambda_dir, here in (("/var/task", task_root), ("/opt", opt)):
        if (
            here is not None
            and here != lambda_dir
            and (path == lambda_dir or path.startswith(lambda_dir + "/"))
        ):
            return here + path[len(lambda_dir) :]
    return path


class LauncherControl:
    """The server's end of the launcher's control socket (the environment's stdin): the go-ahead
    that lets the runtime start, and the extensions' exits as the launcher reports them."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    async def go(self) -> None:
        """Let the launcher exec the runtime."""
        with contextlib.suppress(OSError):
            await asyncio.get_running_loop().sock_sendall(self._sock, b"go\n")

    async def exits(self) -> AsyncIterator[tuple[str, int]]:
        """(file name, shell exit status) of each extension as it exits, until the socket closes.
        Anything else is skipped; a line longer than any the launcher writes ends the reading (the
        environment's own code may write there: it is never buffered without bound)."""
        loop, buf = asyncio.get_running_loop(), b""
        while True:
            try:
                data = await loop.sock_recv(self._sock, 4096)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                kind, _, rest = line.decode("utf-8", "replace").partition(" ")
                status, _, name = rest.partition(" ")
                if kind == "exit" and status.isdigit() and name:
                    yield name, int(status)
            if len(buf) > CONTROL_LINE:
                return

    def close(self) -> None:
        self._sock.close()
