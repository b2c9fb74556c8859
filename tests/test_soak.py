"""Soak checks: churn of execution environments leaves nothing behind in the server process.

Each test starts its own `lambdabox serve`, drives it with boto3 and measures the server from the
outside, through /proc and /sys/fs/cgroup: open descriptors, child processes, zombies, environment
cgroups and scratch dirs, resident memory. Linux only; bounded in count and time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, deploy, start_server, unique

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="measures the server through /proc"),
]


# ----------------------------------------------------------------------------- measuring
def _fd_kinds(pid: int) -> dict[str, int]:
    """The server's open descriptors by kind (socket, pipe, anon_inode, file)."""
    kinds: dict[str, int] = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        kind = target.split(":", 1)[0] if not target.startswith("/") else "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) of every process we can see."""
    out: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(entry)] = (int(fields[1]), fields[0])
    return out


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process below `pid` (the spawner, environments, their children)."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for p, (parent, _) in procs.items():
        children.setdefault(parent, []).append(p)
    out: list[tuple[int, str]] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append((child, procs[child][1]))
            todo.append(child)
    return out


def _env_cgroups(pid: int) -> list[str]:
    """Environment cgroups under this server's ``lambdabox-<pid>-N`` parents, in any hierarchy."""
    found: list[str] = []
    root = Path("/sys/fs/cgroup")
    if not root.is_dir():
        return found
    for dirpath, dirnames, _ in os.walk(root):
        for d in list(dirnames):
            if d.startswith(f"lambdabox-{pid}-"):
                parent = os.path.join(dirpath, d)
                found += [
                    os.path.join(parent, e)
                    for e in os.listdir(parent)
                    if os.path.isdir(os.path.join(parent, e))
                ]
                dirnames.remove(d)
        if dirpath.count(os.sep) > 8:
            dirnames[:] = []
    return found


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _footprint(srv: Server) -> dict[str, Any]:
    pid = srv.proc.pid
    envs = srv.data_dir / "sandbox" / "envs"
    desc = _descendants(pid)
    return {
        "fds": sum(_fd_kinds(pid).values()),
        "fd_kinds": _fd_kinds(pid),
        "descendants": len(desc),
        "zombies": sum(1 for _, state in desc if state == "Z"),
        "env_cgroups": len(_env_cgroups(pid)),
        "env_dirs": len(os.listdir(envs)) if envs.is_dir() else 0,
    }


def _settles(
    measure: Callable[[], dict[str, Any]], want: Callable[[dict[str, Any]], bool], limit: float
) -> dict[str, Any]:
    """Poll a measurement until it satisfies `want` (bounded; cleanup runs in the background)."""
    deadline = time.monotonic() + limit
    while True:
        got = measure()
        if want(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


# -------------------------------------------------------------------------------- tests
def test_environment_churn_leaves_nothing_behind(tmp_path: Path) -> None:
    """Cold starts, crashes, timeouts and a parallel burst, then every function deleted: the
    server is back to its footprint after its first Python cold start (descriptors, processes,
    cgroups, scratch dirs; that start brought the account's template and its spares, which stay)."""
    srv = start_server(tmp_path / "data")
    try:
        pid = srv.proc.pid
        lam = srv.client("lambda", max_pool_connections=16)

        def create(src: str, **kw: Any) -> str:
            return deploy(lam, {"app.py": src}, FunctionName=unique("soak"), **kw)

        def invoke(name: str) -> tuple[str | None, Any]:
            resp = lam.invoke(FunctionName=name, Payload=b"{}")
            return resp.get("FunctionError"), json.loads(resp["Payload"].read() or b"null")

        first = create("def handler(e, c):\n    return 1\n")
        assert invoke(first) == (None, 1)
        lam.delete_function(FunctionName=first)
        seen: list[dict[str, Any]] = []

        def steady(f: dict[str, Any]) -> bool:  # its environment gone, the spares all made
            seen.append(f)
            return f["env_cgroups"] == 0 and f["env_dirs"] == 0 and len(seen) >= 5 and seen[-5:] == [f] * 5

        base = _settles(lambda: _footprint(srv), steady, limit=15)
        assert base["env_cgroups"] == 0 and base["env_dirs"] == 0 and base["zombies"] == 0, base

        ok = create("import time\n\ndef handler(e, c):\n    time.sleep(0.1)\n    return 1\n", Timeout=30)
        crash = create("import os\n\ndef handler(e, c):\n    print('bye')\n    os._exit(1)\n")
        slow = create("import time\n\ndef handler(e, c):\n    time.sleep(5)\n", Timeout=1)

        for i in range(40):  # each invoke starts a new environment and retires the previous one
            lam.update_function_configuration(FunctionName=ok, Description=f"rev {i}")
            assert invoke(ok) == (None, 1)
        for _ in range(30):
            error, body = invoke(crash)
            assert error == "Unhandled" and body["errorType"] == "Runtime.ExitError", body
        with ThreadPoolExecutor(12) as pool:
            for error, body in pool.map(lambda _: invoke(slow), range(6)):
                assert error == "Unhandled" and body["errorType"] == "Sandbox.Timedout", body
            for _ in range(3):
                assert list(pool.map(lambda _: invoke(ok), range(12))) == [(None, 1)] * 12
        assert _footprint(srv)["env_cgroups"] > 0  # the burst left warm environments

        for name in (ok, crash, slow):
            lam.delete_function(FunctionName=name)
        lam.close()  # our keep-alive connections are server descriptors too

        def back(f: dict[str, Any]) -> bool:
            return all(f[k] <= base[k] for k in ("fds", "descendants", "env_cgroups", "env_dirs", "zombies"))

        after = _settles(lambda: _footprint(srv), back, limit=15)
        assert back(after), (
            f"server {pid} did not return to its start-up footprint:\nbefore {base}\nafter  {after}"
        )
    finally:
        srv.stop()


def test_warm_environment_does_not_keep_its_init_output(tmp_path: Path) -> None:
    """A function that prints a lot while it initialises: once its logs are stored, its warm
    environment must not keep that output in the server's memory. Eight warm environments, each
    with 12 MB of init output: the server's RSS must not grow by anything like 8 x 12 MB."""
    count, mb = 8, 12
    srv = start_server(tmp_path / "data")
    try:
        pid = srv.proc.pid
        lam, logs = srv.client("lambda"), srv.client("logs")
        src = (
            "import sys\n"
            f"for _ in range({mb} * 1024):\n"
            "    sys.stdout.write('i' * 1000 + '\\n')\n"
            "\n"
            "def handler(e, c):\n"
            "    return 1\n"
        )
        rss: list[float] = []
        for _ in range(count):  # one function each, so every environment stays warm
            name = deploy(lam, {"app.py": src}, FunctionName=unique("chatty"), Timeout=60)
            resp = lam.invoke(FunctionName=name, Payload=b"{}")
            assert "FunctionError" not in resp, resp["Payload"].read()
            logs.describe_log_groups()  # returns once the buffered log events are stored
            rss.append(_rss_mb(pid))
        growth = rss[-1] - rss[0]
        # measured: about 12 MB more per warm environment with the leak (85-105 MB in all), a few
        # MB of allocator noise without it; the bound sits well between the two
        assert growth < 3 * mb, f"RSS (MB) after each warm environment: {[round(r) for r in rss]}"
    finally:
        srv.stop()
