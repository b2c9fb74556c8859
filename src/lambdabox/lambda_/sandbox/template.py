"""A template process: a Python interpreter with the runtime client's modules loaded, forked per environment.

A cold start of a Python environment spends most of its time starting an interpreter and
importing what lambdabox's runtime client needs. A template does that once: `Sandbox` starts one
per interpreter (``python -u -S -c LAUNCH SRC FD CLIENTS``: the runtime's own flags, a locale-only
environment, ``/`` as working directory); it imports those modules, runs the runtime client's top
level (bootstrap_python.py and its siblings, compiled under their /var/runtime paths, not its
main()), freezes its heap (``gc.freeze()``, collector off: forks then share its pages instead of
copying them as the collector touches them) and waits. Each new environment is a fork of it that
confines itself exactly as a spawned one does (confine.run: cgroup, namespaces, its own root, its
own uid, no capabilities, ``no_new_privs``, rlimits, seccomp), forks its runtime under a pid 1
that execs lambdabox's small reaper (runtimes/_lambdabox_init.c), and the runtime, instead of
exec'ing an interpreter, becomes what one would be at its first line (`start_interpreter`) and
calls the client's main().

What the template never holds: anything of an environment. The server asks it for a bare fork
and gets the fork's socket; the plan (argv, environment variables, role credentials, paths, the
seccomp filter) goes from the server straight to the fork over that socket, and the fork's
reports (errors, listeners) go straight back. So no fork can find another environment's secrets
in memory it inherited.

What a fork shares with its siblings, which a spawned interpreter would not: the template's string
hash seed and address-space layout (it is one process, forked). Both are per-template, and the
template is started fresh by each server (and after it dies); `random` is reseeded in each fork.

Protocol (as spawner.py's, whose exit reporting and reaping this reuses):
  server -> template: {"op": "spawn", "id", "ns": {"pid", "user"}, "skeleton"?}  (confine.prepare)
                      {"op": "release", "pid"}
  template -> server: {"op": "spawned", "id", "pid", "listeners": 1} + the fork's socket
                      | {"op": "failed", "id", "errno", "strerror"}
                      {"op": "exit", "pid", "code", "status"}
  server -> fork (on its socket, one packet): the plan, with "seccomp_program" (base64), and its
                      stdio fds [stdout_w, stderr_w]; until then the fork is a spare, waiting
  fork -> server: an error report or {"listeners": n} + fds, then EOF once it is confined.
The server keeps a few spares forked ahead, so a cold start pays for neither the fork nor the
interpreter's after-fork work. On EOF from the server the template kills every fork's process
group and exits; the forks also die with it (death signal, armed first thing in a spare).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import gc
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
import types
from collections.abc import Sequence
from typing import Any, NoReturn, cast

from lambdabox.lambda_.sandbox import confine
from lambdabox.lambda_.sandbox.spawner import Spawner, fork_child

#: what lambdabox's Python runtime client imports on its way to the first /next (and what the
#: interpreter's own start-up would have): loaded once here instead of in every environment
PRELOAD = (
    "contextlib", "logging", "json", "time", "traceback", "importlib", "importlib.machinery",
    "importlib.util", "_socket", "encodings.idna", "linecache", "tokenize",
)  # fmt: skip
#: the runtime client's start-up script, as environments see it (``rootfs.RUNTIME_DIR``)
CLIENT = "/var/runtime/bootstrap_python.py"
#: environment variables an exec'ed interpreter would read at start-up that a fork can honour
#: itself; a plan with any other ``PYTHON*`` variable is spawned instead (the server checks)
HONOURED_ENV = frozenset(("PYTHONPATH", "PYTHONUNBUFFERED"))
#: the locale a template starts in: the one Lambda (and lambdabox) gives environments. A plan
#: with another LANG, or any LC_ALL/LC_CTYPE, is spawned (its interpreter would start otherwise)
LOCALE_ENV = {"LANG": "en_US.UTF-8"}
LOCALE_KEYS = ("LANG", "LC_ALL", "LC_CTYPE")
_PR_SET_PDEATHSIG = 1
#: the interpreter flags a template is started with: those of the runtime's argv (runtime_catalog)
RUNTIME_FLAGS = ("-u", "-S")


class Template(Spawner):
    """Forks confined environments from this pre-initialised interpreter; reports and reaps them."""

    def __init__(self, sock: socket.socket, client: types.ModuleType, base_path: list[str]) -> None:
        super().__init__(sock)
        self.client = client  # the runtime client's start-up script, its top level run
        self.base_path = base_path  # sys.path as a fresh interpreter has it: the standard library
        #: what the interpreter's own start-up added to its environment (PEP 538's LC_CTYPE when
        #: the locale is C): a spawned runtime's environment has it too
        self.startup_env = {k: v for k, v in os.environ.items() if k not in LOCALE_ENV}

    def _handle(self, msg: dict[str, Any], fds: list[int]) -> None:
        op = msg.get("op")
        if op == "spawn":
            ns = msg.get("ns") or {}
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                pid = fork_child(bool(ns.get("pid")) and not ns.get("user"), self.pid_ns)
            except OSError as exc:  # EAGAIN (pids), ENOMEM: the server spawns instead
                ours.close()
                theirs.close()
                self._reply({"op": "failed", "id": msg["id"], "errno": exc.errno, "strerror": str(exc)})
                return
            if pid == 0:
                ours.close()
                self._child(theirs, msg.get("skeleton"))
            theirs.close()
            self.envs[pid] = self.new_env([], [])
            self._reply({"op": "spawned", "id": msg["id"], "pid": pid, "listeners": 1}, [ours.fileno()])
            ours.close()
            self._scan_exits()
        elif op == "release":
            self._release(int(msg["pid"]))

    def _child(self, report: socket.socket, skeleton: dict[str, Any] | None) -> NoReturn:
        """In the fork: set up `skeleton` (confine.prepare: what no plan changes), fork the
        runtime ahead (`_twin`) where it will be pid 1's only child, wait for a plan (and stdio)
        from the server, confine, run. Until the plan comes this is a spare: it dies with the
        template (death signal) or when the server closes its end."""
        twin: confine.Twin | None = None
        try:
            self.sock.close()  # a copy held here would hide the template's death from the server
            self.envs.clear()  # other environments' pids: nothing of theirs stays reachable here
            signal.set_wakeup_fd(-1)
            # dies with the template from now on (if it is already gone, the server closes our
            # socket when it learns that: the recv below then ends)
            confine.libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if skeleton is not None:
                confine.prepare(skeleton)
                ns = skeleton["ns"]
                if ns.get("pid") and not ns.get("user") and os.getpid() == 1:
                    twin = self._twin(report)
            data, stdio, _flags, _addr = socket.recv_fds(report, 1 << 20, 8)
            if not data:
                os._exit(0)  # never used
            plan = json.loads(data)
            program = plan.pop("seccomp_program", None)
            seccomp = base64.b64decode(program) if program else None
            if twin is not None:
                twin.plan = data
        except BaseException:
            os._exit(127)
        run = lambda: self._start_runtime(plan)  # noqa: E731
        confine.run(plan, stdio, report, seccomp, start=run, ready=skeleton, twin=twin)

    def _twin(self, report: socket.socket) -> confine.Twin:
        """Fork the runtime now, before there is a plan: it waits on a socket of its own for the
        plan and stdio, which its pid 1 (us) hands on once it has joined the cgroups itself; it
        joins them too, waits until pid 1 has finished the root they share, confines its own
        process and runs the client."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid != 0:
            theirs.close()
            return confine.Twin(pid, ours, b"")
        try:
            ours.close()
            report.close()
            confine.libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != 1:
                os._exit(0)
            data, stdio, _flags, _addr = socket.recv_fds(theirs, 1 << 20, 8)
            if not data:
                os._exit(0)  # the spare was never used
            plan = json.loads(data)
            program = plan.pop("seccomp_program", None)
            seccomp = base64.b64decode(program) if program else None
            for procs in plan.get("procs", ()):
                confine.write_file(procs, "0")  # as pid 1 did for itself
            if (plan.get("ns") or {}).get("cgroup"):  # then they are our "/"
                confine.check(confine.libc().unshare(confine.CLONE_NEWCGROUP), "unshare(cgroup)")
            theirs.send(b"j")  # joined: pid 1 may now replace the root (and the cgroup files with it)
            if theirs.recv(1) != b"r":  # pid 1 has finished the root we share (else it failed)
                os._exit(127)
        except BaseException:
            os._exit(127)
        confine.confine_process(
            plan, stdio, theirs, seccomp, lambda: self._start_runtime(plan), pid1=False, parent=1
        )

    def _print_uncaught(self, exc: BaseException) -> None:
        """Print an exception that ended the client as an interpreter would have: from the
        client's frames on, under the ``<module>`` frame that called its main()."""
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != CLIENT:
            tb = tb.tb_next
        exc = exc.with_traceback(tb)
        if sys.excepthook is not sys.__excepthook__ or tb is None:
            sys.excepthook(type(exc), exc, tb)
            return
        lines = traceback.format_exception(exc)
        call = getattr(self.client, "_TEMPLATE_MAIN_LINE", None)
        if call is not None and lines and lines[0].startswith("Traceback"):
            lines.insert(1, f'  File "{CLIENT}", line {call}, in <module>\n    main()\n')
        sys.stderr.write("".join(lines))

    def _start_runtime(self, plan: dict[str, Any]) -> NoReturn:
        """Become what ``python -u -S CLIENT`` would be at its first line, then run CLIENT."""
        code, interrupted = 1, False
        try:
            os.setpgid(0, 0)  # a group of its own under pid 1, as tini starts a runtime
            # the frames below this one are the template's: give user code the depth a spawned
            # interpreter has left at the client's main()
            depth, frame = 0, cast("types.FrameType | None", sys._getframe())
            while frame is not None:
                depth, frame = depth + 1, frame.f_back
            sys.setrecursionlimit(sys.getrecursionlimit() + depth - 1)
            start_interpreter(plan, self.base_path, self.startup_env, self.client)
            self.client.main()
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            with contextlib.suppress(BaseException):
                self._print_uncaught(exc)
        finish(code, interrupted)


def start_interpreter(
    plan: dict[str, Any], base_path: Sequence[str], startup_env: dict[str, str], main: types.ModuleType
) -> None:
    """Give this forked interpreter the state a fresh ``python -u -S CLIENT`` has: argv, the
    environment (with what the interpreter's start-up adds: `startup_env`), TZ read, the
    collector on, logging's start time, sys.path (script dir, PYTHONPATH, standard library),
    Python's own signal dispositions, and `main` (the runtime client, loaded by the template)
    as `__main__`; its stdio objects are already the interpreter's."""
    env = {**{str(k): str(v) for k, v in plan["env"].items()}, **startup_env}
    argv = [str(a) for a in plan["argv"]]
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # TZ: the C library read the template's (none) when `time` was imported
    gc.enable()  # the template ran without its collector; an interpreter starts with it on
    logging._startTime = time.time()  # type: ignore[attr-defined]  # relativeCreated counts from here
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as the interpreter sets them at start-up
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    script = argv[len(RUNTIME_FLAGS) + 1]
    sys.argv = argv[len(RUNTIME_FLAGS) + 1 :]
    sys.orig_argv = argv
    sys.executable = argv[0]
    pythonpath = env.get("PYTHONPATH", "")
    extra = [os.path.abspath(p) for p in pythonpath.split(":")] if pythonpath else []  # "": cwd
    sys.path[:] = [os.path.dirname(script), *extra, *base_path]
    if "random" in sys.modules:
        sys.modules["random"].seed()
    # stdin/stdout/stderr stay the objects the template's interpreter made for fds 0-2 (with the
    # runtime's own flags and locale, never used): the fds now are the environment's
    sys.modules["__main__"] = main


def finish(code: int, interrupted: bool = False) -> NoReturn:
    """End as an interpreter does: join threads, run atexit handlers, flush stdio, exit (killed
    by SIGINT itself after an unhandled KeyboardInterrupt)."""
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    with contextlib.suppress(BaseException):
        sys.stderr.write(f"{exc.code}\n")
    return 1


def load_client(clients: str) -> types.ModuleType:
    """Run the runtime client's top level (its siblings loaded, its functions defined) as the
    `__main__` a spawned ``python CLIENT`` would have, from `clients` (the host dir that becomes
    /var/runtime), every code object under the path environments see; not its main()."""
    main = types.ModuleType("__main__")
    main.__file__ = CLIENT
    main.__cached__ = None  # type: ignore[attr-defined]
    main.__builtins__ = __builtins__  # type: ignore[attr-defined]

    def source(name: str) -> bytes:
        with open(os.path.join(clients, f"{name}.py"), "rb") as f:
            return f.read()

    main.__dict__["_LAMBDABOX_TEMPLATE_SOURCE"] = source
    name = os.path.splitext(os.path.basename(CLIENT))[0]
    exec(compile(source(name), CLIENT, "exec", dont_inherit=True), main.__dict__)
    main.__dict__["_TEMPLATE_SOURCE"] = None
    # the line of its `main()` call, which a spawned interpreter's tracebacks start with
    calls = [n for n, line in enumerate(source(name).decode().splitlines(), 1) if line.strip() == "main()"]
    main.__dict__["_TEMPLATE_MAIN_LINE"] = calls[-1] if calls else None
    return main


def main(argv: Sequence[str]) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=int(argv[0]))
    clients = argv[1]
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    client = load_client(clients)
    confine.libc()
    src = sys.path[0]  # put first by LAUNCH; "" (the working directory) by -c: neither is kept
    base_path = [p for p in sys.path if p not in (src, "")]
    for name in [n for n in sys.modules if n == "lambdabox" or n.startswith("lambdabox.")]:
        del sys.modules[name]  # user code must not import (or be shadowed by) the template's own
    for cached in [d for d in sys.path_importer_cache if d == src or d.startswith(src + os.sep)]:
        del sys.path_importer_cache[cached]
    gc.collect()
    gc.freeze()  # what is loaded now stays shared with every fork
    gc.disable()
    Template(sock, client, base_path).run()


#: how the server starts this module (as spawner.LAUNCH, plus the runtime clients' directory)
LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from lambdabox.lambda_.sandbox.template import main; main(sys.argv[2:])"
)
