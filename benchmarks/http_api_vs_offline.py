"""HTTP API benchmark: lambdabox against serverless-offline with the same Express 5 app.

Runs tests/apps/express-http (Express 5 + serverless-http) behind an HTTP API (payload 2.0) on a
fresh `lambdabox serve`, and the same app under serverless@3 + serverless-offline@13 (pinned in
benchmarks/reference/serverless-offline, installed here with `npm ci` if missing; defaults as a user
runs it). wrk drives `GET /hi/world` on 127.0.0.1 at c=1 and c=10, alternating which side goes
first in each round; prints JSON lines: each measurement, then medians over rounds, the ratios and
whether the targets (>= 1.5x throughput at c10, <= p99 at both) hold.

    python benchmarks/http_api_vs_offline.py [--rounds 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from invoke import ROLE, emit, lambda_client, machine, start_server

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "apps" / "express-http"
REF = Path(__file__).resolve().parent / "reference" / "serverless-offline"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def zip_dir(root: Path) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not path.is_symlink() and ".bin" not in rel.parts:
                zf.write(path, str(rel))
    return buf.getvalue()


def wrk(url: str, host: str | None, connections: int, seconds: int) -> dict[str, Any]:
    """One bounded wrk run (after a 2 s warm-up): requests/s, p50/p99 (ms), non-2xx count."""
    head = ["-H", f"Host: {host}"] if host else []
    threads = f"-t{min(2, connections)}"
    subprocess.run(["wrk", threads, f"-c{connections}", "-d2s", *head, url], capture_output=True, check=True)
    out = subprocess.run(
        ["wrk", threads, f"-c{connections}", f"-d{seconds}s", "--latency", *head, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    pct = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)$", out, re.M)
    }
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": round(rps, 1),
        "p50_ms": round(pct["50"], 3),
        "p99_ms": round(pct["99"], 3),
        "errors": int(errors.group(1)) if errors else 0,
    }


def start_offline() -> tuple[subprocess.Popen[bytes], str]:
    if not (REF / "node_modules" / "serverless-offline").is_dir():
        subprocess.run(  # its output on stderr: stdout carries only the JSON lines
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=warn"],
            cwd=REF,
            check=True,
            stdout=sys.stderr,
        )
    port, lambda_port = free_port(), free_port()
    env = {
        **os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
        "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off", "SLS_DEPRECATION_DISABLE": "*",
    }  # fmt: skip
    cmd = [str(REF / "node_modules" / ".bin" / "serverless"), "offline", "--noPrependStageInUrl",
           "--host", "127.0.0.1", "--httpPort", str(port), "--lambdaPort", str(lambda_port)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REF, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/hi/world"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("serverless-offline did not answer")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    if not (APP / "node_modules" / "express").is_dir():
        raise SystemExit("run scripts/install-test-tools.sh first (it installs tests/apps/express-http)")
    node = subprocess.run(["node", "-v"], capture_output=True, text=True).stdout.strip()
    emit({"bench": "machine", **machine(), "node": node, "wrk": shutil.which("wrk") is not None})
    tmp = Path(tempfile.mkdtemp(prefix="lbx-bench-"))
    lbx, url = start_server(tmp / "data")
    offline = None
    try:
        arn = lambda_client(url).create_function(
            FunctionName="bench-express", Runtime="nodejs20.x", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": zip_dir(APP)}, Timeout=30, MemorySize=256,
        )["FunctionArn"]  # fmt: skip
        gw = boto3.client("apigatewayv2", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
        api_id = gw.create_api(Name="bench", ProtocolType="HTTP", Target=arn)["ApiId"]
        port = url.rsplit(":", 1)[1]
        sides = {
            "lambdabox": (f"http://127.0.0.1:{port}/hi/world", f"{api_id}.execute-api.localhost:{port}"),
        }
        offline, offline_url = start_offline()
        sides["serverless_offline"] = (offline_url, None)
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for side in order:
                for c in (1, 10):
                    m = wrk(*sides[side], c, args.seconds)
                    runs.setdefault((side, c), []).append(m)
                    emit({"bench": "http_api_run", "round": r, "side": side, "connections": c, **m})
        med = {
            k: {f: statistics.median(m[f] for m in v) for f in ("rps", "p50_ms", "p99_ms")}
            for k, v in runs.items()
        }
        for (side, c), m in med.items():
            emit({"bench": "http_api_median", "side": side, "connections": c, **m, "rounds": args.rounds})
        tput = med[("lambdabox", 10)]["rps"] / med[("serverless_offline", 10)]["rps"]
        p99 = {c: med[("lambdabox", c)]["p99_ms"] / med[("serverless_offline", c)]["p99_ms"] for c in (1, 10)}
        emit({"bench": "http_api_vs_offline", "throughput_ratio_c10": round(tput, 2),
              "p99_ratio_c1": round(p99[1], 2), "p99_ratio_c10": round(p99[10], 2),
              "throughput_target_met": tput >= 1.5, "p99_target_met": all(v <= 1.0 for v in p99.values())})  # fmt: skip
    finally:
        for proc in (offline, lbx):
            if proc is not None:
                proc.terminate()
                proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
