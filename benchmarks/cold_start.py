"""Cold-start benchmarks: a new environment's first invoke, a burst of first invokes, and density.

Starts its own `lambdabox serve` on a free loopback port with a throw-away data dir (as root, for
full isolation) and prints one JSON line per measurement:

- ``cold_start``: a no-op function's first invoke after its configuration changed (so a new
  environment starts; 50 ms after the change, so that the retired environment's teardown is not
  measured with it), end to end through boto3, p50/p90/max over `--rounds`; for python3.11
  with ``--cold-start template`` (the default) and ``spawn``, and for nodejs20.x.
- ``burst``: `--burst` concurrent first invokes of one function with no environment yet (each
  needs an environment of its own: the handler waits for all of them to arrive): wall time
  until the last answer.
- ``density``: `--density` idle warm Python environments held at once (`--density 0` skips it):
  the PSS of all their processes summed (smaps_rollup), per environment and in total, and the
  server's own RSS.

    sudo python benchmarks/cold_start.py [--rounds 40] [--burst 100] [--density 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from invoke import machine, zip_of  # benchmarks/invoke.py: run from this directory or as a script

ROLE = "arn:aws:iam::000000000000:role/bench"
#: seconds between UpdateFunctionConfiguration and the invoke that cold-starts: the previous
#: environment is retired (SIGTERM, cgroup and scratch removed) in the background meanwhile
SETTLE = 0.05
PY_NOOP = "def handler(event, context):\n    return None\n"
NODE_NOOP = "exports.handler = async () => null;\n"
#: waits (bounded) at a loopback barrier until `n` invocations have arrived, so that each of a
#: burst's or a fleet's invocations holds an environment of its own
PY_GATHER = """
import socket

def handler(event, context):
    s = socket.create_connection(("127.0.0.1", event["port"]), timeout=60)
    s.settimeout(120)
    s.recv(1)
    s.close()
    return None
"""


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))], 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdabox", "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--idle-timeout", "3600", "--concurrency-limit", "5000", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, url
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("lambdabox did not start")


def client(url: str, pool: int = 10) -> Any:
    return boto3.client(
        "lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=300, max_pool_connections=pool),
    )  # fmt: skip


def cold_starts(lam: Any, runtime: str, rounds: int) -> dict[str, Any]:
    fname, handler, src = ("index.js", "index.handler", NODE_NOOP) if runtime.startswith("node") else (
        "app.py", "app.handler", PY_NOOP)  # fmt: skip
    name = f"cold-{runtime.replace('.', '-')}-{time.monotonic_ns()}"
    lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                        Code={"ZipFile": zip_of(fname, src)}, MemorySize=128)  # fmt: skip
    lam.invoke(FunctionName=name)  # the function's role session, its code unpacked: not per cold start
    samples: list[float] = []
    for i in range(rounds):
        lam.update_function_configuration(FunctionName=name, Description=f"round {i}")
        time.sleep(SETTLE)  # the retired environment's teardown is not this cold start's
        t0 = time.perf_counter()
        resp = lam.invoke(FunctionName=name)
        samples.append((time.perf_counter() - t0) * 1000)
        assert "FunctionError" not in resp
    return {"p50_ms": pct(samples, 50), "p90_ms": pct(samples, 90), "max_ms": round(max(samples), 2),
            "rounds": rounds}  # fmt: skip


class Barrier:
    """A loopback listener: lets everyone go once `n` have connected (or after `limit` seconds)."""

    def __init__(self, n: int, limit: float) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
        self.port = int(self.listener.getsockname()[1])
        self.n, self.limit = n, limit
        self.conns: list[socket.socket] = []
        self.all_arrived = threading.Event()
        self.release = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        self.listener.settimeout(1)
        deadline = time.monotonic() + self.limit
        while len(self.conns) < self.n and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self.conns.append(self.listener.accept()[0])
        self.all_arrived.set()
        self.release.wait(self.limit)
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.sendall(b"x")
                c.close()
        self.listener.close()


async def _invoke_all(url: str, name: str, payload: bytes, n: int, started: list[float]) -> list[int]:
    """`n` concurrent Invokes on `n` connections opened first (plain HTTP: the client's own cost
    stays out of the figure); their HTTP statuses, 0 for a function error."""
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"POST /2015-03-31/functions/{name}/invocations HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    conns = [await asyncio.open_connection(host, int(port)) for _ in range(n)]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
        await reader.readexactly(length)
        writer.close()
        return 0 if b"x-amz-function-error" in head.lower() else status

    started.append(time.perf_counter())
    return list(await asyncio.gather(*(one(r, w) for r, w in conns)))


def gather(url: str, name: str, n: int, measure: Any = None) -> dict[str, Any]:
    """`n` concurrent first invokes of `name`, each held at a barrier until all have arrived (so
    each has an environment of its own); `measure()` runs while they are all held. Wall time from
    sending the invokes to the last answer."""
    barrier = Barrier(n, 300.0)
    started: list[float] = []
    out: dict[str, Any] = {}
    box: dict[str, Any] = {}
    payload = json.dumps({"port": barrier.port}).encode()
    runner = threading.Thread(
        target=lambda: box.update(r=asyncio.run(_invoke_all(url, name, payload, n, started)))
    )
    runner.start()
    barrier.all_arrived.wait(300)
    out["arrived"] = len(barrier.conns)
    if started:
        out["all_arrived_s"] = round(time.perf_counter() - started[0], 3)
    if measure is not None:
        out.update(measure())
    barrier.release.set()
    runner.join(300)
    out["ok"] = sum(1 for status in box.get("r", []) if status == 200)
    out["wall_s"] = round(time.perf_counter() - started[0], 3) if started else None
    return out


def env_pids(function: str | None = None, uid_lo: int = 993_000, uid_hi: int = 993_000 + 2048) -> list[int]:
    """Host pids of environments' processes (full mode: their uids), pid-1 inits included; only
    those of `function` (its environments' cgroups are named after it) when given."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            st = os.stat(f"/proc/{entry}")
            if not uid_lo <= st.st_uid < uid_hi:
                continue
            if function is not None and f"/{function}-" not in Path(f"/proc/{entry}/cgroup").read_text():
                continue
            pids.append(int(entry))
    return pids


def pss_kb(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--density", type=int, default=1000)
    ap.add_argument("--modes", default="template,spawn")
    args = ap.parse_args()
    emit({"bench": "machine", **machine()})
    tmp = Path(tempfile.mkdtemp(prefix="lbx-cold-"))
    try:
        for mode in args.modes.split(","):
            proc, url = start_server(tmp / f"data-{mode}", "--cold-start", mode)
            try:
                lam = client(url)
                time.sleep(1.0)  # the template starts in the background: not part of a cold start
                runtimes = ["python3.11"] + (
                    ["nodejs20.x"] if shutil.which("node") and mode == "template" else []
                )
                for runtime in runtimes:
                    emit({"bench": "cold_start", "mode": mode if runtime.startswith("python") else "spawn",
                          "runtime": runtime, **cold_starts(lam, runtime, args.rounds)})  # fmt: skip
                if args.burst:
                    name = f"burst-{mode}"
                    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                        Code={"ZipFile": zip_of("app.py", PY_GATHER)}, MemorySize=128, Timeout=120)  # fmt: skip
                    got = gather(url, name, args.burst)
                    emit(
                        {
                            "bench": "burst",
                            "mode": mode,
                            "runtime": "python3.11",
                            "first_invokes": args.burst,
                            **got,
                        }
                    )
                if args.density and mode == "template":
                    density(url, lam, proc, args.density)
            finally:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(60)
                if proc.poll() is None:
                    proc.kill()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def density(url: str, lam: Any, proc: subprocess.Popen[str], n: int) -> None:
    name = "density"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": zip_of("app.py", PY_GATHER)}, MemorySize=128, Timeout=300)  # fmt: skip
    gather(url, name, n)  # n environments, each served one invoke: now idle and warm
    time.sleep(2.0)
    pids = env_pids(name)
    total = sum(pss_kb(p) for p in pids)
    cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
    time.sleep(3.0)  # the server's own CPU while it holds them all idle (reaper, listeners)
    idle_cpu = (_cpu_s(proc.pid) - cpu0) / (time.monotonic() - t0) * 100
    emit({"bench": "density", "runtime": "python3.11", "environments": n, "processes": len(pids),
          "server_idle_cpu_pct": round(idle_cpu, 2),
          "pss_total_mb": round(total / 1024, 1), "pss_per_env_mb": round(total / 1024 / max(n, 1), 3),
          "template_pss_mb": round(sum(pss_kb(p) for p in _templates()) / 1024, 1),
          "server_rss_mb": round(rss_kb(proc.pid) / 1024, 1)})  # fmt: skip
    # and a warm invoke of each still works, served by the same fleet
    t0 = time.perf_counter()
    got = gather(url, name, n)
    emit({"bench": "density_warm_round", "environments": n, "ok": got["ok"], "wall_s": round(time.perf_counter() - t0, 3),
          "processes_after": len(env_pids(name))})  # fmt: skip


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _templates() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if b"lambdabox.lambda_.sandbox.template" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
    return found


if __name__ == "__main__":
    main()
