"""Which Lambda runtimes exist and which lambdabox runs, and the command line that starts each one.

The identifiers Lambda accepts for new functions are botocore's model's Runtime enum less the ones
AWS has blocked (`BLOCKED`: deprecated past their "Block function create" date), so a botocore
that knows a new runtime brings it here. lambdabox runs every Python (`python3.N`), Node.js
(`nodejsN.x`) and OS-only (`provided.al*`) one among them; Java, .NET and Ruby it does not.

A runtime identifier maps to an interpreter found on this machine (resolved once, past pyenv-style
shims, in a worker thread: `await prepare(runtime)` before `launch()` keeps the event loop free) and
to lambdabox's own runtime client for it. When the exact interpreter is missing, the
nearest installed one of the same language is used and a warning is written to the function's log.
`provided.*` runtimes run the function's own `bootstrap` executable.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lambdabox.aws.protocol import load_service_model

RUNTIMES_DIR = Path(__file__).parent / "runtimes"

#: runtimes AWS refuses for creating or updating functions ("The runtime parameter of ... is no
#: longer supported"): deprecated and past their block dates in the Lambda runtimes table
#: (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html#runtimes-deprecated). Those
#: deprecated later (python3.8, nodejs16.x, dotnet6 ...) are still accepted: AWS moved their block
#: dates on, and its list of valid runtimes still names them.
BLOCKED = frozenset(
    {
        "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x",
        "nodejs12.x", "nodejs14.x", "python2.7", "python3.6", "python3.7", "dotnetcore1.0",
        "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "ruby2.5", "ruby2.7", "java8", "go1.x",
        "provided",
    }
)  # fmt: skip

_PYTHON = re.compile(r"python3\.(\d+)")
_NODE = re.compile(r"nodejs(\d+)\.x")
_PROVIDED = re.compile(r"provided\.al\w+")


@functools.cache
def lambda_runtimes() -> tuple[str, ...]:
    """The runtime identifiers Lambda accepts for new functions, in the model's order."""
    enum = load_service_model("lambda").shape_for("Runtime").enum
    return tuple(r for r in enum if r not in BLOCKED)


def is_python(runtime: str | None) -> bool:
    return runtime is not None and _PYTHON.fullmatch(runtime) is not None


def is_node(runtime: str | None) -> bool:
    return runtime is not None and _NODE.fullmatch(runtime) is not None


def runs(runtime: str) -> bool:
    """Whether lambdabox runs functions of this (accepted) runtime."""
    return is_python(runtime) or is_node(runtime) or _PROVIDED.fullmatch(runtime) is not None


def runnable() -> tuple[str, ...]:
    """The accepted runtimes lambdabox runs."""
    return tuple(r for r in lambda_runtimes() if runs(r))


def _python_versions() -> tuple[str, ...]:
    """`X.Y` of every accepted Python runtime, newest first."""
    found = [m.group(1) for r in lambda_runtimes() if (m := _PYTHON.fullmatch(r))]
    return tuple(f"3.{minor}" for minor in sorted({int(n) for n in found}, reverse=True))


@dataclass(frozen=True)
class Launch:
    """How to start an environment for one runtime."""

    argv: tuple[str, ...]
    execution_env: str  # AWS_EXECUTION_ENV
    warning: str | None = None  # written to the function log on each cold start
    path_dirs: tuple[str, ...] = ()  # interpreter directories to put on PATH


def _candidates(version: str) -> list[str]:
    """Places a `pythonX.Y` may live: PATH, then pyenv's versions (whose shims refuse inactive versions)."""
    found = [exe] if (exe := shutil.which(f"python{version}")) else []
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found += sorted(str(p) for p in pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))[::-1]
    found += [
        f"{d}/python{version}"
        for d in ("/usr/local/bin", "/usr/bin")
        if Path(f"{d}/python{version}").exists()
    ]
    return found


def _real_python(version: str) -> str | None:
    """The real interpreter for Python `version` (past shims and virtualenvs), or None."""
    for exe in _candidates(version):
        try:
            out = subprocess.run(
                # the base interpreter, not a virtualenv's: functions must not see lambdabox's own packages
                [exe, "-c", "import sys; print(getattr(sys, '_base_executable', '') or sys.executable)"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if real := out.stdout.strip():
            return real
    return None


def _real_node() -> str | None:
    exe = shutil.which("node")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "-e", "process.stdout.write(process.execPath + ' ' + process.versions.node)"],
            capture_output=True, text=True, timeout=20, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class RuntimeCatalog:
    """Resolves runtime identifiers to launch commands (interpreters looked up once, lazily).

    The lookups run subprocesses (up to 20 s each). The server calls `await prepare(runtime)` first,
    which does them in a worker thread, once per runtime however many callers wait; `launch()` is
    then answered from the cache. Called without `prepare`, `launch()` looks up synchronously.
    """

    def __init__(self, find_python: Callable[[str], str | None] = _real_python) -> None:
        self._find_python = find_python
        self._pythons: dict[str, str | None] = {}
        self._node: tuple[str, int] | None = None
        self._node_looked_up = False
        self._lookup_lock = threading.Lock()  # one lookup at a time: threads share the caches
        self._prepared: set[str | None] = set()
        self._preparing: dict[str | None, asyncio.Future[None]] = {}

    def prepared(self, runtime: str | None) -> bool:
        """True when `launch(runtime, ...)` will not look anything up."""
        return runtime in self._prepared

    async def prepare(self, runtime: str | None) -> None:
        """Look up what `launch(runtime)` needs, off the event loop; concurrent callers share one lookup."""
        if runtime in self._prepared:
            return
        pending = self._preparing.get(runtime)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self._resolve, runtime))
            self._preparing[runtime] = pending
            pending.add_done_callback(lambda _: self._finish_prepare(runtime))
        await asyncio.shield(pending)

    def _finish_prepare(self, runtime: str | None) -> None:
        self._preparing.pop(runtime, None)
        self._prepared.add(runtime)

    def _resolve(self, runtime: str | None) -> None:
        """Everything `launch(runtime)` looks up (the nearest Pythons too), so that it only reads caches."""
        with self._lookup_lock, contextlib.suppress(Exception):  # launch() raises it again, in its place
            self.launch(runtime, Path("."))

    def python(self, version: str) -> str | None:
        if version not in self._pythons:
            self._pythons[version] = self._find_python(version)
        return self._pythons[version]

    def node(self) -> tuple[str, int] | None:
        if not self._node_looked_up:
            self._node_looked_up = True
            got = _real_node()
            if got is not None:
                path, ver = got.rsplit(" ", 1)
                self._node = (path, int(ver.split(".")[0]))
        return self._node

    def launch(self, runtime: str | None, code_dir: Path) -> Launch:
        if is_python(runtime):
            assert runtime is not None
            want = runtime.removeprefix("python")
            exe = self.python(want)
            warning = None
            if exe is None:
                exe = self._nearest_python(want)
                got = f"{sys.version_info.major}.{sys.version_info.minor}" if exe == sys.executable else "?"
                for v in _python_versions():
                    if self.python(v) == exe:
                        got = v
                warning = f"lambdabox: {runtime} is not installed here; running on Python {got} instead"
            boot = str(RUNTIMES_DIR / "bootstrap_python.py")
            return Launch((exe, "-u", "-S", boot), f"AWS_Lambda_{runtime}", warning, (str(Path(exe).parent),))
        if is_node(runtime):
            assert runtime is not None
            node = self.node()
            if node is None:
                raise RuntimeError("Node.js is not installed on this machine")
            node_path, major = node
            wanted = int(runtime.removeprefix("nodejs").split(".")[0])
            warning = None
            if wanted != major:
                warning = f"lambdabox: {runtime} is not installed here; running on Node.js {major} instead"
            boot = str(RUNTIMES_DIR / "bootstrap_node.js")
            return Launch((node_path, boot), f"AWS_Lambda_{runtime}", warning, (str(Path(node_path).parent),))
        # provided.*: the function's own bootstrap
        node = self.node()
        # the base interpreter's directory: a virtualenv's is not inside an environment's root
        dirs = [str(Path(os.path.realpath(sys.executable)).parent)]
        if node is not None:
            dirs.append(str(Path(node[0]).parent))
        return Launch((str(code_dir / "bootstrap"),), f"AWS_Lambda_{runtime}", None, tuple(dirs))

    def _nearest_python(self, want: str) -> str:
        """The installed Python nearest to `want` (the newer of two as near), else our own."""
        minor = int(want.split(".")[1])
        order = sorted(_python_versions(), key=lambda v: abs(int(v.split(".")[1]) - minor))
        for v in order:
            exe = self.python(v)
            if exe is not None:
                return exe
        return sys.executable
