"""What `--verify-signatures` costs: the check on its own, and a warm invoke with and without it.

Prints JSON lines: `verify_check` times `check_signature` on a typical signed Invoke request in
this process (µs per call); `warm_invoke_signed` runs two servers alternately — one plain, one with
`--verify-signatures` — and replays one SigV4-signed Invoke request (valid for 15 minutes, as on
AWS) over a keep-alive connection, p50/p99 of each, in alternating blocks so the machine's drift
hits both alike.

    python benchmarks/signatures.py [--requests 2000] [--blocks 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from multidict import CIMultiDict

from invoke import PY_NOOP, ROLE, emit, machine, percentile, start_server, zip_of
from lambdabox.aws.sigv4 import parse_caller
from lambdabox.aws.verify import SignedRequest, check_signature


def sign(url: str, body: bytes) -> dict[str, str]:
    """Headers of a botocore-signed POST to `url` (what boto3 sends for Invoke)."""
    req = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("test", "test"), "lambda", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def check_cost(n: int) -> dict[str, float]:
    url = "http://127.0.0.1:4566/2015-03-31/functions/bench/invocations"
    body = b'{"hello": "world"}' * 20
    headers = CIMultiDict(sign(url, body))
    headers["Host"] = "127.0.0.1:4566"
    caller = parse_caller(headers, {})
    req = SignedRequest("POST", urlparse(url).path, "", headers, body)
    wall = dt.datetime.now(dt.UTC).timestamp()
    keys: dict[tuple[str, str, str, str], bytes] = {}
    check_signature(caller, req, "test", wall, keys)  # raises if it does not hold
    t0 = time.perf_counter()
    for _ in range(n):
        check_signature(caller, req, "test", wall, keys)
    return {"us_per_check": round((time.perf_counter() - t0) / n * 1e6, 1), "checks": n}


def replay(url: str, name: str, n: int) -> list[float]:
    u = urlparse(url)
    path = f"/2015-03-31/functions/{name}/invocations"
    headers = sign(f"{url}{path}", b"{}")
    conn = http.client.HTTPConnection(u.hostname, u.port)
    samples = []
    for i in range(n + 100):
        t0 = time.perf_counter()
        conn.request("POST", path, body=b"{}", headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"invoke failed: {resp.status}")
        if i >= 100:
            samples.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--blocks", type=int, default=4)
    args = ap.parse_args()
    emit({"bench": "machine", **machine()})
    emit({"bench": "verify_check", **check_cost(5000)})
    tmp = Path(tempfile.mkdtemp(prefix="lbx-sig-"))
    servers = {}
    try:
        for label, extra in (("plain", ()), ("verified", ("--verify-signatures",))):
            proc, url = start_server(tmp / label, *extra)
            lam = boto3.client(
                "lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}),
            )  # fmt: skip
            lam.create_function(
                FunctionName="noop", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                Code={"ZipFile": zip_of("app.py", PY_NOOP)},
            )  # fmt: skip
            servers[label] = (proc, url)
        samples: dict[str, list[float]] = {"plain": [], "verified": []}
        for _ in range(args.blocks):
            for label, (_, url) in servers.items():
                samples[label] += replay(url, "noop", args.requests // args.blocks)
        for label, values in samples.items():
            emit(
                {
                    "bench": "warm_invoke_signed",
                    "server": label,
                    "p50_ms": round(percentile(values, 50), 3),
                    "p99_ms": round(percentile(values, 99), 3),
                    "requests": len(values),
                }
            )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
