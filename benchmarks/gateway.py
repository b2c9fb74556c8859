"""HTTP API benchmarks: what the gateway adds over a raw Invoke of the same function.

Starts its own `lambdabox serve` (or uses --url), deploys a no-op Python function that answers a
2.0 response, puts an HTTP API in front of it (quick create) and measures warm latency at c=1 with
a keep-alive http.client over loopback, alternating rounds of: the raw Invoke API, the API by its
path form (`/_apis/<id>/…`) and by host (`<id>.execute-api.localhost`). Prints one JSON line per
form, and the gateway's added p50 (median over rounds of the paired differences).

    python benchmarks/gateway.py [--requests 2000] [--rounds 3] [--url http://127.0.0.1:4566]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import boto3

from invoke import ROLE, emit, lambda_client, machine, percentile, start_server, zip_of

HELLO = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'hello'}\n"


def latency(url: str, method: str, path: str, n: int, host: str | None = None) -> dict[str, float]:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    headers = {"Content-Type": "application/json", **({"Host": host} if host else {})}
    samples: list[float] = []
    for i in range(n + 200):
        t0 = time.perf_counter()
        conn.request(method, path, body=b"{}", headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"{method} {path}: {resp.status}")
        if i >= 200:  # warm-up excluded
            samples.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return {"p50_ms": round(percentile(samples, 50), 3), "p99_ms": round(percentile(samples, 99), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(Path(tempfile.mkdtemp(prefix="lbx-bench-")) / "data")
    try:
        lam = lambda_client(url)
        emit({"bench": "machine", **machine()})
        arn = lam.create_function(
            FunctionName="bench-gateway", Runtime="python3.11", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": zip_of("app.py", HELLO)},
        )["FunctionArn"]  # fmt: skip
        gw = boto3.client(
            "apigatewayv2", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip
        api_id = gw.create_api(Name="bench", ProtocolType="HTTP", Target=arn)["ApiId"]
        port = urlparse(url).port
        forms = {
            "invoke": ("POST", "/2015-03-31/functions/bench-gateway/invocations", None),
            "http_api_path": ("GET", f"/_apis/{api_id}/hello", None),
            "http_api_host": ("GET", "/hello", f"{api_id}.execute-api.localhost:{port}"),
        }
        rounds: dict[str, list[dict[str, float]]] = {f: [] for f in forms}
        for _ in range(args.rounds):
            for form, (method, path, host) in forms.items():
                rounds[form].append(latency(url, method, path, args.requests, host))
        for form in forms:
            emit(
                {
                    "bench": "warm_latency_c1",
                    "form": form,
                    "p50_ms_median_of_rounds": statistics.median(r["p50_ms"] for r in rounds[form]),
                    "p99_ms_median_of_rounds": statistics.median(r["p99_ms"] for r in rounds[form]),
                    "p50_ms_rounds": [r["p50_ms"] for r in rounds[form]],
                    "requests_per_round": args.requests,
                }
            )
        for form in ("http_api_path", "http_api_host"):
            added = [g["p50_ms"] - i["p50_ms"] for g, i in zip(rounds[form], rounds["invoke"], strict=True)]
            emit({"bench": "gateway_added_p50_ms", "form": form, "median": round(statistics.median(added), 3),
                  "rounds": [round(a, 3) for a in added], "target": 0.15})  # fmt: skip
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
