"""Asynchronous invocation: accepted events per second (InvocationType Event, each answered 202
only once committed in the store) and the accept latency, driven by wrk on loopback keep-alive
connections; the synchronous c=10 invoke rate of the same no-op function beside it for scale.

    python benchmarks/async_invoke.py [--seconds 5] [--connections 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from invoke import ROLE, emit, lambda_client, machine, start_server, wrk, zip_of

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
SCRIPT = (
    'wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n'
    'wrk.headers["X-Amz-Invocation-Type"] = "Event"\n'
)


def accept_rate(url: str, name: str, connections: int, seconds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(SCRIPT)
    target = f"{url}/2015-03-31/functions/{name}/invocations"
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", f.name, target]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    pct = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)$", out, re.M)
    }
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "accepted_per_s": round(rps, 1), "p50_ms": pct.get("50"), "p99_ms": pct.get("99"),
        "non_202": int(errors.group(1)) if errors else 0, "connections": connections, "seconds": seconds,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=10)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (apt-get install wrk)")
    emit({"bench": "machine", **machine()})
    tmp = Path(tempfile.mkdtemp(prefix="lbx-async-"))
    proc, url = start_server(tmp / "data")
    try:
        lam = lambda_client(url)
        code = zip_of("app.py", "def handler(event, context):\n    return None\n")
        lam.create_function(FunctionName="noop", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": code})  # fmt: skip
        lam.invoke(FunctionName="noop")  # warm
        emit({"bench": "sync_invoke_c10", **wrk(url, "noop", 10, args.seconds)})
        emit({"bench": "async_accept", **accept_rate(url, "noop", args.connections, args.seconds)})
    finally:
        proc.terminate()
        proc.wait(120)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
