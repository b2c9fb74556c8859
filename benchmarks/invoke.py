"""Invoke benchmarks: warm latency (c=1), throughput (c=10), cold start, idle RSS and PSS per environment.

Starts its own `lambdabox serve` on a free loopback port with a throw-away data dir (or uses
--url), deploys no-op Python and Node.js functions and prints one JSON line per measurement.
The HTTP client is a plain keep-alive loopback client, so figures are "client to response":
Python's http.client for latency, and wrk (`apt-get install wrk`) for latency and throughput
when it is installed (a Python aiohttp client otherwise).

    python benchmarks/invoke.py [--requests 3000] [--seconds 5] [--url http://127.0.0.1:4566]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import boto3
from botocore.config import Config

ROLE = "arn:aws:iam::000000000000:role/bench"
PY_NOOP = "def handler(event, context):\n    return None\n"
PY_PID = "import os\n\ndef handler(event, context):\n    return os.getpid()\n"
NODE_NOOP = "exports.handler = async () => null;\n"
NODE_PID = "exports.handler = async () => process.pid;\n"


def zip_of(name: str, src: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, src)
    return buf.getvalue()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


WRK_SCRIPT = 'wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n'
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, name: str, connections: int, seconds: float) -> dict[str, Any]:
    """Drive the invoke URL with wrk (a C load generator), if installed: less client overhead than Python."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
    target = f"{url}/2015-03-31/functions/{name}/invocations"
    args = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        f.name,
        target,
    ]
    subprocess.run([*args[:3], "-d1s", *args[4:]], capture_output=True, check=True)  # warm-up
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    pct = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)$", out, re.M)
    }
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "client": "wrk",
        "p50_ms": round(pct["50"], 3) if "50" in pct else None,
        "p99_ms": round(pct["99"], 3) if "99" in pct else None,
        "invokes_per_s": round(rps, 1),
        "errors": int(errors.group(1)) if errors else 0,
        "connections": connections,
        "seconds": seconds,
    }


def warm_latency(url: str, name: str, n: int) -> dict[str, float]:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    path = f"/2015-03-31/functions/{name}/invocations"
    headers = {"Content-Type": "application/json"}
    samples: list[float] = []
    for i in range(n + 200):
        t0 = time.perf_counter()
        conn.request("POST", path, body=b"{}", headers=headers)
        resp = conn.getresponse()
        resp.read()
        dt = time.perf_counter() - t0
        if resp.status != 200:
            raise SystemExit(f"invoke failed: {resp.status}")
        if i >= 200:  # warm-up excluded
            samples.append(dt * 1000)
    conn.close()
    return {
        "client": "python http.client",
        "p50_ms": round(percentile(samples, 50), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "mean_ms": round(statistics.fmean(samples), 3),
        "requests": n,
    }


async def throughput(url: str, name: str, concurrency: int, seconds: float) -> dict[str, float]:
    path = f"{url}/2015-03-31/functions/{name}/invocations"
    done = 0
    errors = 0
    stop_at = 0.0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop_at:
            async with session.post(path, data=b"{}") as resp:
                await resp.read()
                if resp.status == 200:
                    done += 1
                else:
                    errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        stop_at = time.perf_counter() + 1.0  # warm-up: start `concurrency` environments
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        done = errors = 0
        t0 = time.perf_counter()
        stop_at = t0 + seconds
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {
        "invokes_per_s": round(done / elapsed, 1),
        "errors": errors,
        "concurrency": concurrency,
        "seconds": seconds,
    }


def cold_starts(lam: Any, name: str, rounds: int) -> dict[str, float]:
    samples: list[float] = []
    inits: list[float] = []
    for i in range(rounds):
        lam.update_function_configuration(FunctionName=name, Description=f"round {i}")
        t0 = time.perf_counter()
        resp = lam.invoke(FunctionName=name, LogType="Tail")
        samples.append((time.perf_counter() - t0) * 1000)
        import base64

        tail = base64.b64decode(resp["LogResult"]).decode()
        m = re.search(r"Init Duration: ([\d.]+) ms", tail)
        if m:
            inits.append(float(m.group(1)))
    return {
        "first_invoke_p50_ms": round(percentile(samples, 50), 1),
        "first_invoke_max_ms": round(max(samples), 1),
        "init_duration_p50_ms": round(percentile(inits, 50), 1) if inits else -1,
        "rounds": rounds,
    }


def _env_pids(runtime_pid: int) -> list[int]:
    """Every host process that belongs to the environment whose runtime is `runtime_pid`: all
    processes of its pid namespace when it has one (its init/reaper included), else its tree."""
    ns = os.readlink(f"/proc/{runtime_pid}/ns/pid")
    if ns != os.readlink("/proc/self/ns/pid"):
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                        pids.append(int(entry))
        return pids
    out, todo = [], [runtime_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                todo.extend(int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
    return out


def _kb(path: str, field: str) -> int:
    with contextlib.suppress(OSError), open(path) as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _runtime_pid(marker: str) -> int:
    """The host pid of the process whose environment holds `marker` (pids inside a pid
    namespace are not the host's, so the function reports a marker, not its pid)."""
    needle = f"LBX_BENCH_MARKER={marker}".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    return int(entry)
    raise SystemExit(f"no process carries {marker}")


def idle_rss(lam: Any, name: str) -> dict[str, float]:
    marker = f"{name}-{os.getpid()}-{time.time_ns()}"
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"LBX_BENCH_MARKER": marker}}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.invoke(FunctionName=name)
    time.sleep(0.5)
    pids = _env_pids(_runtime_pid(marker))
    rss = max(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)  # the runtime, not its init
    return {
        "idle_rss_mb": round(rss / 1024, 1),
        "idle_pss_mb": round(sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids) / 1024, 1),
        "processes": len(pids),
    }


def lambda_client(url: str) -> Any:
    """A boto3 Lambda client for the server at `url`: no retries, a long read timeout."""
    return boto3.client(
        "lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=60),
    )  # fmt: skip


def start_server(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambdabox",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--log-level",
            "WARNING",
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"ready on (http://\S+)", line)
        if m:
            return proc, m.group(1)
    raise SystemExit("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--cold-rounds", type=int, default=15)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lbx-bench-"))
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(tmp / "data")
    try:
        lam = lambda_client(url)
        emit({"bench": "machine", **machine()})
        suites = [("python3.11", "app.py", "app.handler", PY_NOOP, PY_PID)]
        if shutil.which("node"):
            suites.append(("nodejs20.x", "index.js", "index.handler", NODE_NOOP, NODE_PID))
        for runtime, fname, handler, noop, pid_src in suites:
            tag = runtime.rstrip(".x")
            for suffix, src in (("noop", noop), ("pid", pid_src)):
                lam.create_function(
                    FunctionName=f"bench-{tag.replace('.', '-')}-{suffix}", Runtime=runtime, Role=ROLE, Handler=handler,
                    Code={"ZipFile": zip_of(fname, src)}, MemorySize=128,
                )  # fmt: skip
            noop_name = f"bench-{tag.replace('.', '-')}-noop"
            pid_name = f"bench-{tag.replace('.', '-')}-pid"
            emit(
                {
                    "bench": "warm_latency_c1",
                    "runtime": runtime,
                    **warm_latency(url, noop_name, args.requests),
                }
            )
            if shutil.which("wrk"):
                emit({"bench": "warm_latency_c1", "runtime": runtime, **wrk(url, noop_name, 1, args.seconds)})
                emit({"bench": "throughput_c10", "runtime": runtime, **wrk(url, noop_name, 10, args.seconds)})
            else:
                tput = asyncio.run(throughput(url, noop_name, 10, args.seconds))
                emit({"bench": "throughput_c10", "runtime": runtime, **tput})
            emit({"bench": "cold_start", "runtime": runtime, **cold_starts(lam, pid_name, args.cold_rounds)})
            emit({"bench": "idle_rss", "runtime": runtime, **idle_rss(lam, pid_name)})
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
