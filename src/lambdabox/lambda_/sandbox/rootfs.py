"""The file system an environment sees: its own minimal, read-only root, planned here.

`Rootfs.prepare()` (once per server, blocking: call it in a thread) writes two directories under
the sandbox's scratch dir that every environment shares read-only:

- ``etc/``: an /etc without secrets: a ``passwd``/``group`` naming root, ``nobody`` and the sandbox
  users (sbx_user1051), ``hosts`` (localhost only), and copies of what programs need from the
  host's /etc (``resolv.conf``, ``nsswitch.conf``, the dynamic loader's cache and config, TLS
  certificates, ``alternatives``, time zone, ``services``/``protocols``, ``os-release``), and of
  those only what any host user may read (``ssl/private`` and other non-world-readable entries
  are left out). Nothing else of the host's /etc (no ``shadow``, ssh keys, sudoers, credentials).
- ``runtime/``: lambdabox's runtime clients (the bootstraps) as ``/var/runtime``, with mount
  points for the bundled AWS SDKs: the Python SDK's top-level packages land in /var/runtime
  itself (``PYTHONPATH=/var/runtime``, as on Lambda), the Node.js SDK in /var/runtime/node_modules.

`Rootfs.plan()` gives confine.py the per-environment part: a tmpfs root holding the host's
``/usr`` (and the top-level /bin, /lib… links or dirs), read-only; the interpreter's
installation when it lives outside /usr (a pyenv under /root is bound at its own path, and
nothing else of /root); ``/etc`` and ``/var/runtime`` from above; the function's code at
``/var/task`` (read-only); the function's merged layers at ``/opt`` (read-only; empty without layers); ``/tmp`` (a tmpfs of EphemeralStorage size, or a
per-env directory); a minimal ``/dev`` (null, zero, full, random, urandom, fd links) and its own
``/proc``. Nothing of the data dir, other functions, the server's files, /root or /home.
"""

from __future__ import annotations

import compileall
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdabox.lambda_.sandbox.users import USER_NAME, SandboxUsers

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
FORK_INIT = "_lambdabox_init"  # runtimes/_lambdabox_init.c, built into /var/runtime
OPT_DIR = "/opt"
#: what an environment's /etc holds from the host's (files or trees, copied, symlinks kept)
ETC_COPIED = (
    "resolv.conf", "nsswitch.conf", "host.conf", "gai.conf", "ld.so.cache", "ld.so.conf",
    "ld.so.conf.d", "ssl", "ca-certificates", "ca-certificates.conf", "pki", "alternatives",
    "localtime", "timezone", "services", "protocols", "os-release", "mime.types", "debian_version",
)  # fmt: skip
#: top-level host entries that are the system itself (merged-/usr links, or real dirs)
SYSTEM_TOP = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/libx32/")


@dataclass(frozen=True)
class RuntimeSources:
    """Host directories that become /var/runtime in an environment."""

    clients: Path  # lambdabox's runtime clients (bootstrap_python.py, bootstrap_node.js, ...)
    python_sdk: Path | None = None  # pip --target dir holding boto3 and friends
    node_modules: Path | None = None  # the AWS SDK for JavaScript v3


class Rootfs:
    """Prepares the shared read-only parts once and plans each environment's root."""

    def __init__(self, scratch: Path, sources: RuntimeSources, users: SandboxUsers) -> None:
        self.etc = scratch / "etc"
        self.runtime = scratch / "runtime"
        self._sources = sources
        self._users = users
        self._sdk_binds: list[tuple[str, str]] = []
        self._compiled: set[str] = set()
        #: the pid 1 that a fork of a template execs (runtimes/_lambdabox_init.c), as environments
        #: see it; None where no C compiler could build it (the fork then reaps in Python)
        self.fork_init: str | None = None

    def prepare(self) -> None:
        """Write the shared /etc and /var/runtime trees (blocking)."""
        shutil.rmtree(self.etc, ignore_errors=True)
        self.etc.mkdir(parents=True, mode=0o755)
        self._write_etc()
        _world_readable(self.etc)
        self._write_runtime()
        # /var/runtime is read-only inside: without its bytecode every cold start would compile
        # the runtime client's modules again (~10 ms); this interpreter's now, others' on first use
        compileall.compile_dir(str(self.runtime), maxlevels=0, quiet=1)
        self._compiled = {os.path.realpath(sys.executable)}
        self.fork_init = self._build_fork_init()
        self._own_files_readable()

    def _build_fork_init(self) -> str | None:
        """Compile the forks' pid 1 into /var/runtime once per source (blocking); its path inside."""
        source = self._sources.clients / f"{FORK_INIT}.c"
        target = self.runtime / FORK_INIT
        stamp = self.runtime / f".{FORK_INIT}.key"
        if not source.is_file():
            return None
        key = hashlib.sha256(source.read_bytes()).hexdigest()
        if target.is_file() and stamp.is_file() and stamp.read_text() == key:
            return f"{RUNTIME_DIR}/{FORK_INIT}"
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            return None
        for flags in (["-static"], []):  # static: no shared libraries to map, smaller still
            done = subprocess.run(
                [cc, "-O2", *flags, "-o", str(target), str(source)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=60, check=False,
            )  # fmt: skip
            if done.returncode == 0:
                os.chmod(target, 0o755)
                stamp.write_text(key)
                return f"{RUNTIME_DIR}/{FORK_INIT}"
        return None

    def compile_for(self, python: str) -> None:
        """Byte-compile the runtime clients for the interpreter `python` once (blocking)."""
        real = os.path.realpath(python)
        if real in self._compiled:
            return
        self._compiled.add(real)
        subprocess.run(
            [real, "-I", "-S", "-m", "compileall", "-q", "-l", str(self.runtime)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=60, check=False,
        )  # fmt: skip
        self._own_files_readable()

    def compiled_for(self, python: str) -> bool:
        return os.path.realpath(python) in self._compiled

    def _write_etc(self) -> None:
        for name in ETC_COPIED:
            src = Path("/etc") / name
            if src.is_symlink():
                os.symlink(os.readlink(src), self.etc / name)
            elif src.is_dir():
                shutil.copytree(src, self.etc / name, symlinks=True, ignore=_not_public)
            elif src.is_file() and _public(src):
                shutil.copyfile(src, self.etc / name)
        users = "\n".join(self._users.passwd_lines())
        (self.etc / "passwd").write_text(
            "root:x:0:0:root:/root:/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" + users + "\n"
        )
        groups = "\n".join(f"{USER_NAME}:x:{uid}:" for uid in self._uids())
        (self.etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n" + groups + "\n")
        (self.etc / "hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        (self.etc / "hostname").write_text("localhost\n")

    def _uids(self) -> Iterable[int]:
        return range(self._users.base, self._users.base + self._users.count)

    def _write_runtime(self) -> None:
        """/var/runtime: the Python SDK's tree as hard links (copies across file systems), kept
        while the SDK is unchanged, plus our runtime clients copied in. One directory, so one
        bind mount per environment: binding each SDK package on its own cost ~10 ms per cold
        start (measured)."""
        src = self._sources
        key = _tree_key(src.python_sdk)
        stamp = self.runtime / ".lambdabox-sdk"
        if not stamp.is_file() or stamp.read_text() != key:
            shutil.rmtree(self.runtime, ignore_errors=True)
            self.runtime.mkdir(parents=True, mode=0o755)
            if src.python_sdk is not None and src.python_sdk.is_dir():
                shutil.copytree(
                    src.python_sdk, self.runtime, symlinks=True, dirs_exist_ok=True,
                    copy_function=_link_or_copy, ignore=shutil.ignore_patterns("bin"),
                )  # fmt: skip
            stamp.write_text(key)
        for entry in src.clients.iterdir():
            if entry.is_file() and entry.suffix in (".py", ".js", ".mjs", ".cjs", ".sh"):
                target = self.runtime / entry.name
                target.unlink(missing_ok=True)  # never write through a link into the SDK
                shutil.copyfile(entry, target)
        self._sdk_binds = []
        if src.node_modules is not None and src.node_modules.is_dir():
            (self.runtime / "node_modules").mkdir(exist_ok=True)
            self._sdk_binds.append((str(src.node_modules), f"{RUNTIME_DIR}/node_modules"))

    def _own_files_readable(self) -> None:
        """Our copies and bytecode readable by every environment (the SDK's links keep theirs)."""
        os.chmod(self.runtime, 0o755)
        for entry in self._sources.clients.iterdir():
            with contextlib.suppress(FileNotFoundError):
                os.chmod(self.runtime / entry.name, 0o644)
        cache = self.runtime / "__pycache__"
        if cache.is_dir():
            os.chmod(cache, 0o755)
            for pyc in cache.iterdir():
                if pyc.stat().st_nlink == 1:  # ours, not a link to the SDK's
                    os.chmod(pyc, 0o644)

    def plan(
        self,
        new_root: str,
        code_dir: str,
        tmpfs_mb: int | None,
        tmp_dir: str,
        extra: Sequence[str] = (),
        opt_dir: str | None = None,
    ) -> dict[str, Any]:
        """The root plan for one environment (see confine.build_root). `extra`: host paths of
        interpreter installations to bind read-only at their own path (outside /usr only).
        `opt_dir`: the merged layers tree, bound read-only at /opt (else /opt is empty)."""
        symlinks: list[tuple[str, str]] = []
        binds: list[tuple[str, str, bool]] = [("/usr", "/usr", True)]
        for name in SYSTEM_TOP:
            host = f"/{name}"
            if os.path.islink(host):
                symlinks.append((host, os.readlink(host)))
            elif os.path.isdir(host):
                binds.append((host, host, True))
        if any(dst == f"{RUNTIME_DIR}/node_modules" for _src, dst in self._sdk_binds):
            # ES modules resolve bare names by walking up from /var/task: this is where they find
            # the runtime's SDK (after the function's own /var/task/node_modules), as on Lambda
            symlinks.append(("/var/node_modules", f"{RUNTIME_DIR}/node_modules"))
        for path in sorted(set(extra)):
            if not is_system_path(path) and os.path.isdir(path):
                binds.append((path, path, True))
        binds.append((str(self.etc), "/etc", True))
        binds.append((code_dir, TASK_ROOT, True))
        binds.append((str(self.runtime), RUNTIME_DIR, True))
        binds.extend((src, dst, True) for src, dst in self._sdk_binds)
        if opt_dir is not None:
            binds.append((opt_dir, OPT_DIR, True))
        return {
            "dir": new_root,
            "symlinks": symlinks,
            "binds": binds,
            "dirs": ["/var/tmp"] if opt_dir is not None else [OPT_DIR, "/var/tmp"],
            "tmp": {"tmpfs_mb": tmpfs_mb, "dir": tmp_dir},
        }

    def skeleton(self, new_root: str, extra: Sequence[str] = ()) -> dict[str, Any]:
        """The part of every environment's root plan that does not depend on the function (all
        but /var/task, /opt, /tmp and the dirs): what a spare fork mounts before it has a plan
        (confine.prepare), under `new_root`."""
        full = self.plan(new_root, "", None, "", extra)
        binds = [b for b in full["binds"] if b[1] not in (TASK_ROOT, OPT_DIR)]
        return {"dir": new_root, "symlinks": full["symlinks"], "binds": binds}


def is_system_path(path: str) -> bool:
    """True for paths the environment sees anyway (under /usr and the merged-/usr links)."""
    return (path.rstrip("/") + "/").startswith(_SYSTEM_PREFIXES)


def install_prefix(executable: str) -> str | None:
    """The installation an interpreter lives in, to bind when it is outside /usr: the parent of
    its ``bin`` directory (a pyenv version, a /opt/node), else its own directory."""
    real = os.path.realpath(executable)
    if is_system_path(real):
        return None
    parent = os.path.dirname(real)
    return os.path.dirname(parent) if os.path.basename(parent) == "bin" else parent


def _tree_key(top: Path | None) -> str:
    """What identifies an installed SDK tree (its path and its top-level entries' mtimes)."""
    if top is None or not top.is_dir():
        return "none"
    parts = [str(top.resolve())]
    for entry in sorted(top.iterdir()):
        with contextlib.suppress(OSError):
            st = entry.lstat()
            parts.append(f"{entry.name}:{st.st_ino}:{st.st_mtime_ns}")
    return "\n".join(parts)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _public(path: Path) -> bool:
    """World-readable (and, for a directory, world-searchable): not a secret of the host's."""
    try:
        st = path.lstat()
    except OSError:
        return False
    if path.is_symlink():
        return True
    need = 0o005 if path.is_dir() else 0o004
    return st.st_mode & need == need and path.name != "private"


def _not_public(directory: str, names: list[str]) -> set[str]:
    """copytree's ignore: what a host user other than root could not read (e.g. ssl/private)."""
    return {n for n in names if not _public(Path(directory) / n)}


def chmod_readonly(top: Path) -> None:
    """Without a root of its own (rlimits mode): take write permission off the code files (dirs
    left alone so the owner can still delete the tree). It does not stop the files' owner."""
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            p = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                st = os.lstat(p)
                if not os.path.islink(p):
                    os.chmod(p, st.st_mode & ~0o222)


def _world_readable(top: Path) -> None:
    for dirpath, _dirs, files in os.walk(top):
        os.chmod(dirpath, 0o755)
        for name in files:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o644)
