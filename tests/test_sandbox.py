"""The sandbox with real processes: limits, kill, tmp dirs, read-only code, and the reaper.

Cgroup-specific tests skip when the machine gives no usable cgroups (the sandbox then runs in
"rlimit" mode); root-specific ones skip when environments get no root of their own (isolation
"rlimits"). With one (full or userns), an environment is pid 1 (its init) and 2 (the runtime) of
its own pid namespace: its processes are found from the host by a marker in their environment or
as cgroup members, never by the pids they print.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conftest import MARKER, host_pids_with_env
from lambdabox.lambda_.extension_launch import LAUNCHER
from lambdabox.lambda_.sandbox import (
    ExitInfo,
    Sandbox,
    SandboxProcess,
    SandboxSpec,
    SpawnError,
    runtime_memory_args,
)

SRC = Path(__file__).resolve().parent.parent / "src"
T = TypeVar("T")
PAUSE = "import signal\nsignal.pause()\n"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def code_dir(tmp_path: Path) -> Iterator[Path]:
    """A code dir outside the host's /tmp when possible, so a private /tmp can be tested."""
    base = "/var/tmp" if os.path.isdir("/var/tmp") and os.access("/var/tmp", os.W_OK) else str(tmp_path)
    d = Path(tempfile.mkdtemp(prefix="lbx-code-", dir=base))
    d.chmod(0o755)  # as the server unpacks code: readable by the environment's own uid
    (d / "handler.py").write_text("x = 1\n")
    yield d
    for p in d.rglob("*"):
        with contextlib.suppress(OSError):
            p.chmod(0o700)
    shutil.rmtree(d, ignore_errors=True)


@contextlib.asynccontextmanager
async def sandbox(root: Path, **kw: Any) -> AsyncIterator[Sandbox]:
    sb = Sandbox(root, **kw)
    await sb.start()
    try:
        yield sb
    finally:
        await sb.close()


def spec(code: Path, script: str, *, memory_mb: int = 128, ephemeral_mb: int = 64, **env: str) -> SandboxSpec:
    """`sys.executable` runs as the base interpreter inside (the sandbox binds its installation)."""
    return SandboxSpec(
        argv=[sys.executable, "-c", textwrap.dedent(script)],
        env={"PATH": os.defpath, **env},
        cwd=code,
        memory_mb=memory_mb,
        ephemeral_mb=ephemeral_mb,
        name="test-fn",
    )


class Output:
    """Collects a child's stdout/stderr from the event loop, as the server does."""

    def __init__(self, proc: SandboxProcess) -> None:
        self.data = {proc.stdout_fd: bytearray(), proc.stderr_fd: bytearray()}
        self.proc = proc
        self.eof: dict[int, asyncio.Future[None]] = {}
        self.changed = asyncio.Event()
        loop = asyncio.get_running_loop()
        for fd in self.data:
            self.eof[fd] = loop.create_future()
            loop.add_reader(fd, self._read, fd)

    def _read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if chunk:
            self.data[fd] += chunk
        else:
            asyncio.get_running_loop().remove_reader(fd)
            self.eof[fd].set_result(None)
        self.changed.set()

    @property
    def stdout(self) -> str:
        return self.data[self.proc.stdout_fd].decode()

    @property
    def stderr(self) -> str:
        return self.data[self.proc.stderr_fd].decode()

    async def line(self) -> str:
        """The first complete stdout line (bounded by the process's life)."""
        while "\n" not in self.stdout:
            if self.eof[self.proc.stdout_fd].done():
                raise AssertionError(f"no line; stderr: {self.stderr}")
            self.changed.clear()
            await self.changed.wait()
        return self.stdout.split("\n", 1)[0]

    async def finish(self) -> ExitInfo:
        info = await self.proc.wait()
        await asyncio.gather(*self.eof.values())
        self.close()
        return info

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for fd, fut in self.eof.items():
            if not fut.done():
                loop.remove_reader(fd)
                fut.set_result(None)
            with contextlib.suppress(OSError):
                os.close(fd)


def gone(pid: int) -> bool:
    """No such process, or only its zombie left."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_until(cond: Callable[[], bool], limit: float = 5.0) -> bool:
    """Poll a kernel-side condition with a short bounded loop."""
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def await_until(cond: Callable[[], bool], limit: float = 5.0) -> bool:
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def spawn_and_run(sb: Sandbox, s: SandboxSpec) -> tuple[Output, ExitInfo, SandboxProcess]:
    proc = await sb.spawn(s)
    out = Output(proc)
    info = await out.finish()
    return out, info, proc


def with_sandbox(tmp_path: Path, body: Callable[[Sandbox], Awaitable[None]], **kw: Any) -> None:
    async def main() -> None:
        async with sandbox(tmp_path / "sandbox", **kw) as sb:
            await body(sb)

    run(main())


# ------------------------------------------------------------------------------ basics
ISOLATIONS = pytest.mark.parametrize(
    "isolations", [("full", "userns", "rlimits"), ("rlimits",)], ids=["best", "no-namespaces"]
)


def ns_pids(pid: int) -> list[int]:
    """A host process's pid in each pid namespace it is in, outermost first (/proc NSpid)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(p) for p in line.split()[1:]]
    raise AssertionError(f"no NSpid for {pid}")


@ISOLATIONS
def test_child_gets_exactly_its_env_cwd_stdio_and_no_fds(
    tmp_path: Path, code_dir: Path, isolations: tuple[str, ...]
) -> None:
    script = """
        import json, os, sys, tempfile
        print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "stdin": sys.stdin.read(),
                          "fds": sorted(int(f) for f in os.listdir("/proc/self/fd")),
                          "pgid": os.getpgid(0), "sid": os.getsid(0), "pid": os.getpid(),
                          "ppid": os.getppid(), "tmp": tempfile.gettempdir()}), flush=True)
        print("to stderr", file=sys.stderr)
        sys.exit(3)
    """

    async def body(sb: Sandbox) -> None:
        assert sb.own_root == (isolations != ("rlimits",))
        proc = await sb.spawn(spec(code_dir, script, FOO="bar"))
        out = Output(proc)
        got = json.loads(await out.line())
        pids_while_running = ns_pids(proc.pid)
        info = await out.finish()
        assert info == ExitInfo(3, None, False)
        assert got["env"]["FOO"] == "bar"
        assert "HOME" not in got["env"]  # nothing inherited from the server
        # exactly what the spec gave (and the interpreter's own locale coercion)
        extra = {"TMPDIR"} if not sb.own_root else set()
        assert set(got["env"]) - {"LC_CTYPE"} == {"PATH", "FOO"} | extra
        assert got["cwd"] == os.path.realpath(sb.view(code_dir).task_root)
        assert got["stdin"] == ""
        assert set(got["fds"]) <= {0, 1, 2, 3}  # 3: listdir's own descriptor
        if sb.own_root:
            assert got["cwd"] == "/var/task" and got["tmp"] == "/tmp"
            # its own pid namespace: the spawned process is its pid 1 (the init), the runtime its
            # child, pid 2; the session is the namespace's, nothing of the host's
            assert pids_while_running[0] == proc.pid and pids_while_running[-1] == 1
            assert (got["pid"], got["ppid"], got["sid"]) == (2, 1, 1)
        else:
            assert got["env"]["TMPDIR"] == got["tmp"] == str(proc.tmp_dir)
            assert pids_while_running == [proc.pid]
            assert got["pid"] == proc.pid == got["pgid"] == got["sid"]  # own session and group
        assert out.stderr == "to stderr\n"
        await proc.cleanup()

    with_sandbox(tmp_path, body, isolations=isolations)


def test_missing_executable_is_an_enoent_oserror(tmp_path: Path, code_dir: Path) -> None:
    async def body(sb: Sandbox) -> None:
        bad = SandboxSpec([str(code_dir / "bootstrap")], {}, code_dir, 128, 64, "missing")
        with pytest.raises(SpawnError) as caught:
            await sb.spawn(bad)
        assert isinstance(caught.value, OSError)
        assert caught.value.errno == 2
        assert list((tmp_path / "sandbox" / "envs").iterdir()) == []

    with_sandbox(tmp_path, body)


def test_runtime_memory_args_for_node_only() -> None:
    assert runtime_memory_args("/usr/bin/python3.12", 128) == []
    flags = runtime_memory_args("/opt/node/bin/node", 1024)
    assert "--max-old-space-size=922" in flags
    assert any(f.startswith("--max-semi-space-size=") for f in flags)


# ------------------------------------------------------------------------------ memory
def test_memory_limit_kills_and_reports_oom(tmp_path: Path, code_dir: Path) -> None:
    async def body(sb: Sandbox) -> None:
        if sb.mode == "rlimit":
            pytest.skip("no usable cgroups here")
        _out, info, proc = await spawn_and_run(sb, spec(code_dir, "x = bytearray(300 << 20)", memory_mb=128))
        assert info.signal == "SIGKILL"
        assert info.oom_killed is True
        assert proc.max_memory_mb() == pytest.approx(128, abs=2)
        await proc.cleanup()
        # a child that stays under its limit is not reported as OOM, even when killed
        proc = await sb.spawn(spec(code_dir, PAUSE, memory_mb=128))
        out = Output(proc)
        proc.kill()
        assert await out.finish() == ExitInfo(-9, "SIGKILL", False)
        await proc.cleanup()

    with_sandbox(tmp_path, body)


@pytest.mark.parametrize("modes", [("cgroup2", "cgroup1", "rlimit"), ("rlimit",)], ids=["best", "rlimit"])
def test_max_memory_tracks_peak_and_resets(tmp_path: Path, code_dir: Path, modes: tuple[str, ...]) -> None:
    script = """
        import signal, sys
        x = bytearray(50 << 20)
        del x
        print("freed", flush=True)
        signal.pause()
    """

    async def body(sb: Sandbox) -> None:
        proc = await sb.spawn(spec(code_dir, script, memory_mb=256))
        out = Output(proc)
        assert await out.line() == "freed"
        assert 50 <= proc.max_memory_mb() < 120
        proc.reset_peak()
        assert proc.max_memory_mb() < 40
        proc.kill()
        await out.finish()
        await proc.cleanup()

    with_sandbox(tmp_path, body, modes=modes)


def test_rlimit_mode_limits_python_address_space(tmp_path: Path, code_dir: Path) -> None:
    async def body(sb: Sandbox) -> None:
        assert sb.mode == "rlimit"
        out, info, proc = await spawn_and_run(sb, spec(code_dir, "x = bytearray(400 << 20)", memory_mb=128))
        assert info.returncode == 1
        assert "MemoryError" in out.stderr
        assert info.oom_killed is False
        await proc.cleanup()

    with_sandbox(tmp_path, body, modes=("rlimit",))


def test_cgroup_limits_follow_the_spec(tmp_path: Path, code_dir: Path) -> None:
    async def body(sb: Sandbox) -> None:
        if sb.mode == "rlimit":
            pytest.skip("no usable cgroups here")
        proc = await sb.spawn(spec(code_dir, PAUSE, memory_mb=3538))
        cg = proc._cg
        assert cg is not None
        limit = "memory.limit_in_bytes" if cg.version == 1 else "memory.max"
        assert int((cg.memory_dir / limit).read_text()) == 3538 << 20
        for d in cg.dirs:
            if (d / "pids.max").exists():
                assert (d / "pids.max").read_text().strip() == "1024"
            if (d / "cpu.shares").exists():
                assert int((d / "cpu.shares").read_text()) == 2048  # two vCPUs' worth
            if (d / "cpu.weight").exists():
                assert int((d / "cpu.weight").read_text()) == 200
            # all environments together outweigh one server thread eight to one
            if (d.parent / "cpu.shares").exists():
                assert int((d.parent / "cpu.shares").read_text()) == 8192
            if (d.parent / "cpu.weight").exists():
                assert int((d.parent / "cpu.weight").read_text()) == 800
        assert proc.pid in cg.pids()
        proc.kill()
        await Output(proc).finish()
        await proc.cleanup()
        assert not any(d.exists() for d in cg.dirs)

    with_sandbox(tmp_path, body)


# ------------------------------------------------------------------------------ killing
GRANDCHILD = """
    import os, signal, sys
    kids = []
    for escape in (False, os.environ.get("ESCAPE") == "1"):
        pid = os.fork()
        if pid == 0:
            if escape:
                os.setsid()  # leaves the process group: only a cgroup still holds it
            signal.pause()
            os._exit(0)
        kids.append(pid)
    print(" ".join(map(str, kids)), flush=True)
    signal.pause()
"""


def can_escape(sb: Sandbox) -> bool:
    """Whether a grandchild that leaves the process group is still held (by a pid namespace or
    a cgroup): only then does GRANDCHILD try it."""
    return sb.own_root or sb.mode != "rlimit"


@pytest.mark.parametrize("isolations", [("full", "userns", "rlimits"), ("rlimits",)], ids=["ns", "no-ns"])
@pytest.mark.parametrize("modes", [("cgroup2", "cgroup1", "rlimit"), ("rlimit",)], ids=["best", "rlimit"])
def test_kill_takes_down_forked_grandchildren(
    tmp_path: Path, code_dir: Path, modes: tuple[str, ...], isolations: tuple[str, ...]
) -> None:
    async def body(sb: Sandbox) -> None:
        marker = uuid.uuid4().hex
        the_spec = spec(code_dir, GRANDCHILD, ESCAPE="1" if can_escape(sb) else "0")
        the_spec = dataclasses.replace(the_spec, env={**the_spec.env, MARKER: marker})
        proc = await sb.spawn(the_spec)
        out = Output(proc)
        assert len((await out.line()).split()) == 2  # both grandchildren forked (pids as seen inside)
        victims = host_pids_with_env(MARKER, marker)
        # the runtime and its two children (and, with a root of its own, the init)
        assert len(victims) == (4 if sb.own_root else 3), victims
        if proc._cg is not None:
            assert victims <= set(proc._cg.pids())
        proc.kill()
        assert (await out.finish()).signal == "SIGKILL"
        assert await await_until(lambda: all(gone(p) for p in victims))
        await proc.cleanup()

    with_sandbox(tmp_path, body, modes=modes, isolations=isolations)


def test_terminate_sends_sigterm_then_sigkill(tmp_path: Path, code_dir: Path) -> None:
    stubborn = """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        signal.pause()
    """

    async def body(sb: Sandbox) -> None:
        proc = await sb.spawn(spec(code_dir, "print('ready', flush=True)\n" + PAUSE))
        out = Output(proc)
        await out.line()
        assert await proc.terminate(grace=30) == ExitInfo(-15, "SIGTERM", False)
        out.close()
        await proc.cleanup()
        proc = await sb.spawn(spec(code_dir, stubborn))
        out = Output(proc)
        await out.line()
        assert (await proc.terminate(grace=0.05)).signal == "SIGKILL"
        out.close()
        await proc.cleanup()

    with_sandbox(tmp_path, body)


def test_close_kills_live_environments_and_removes_everything(tmp_path: Path, code_dir: Path) -> None:
    async def main() -> None:
        sb = Sandbox(tmp_path / "sandbox")
        await sb.start()
        procs = [await sb.spawn(spec(code_dir, PAUSE)) for _ in range(3)]
        dirs = [d for p in procs for d in (p._cg.dirs if p._cg else [])]
        parents = list(sb._cgroups.parents) if sb._cgroups else []
        spawner = sb._channel.process
        for p in procs:
            os.close(p.stdout_fd)
            os.close(p.stderr_fd)
        await sb.close()
        assert all(gone(p.pid) for p in procs)
        assert not any(d.exists() for d in dirs + parents)
        assert not (tmp_path / "sandbox" / "envs").exists()
        assert spawner is not None and spawner.poll() is not None

    run(main())


def test_environments_die_with_a_lost_spawner_and_spawning_recovers(tmp_path: Path, code_dir: Path) -> None:
    async def body(sb: Sandbox) -> None:
        proc = await sb.spawn(spec(code_dir, "print('ready', flush=True)\n" + PAUSE))
        out = Output(proc)
        await out.line()
        spawner = sb._channel.process
        assert spawner is not None
        os.kill(spawner.pid, signal.SIGKILL)
        assert (await out.finish()).signal == "SIGKILL"
        assert await await_until(lambda: gone(proc.pid))
        await proc.cleanup()
        again = await sb.spawn(spec(code_dir, "print('again')"))
        out2 = Output(again)
        assert (await out2.finish()).returncode == 0
        assert out2.stdout == "again\n"
        await again.cleanup()

    with_sandbox(tmp_path, body)


# ------------------------------------------------------------------------------ file system
def test_tmp_is_private_writable_sized_and_removed(tmp_path: Path, code_dir: Path) -> None:
    script = """
        import json, os, tempfile
        tmp = tempfile.gettempdir()
        with open(os.path.join(tmp, "mine"), "w") as f:
            f.write("x")
        with tempfile.NamedTemporaryFile() as f:
            where = os.path.dirname(f.name)
        st = os.statvfs(tmp)
        print(json.dumps({"tmp": tmp, "listing": os.listdir(tmp), "where": where,
                          "size_mb": st.f_blocks * st.f_frsize / 2**20}))
    """

    async def body(sb: Sandbox) -> None:
        if not sb.own_root:
            pytest.skip("no root of its own here")
        host_tmp_before = set(os.listdir("/tmp"))
        out, info, proc = await spawn_and_run(sb, spec(code_dir, script, ephemeral_mb=96))
        assert info.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        # its own /tmp: only the function's own file, nothing of the host's /tmp
        assert got["tmp"] == got["where"] == "/tmp"
        assert got["listing"] == ["mine"]
        assert "mine" not in set(os.listdir("/tmp")) - host_tmp_before
        assert got["size_mb"] == pytest.approx(96)  # a tmpfs of EphemeralStorage's size
        out2, _, proc2 = await spawn_and_run(sb, spec(code_dir, script, ephemeral_mb=96))
        assert json.loads(out2.stdout)["listing"] == ["mine"]  # its own, not the other env's file
        tmp_dirs = [proc.tmp_dir, proc2.tmp_dir]
        await proc.cleanup()
        await proc2.cleanup()
        assert not any(d.exists() for d in tmp_dirs)

    with_sandbox(tmp_path, body)


def test_tmp_on_disk_is_the_environments_own_dir(tmp_path: Path, code_dir: Path) -> None:
    script = "open('/tmp/f', 'w').write('x'); import os; print(sorted(os.listdir('/tmp')))"

    async def body(sb: Sandbox) -> None:
        if not sb.own_root:
            pytest.skip("no root of its own here")
        proc = await sb.spawn(spec(code_dir, "print('ready', flush=True)\n" + PAUSE))
        out = Output(proc)
        await out.line()
        out2, info, proc2 = await spawn_and_run(sb, spec(code_dir, script))
        assert info.returncode == 0, out2.stderr
        assert out2.stdout.strip() == "['f']"
        assert (proc2.tmp_dir / "tmp" / "f").read_text() == "x"  # on disk, in its own dir
        assert not (proc.tmp_dir / "tmp" / "f").exists()
        await proc2.cleanup()
        assert not proc2.tmp_dir.exists()
        proc.kill()
        await out.finish()
        await proc.cleanup()

    with_sandbox(tmp_path, body, tmp_storage="disk")


def test_tmp_without_mount_namespaces_is_a_plain_private_dir(tmp_path: Path, code_dir: Path) -> None:
    script = "import os; open(os.environ['TMPDIR'] + '/f', 'w').write('x'); print(os.environ['TMPDIR'])"

    async def body(sb: Sandbox) -> None:
        out, info, proc = await spawn_and_run(sb, spec(code_dir, script))
        assert info.returncode == 0, out.stderr
        assert out.stdout.strip() == str(proc.tmp_dir)
        assert (proc.tmp_dir / "f").read_text() == "x"
        await proc.cleanup()
        assert not proc.tmp_dir.exists()

    with_sandbox(tmp_path, body, isolations=("rlimits",))


def test_code_dir_is_read_only_for_the_child(tmp_path: Path, code_dir: Path) -> None:
    script = """
        import errno, os
        results = []
        for path in ("handler.py", "new.txt"):
            try:
                open(path, "a").close()
                results.append("writable")
            except OSError as exc:
                results.append(errno.errorcode[exc.errno])
        print(" ".join(results))
    """

    async def body(sb: Sandbox) -> None:
        if not sb.own_root:
            pytest.skip("no root of its own here")
        # writable for anyone on the host: only the read-only mount stops the environment's uid
        code_dir.chmod(0o777)
        (code_dir / "handler.py").chmod(0o666)
        out, info, proc = await spawn_and_run(sb, spec(code_dir, script))
        assert info.returncode == 0, out.stderr
        assert out.stdout.split() == ["EROFS", "EROFS"]
        assert os.access(code_dir / "handler.py", os.W_OK)  # only the child's view is read-only
        await proc.cleanup()

    with_sandbox(tmp_path, body)


# ------------------------------------------------------------------------------ the reaper
REAPER_HELPER = """
import asyncio, json, os, sys
from pathlib import Path
sys.path.insert(0, {src!r})
from lambdabox.lambda_.sandbox import Sandbox, SandboxSpec

async def main():
    sb = Sandbox(Path({root!r}))
    await sb.start()
    escape = "1" if sb.own_root or sb.mode != "rlimit" else "0"
    env = {{"ESCAPE": escape, {marker_name!r}: {marker!r}}}
    proc = await sb.spawn(SandboxSpec([sys.executable, "-c", {child!r}], env,
                                      Path({code!r}), 128, 64, "reaper-test"))
    loop = asyncio.get_running_loop()
    line = loop.create_future()
    buf = bytearray()
    def readable():
        buf.extend(os.read(proc.stdout_fd, 4096))
        if b"\\n" in buf and not line.done():
            line.set_result(buf.decode().split()[:2])
    loop.add_reader(proc.stdout_fd, readable)
    await line
    print(json.dumps({{"mode": sb.mode, "pid": proc.pid, "own_root": sb.own_root,
                      "spawner": sb._channel.process.pid, "tmp": str(proc.tmp_dir),
                      "cgroups": [str(d) for d in (proc._cg.dirs if proc._cg else [])],
                      "parents": [str(d) for d in (sb._cgroups.parents if sb._cgroups else [])]}}),
          flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_reaper_kills_everything_when_the_server_is_sigkilled(tmp_path: Path, code_dir: Path) -> None:
    helper = tmp_path / "server.py"
    child = textwrap.dedent(GRANDCHILD)
    marker = uuid.uuid4().hex
    helper.write_text(
        REAPER_HELPER.format(
            src=str(SRC),
            root=str(tmp_path / "sandbox"),
            child=child,
            code=str(code_dir),
            marker_name=MARKER,
            marker=marker,
        )
    )
    server = subprocess.Popen([sys.executable, str(helper)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        state = json.loads(server.stdout.readline())
        # found from the host: the runtime, its two children and (with a root of its own) the init
        victims = host_pids_with_env(MARKER, marker)
        assert len(victims) == (4 if state["own_root"] else 3), victims
        assert state["pid"] in victims
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        assert wait_until(lambda: all(gone(p) for p in victims)), [p for p in victims if not gone(p)]
        assert wait_until(lambda: gone(state["spawner"]))
        assert not Path(state["tmp"]).exists()
        assert not any(Path(d).exists() for d in state["cgroups"] + state["parents"])
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_two_sandboxes_in_one_process_do_not_disturb_each_other(tmp_path: Path, code_dir: Path) -> None:
    async def main() -> None:
        async with sandbox(tmp_path / "a") as first:
            proc = await first.spawn(spec(code_dir, "print('ready', flush=True)\n" + PAUSE))
            out = Output(proc)
            await out.line()
            async with sandbox(tmp_path / "b") as second:
                _out2, info2, proc2 = await spawn_and_run(second, spec(code_dir, "pass"))
                assert info2.returncode == 0
                await proc2.cleanup()
            assert not gone(proc.pid)
            assert proc.returncode is None
            proc.kill()
            assert (await out.finish()).signal == "SIGKILL"
            await proc.cleanup()

    run(main())


# ------------------------------------------------------------------------------ extensions launcher
@ISOLATIONS
def test_the_extensions_launcher_in_each_isolation(
    tmp_path: Path, code_dir: Path, isolations: tuple[str, ...]
) -> None:
    """lambdabox's launcher (extension_launch.py) in the sandbox: the extension runs at once, writes
    to the extensions' own pipe and has its exit reported on the control socket; the runtime
    starts on "go", with /dev/null as stdin and neither the socket nor that pipe."""
    opt = Path(tempfile.mkdtemp(prefix="lbx-opt-", dir=code_dir.parent))
    (opt / "extensions").mkdir()
    ext = opt / "extensions" / "hello"
    ext.write_text('#!/bin/sh\necho "extension says hi"\necho "to its stderr" >&2\nexit 4\n')
    for p in (opt, opt / "extensions", ext):
        p.chmod(0o755)
    runtime = """
        import json, os, sys
        print(json.dumps({"stdin": os.readlink("/proc/self/fd/0"),
                          "fds": sorted(int(f) for f in os.listdir("/proc/self/fd"))}), flush=True)
    """

    async def body(sb: Sandbox) -> None:
        view = sb.view(code_dir, opt)
        assert view.opt is not None
        base = spec(code_dir, runtime)
        argv = ["/bin/sh", f"{view.runtime_dir}/{LAUNCHER}", f"{view.opt}/extensions", *base.argv]
        proc = await sb.spawn(dataclasses.replace(base, argv=argv, opt_dir=opt, control=True, runtime_at=3))
        assert proc.control is not None and proc.extensions_fd is not None
        loop = asyncio.get_running_loop()
        report = await asyncio.wait_for(loop.sock_recv(proc.control, 100), 10)
        assert report == b"exit 4 hello\n"
        os.set_blocking(proc.extensions_fd, True)
        assert os.read(proc.extensions_fd, 100) == b"extension says hi\nto its stderr\n"
        await loop.sock_sendall(proc.control, b"go\n")
        out = Output(proc)
        got = json.loads(await out.line())
        assert got["stdin"] == "/dev/null"
        assert set(got["fds"]) <= {0, 1, 2, 3}  # 3: listdir's own descriptor
        assert out.stderr == ""
        assert (await out.finish()) == ExitInfo(0, None, False)
        proc.control.close()
        os.close(proc.extensions_fd)
        await proc.cleanup()

    try:
        with_sandbox(tmp_path, body, isolations=isolations)
    finally:
        shutil.rmtree(opt, ignore_errors=True)
