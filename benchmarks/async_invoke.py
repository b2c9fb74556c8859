"""Asynchronous invocation (InvocationType Event, each answered 202 only once committed in the
store), driven by wrk on loopback keep-alive connections against a no-op function:

- `async_accept_alone`: accepted events/s and accept latency with the dispatcher paused
  (`--async-dispatch paused`: events are stored, none run), i.e. the acceptance path alone;
- `async_sustained`: accepted and executed events/s while both happen (wrk for --seconds, then
  until the queue is empty), as a share of the synchronous c=10 invoke rate measured first;
- `async_burst`: a burst of at least --burst events as fast as they are accepted (wrk runs of 5 s
  until that many were), then the time the backlog takes to drain, and whether every accepted
  event ran (START lines in the logs).

    python benchmarks/async_invoke.py [--seconds 5] [--connections 10] [--burst 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from invoke import ROLE, emit, lambda_client, machine, start_server, wrk, zip_of

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
SCRIPT = (
    'wrk.method = "POST"\nwrk.body = "{}"\nwrk.headers["Content-Type"] = "application/json"\n'
    'wrk.headers["X-Amz-Invocation-Type"] = "Event"\n'
)

#: the wrk runs a burst is made of (wrk has no request count: a stopped thread still waits out -d)
BURST_CHUNK_S = 5


def accept_rate(url: str, name: str, connections: int, seconds: int, script: str = SCRIPT) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    target = f"{url}/2015-03-31/functions/{name}/invocations"
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", f.name, target]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    pct = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)$", out, re.M)
    }
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non_202 = int(errors.group(1)) if errors else 0
    return {
        "accepted_per_s": round(rps, 1), "p50_ms": pct.get("50"), "p99_ms": pct.get("99"),
        "accepted": total - non_202, "non_202": non_202, "connections": connections, "seconds": seconds,
    }  # fmt: skip


def queue_state(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_lambdabox/health", timeout=30) as r:
        return dict(json.load(r)["async"])


def drain(url: str, limit: float = 1800.0) -> float:
    """Seconds until nothing is queued or running (bounded)."""
    start = time.monotonic()
    while True:
        state = queue_state(url)
        if state["queued"] == 0 and state["running"] == 0:
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            raise SystemExit(f"the queue did not drain in {limit} s: {state}")
        time.sleep(0.05)


def started(lam: Any, name: str) -> int:
    """Distinct request ids with a START line in the function's logs."""
    ids: set[str] = set()
    client = boto_logs(lam)
    kw: dict[str, Any] = {"logGroupName": f"/aws/lambda/{name}", "filterPattern": '"START RequestId"'}
    while True:
        page = client.filter_log_events(**kw)
        ids.update(e["message"].split()[2] for e in page["events"])
        if not page.get("nextToken"):
            return len(ids)
        kw["nextToken"] = page["nextToken"]


def boto_logs(lam: Any) -> Any:
    import boto3

    return boto3.client(
        "logs", endpoint_url=lam.meta.endpoint_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--burst", type=int, default=50_000)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (apt-get install wrk)")
    emit({"bench": "machine", **machine()})
    code = zip_of("app.py", "def handler(event, context):\n    return None\n")

    def noop(url: str, name: str) -> Any:
        lam = lambda_client(url)
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": code})  # fmt: skip
        lam.invoke(FunctionName=name)  # warm
        return lam

    tmp = Path(tempfile.mkdtemp(prefix="lbx-async-"))
    try:
        proc, url = start_server(tmp / "paused", "--async-dispatch", "paused")
        try:
            noop(url, "noop")
            emit({"bench": "async_accept_alone", **accept_rate(url, "noop", args.connections, args.seconds)})
        finally:
            proc.terminate()
            proc.wait(120)
        proc, url = start_server(tmp / "data")
        try:
            lam = noop(url, "noop")
            sync = wrk(url, "noop", 10, args.seconds)
            emit({"bench": "sync_invoke_c10", **sync})
            t0 = time.monotonic()
            accepted = accept_rate(url, "noop", args.connections, args.seconds)
            waited = drain(url)
            rate = accepted["accepted"] / (time.monotonic() - t0)
            emit({
                "bench": "async_sustained", **accepted, "drain_after_s": round(waited, 2),
                "executed_per_s": round(rate, 1), "share_of_sync_c10": round(rate / sync["invokes_per_s"], 3),
            })  # fmt: skip
            noop(url, "burst")
            t0 = time.monotonic()
            chunks = []
            while sum(c["accepted"] for c in chunks) < args.burst:
                chunks.append(accept_rate(url, "burst", args.connections, BURST_CHUNK_S))
            accepted_total = sum(c["accepted"] for c in chunks)
            burst = {
                "accepted": accepted_total,
                "accepted_per_s": round(accepted_total / (BURST_CHUNK_S * len(chunks)), 1),
                "p99_ms": max(c["p99_ms"] or 0.0 for c in chunks),
            }
            waited = drain(url)
            # less the synchronous warm-up; wrk does not count the answers still on the way when a
            # run ends, so more may have been accepted (and run) than it counted
            ran = started(lam, "burst") - 1
            emit({
                "bench": "async_burst", "accepted": burst["accepted"], "accepted_per_s": burst["accepted_per_s"],
                "accept_p99_ms": burst["p99_ms"], "drained_in_s": round(time.monotonic() - t0, 2),
                "drain_after_accept_s": round(waited, 2), "executed": ran, "lost": max(0, burst["accepted"] - ran),
            })  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(120)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
