"""HTTP API benchmarks: what the gateway adds over a raw Invoke of the same function.

Starts its own `lambdabox serve` (or uses --url), deploys a no-op Python function that answers a
2.0 response, puts an HTTP API in front of it (quick create) and measures warm latency at c=1 with
keep-alive http.client connections over loopback, interleaving the raw Invoke API, the API by its
path form (`/_apis/<id>/…`) and by host (`<id>.execute-api.localhost`), one request of each in
turn, and a raw Invoke carrying the very event the gateway sends (what a larger event costs by
itself). Prints one JSON line per form, and each form's added p50 over the plain raw Invoke
(median over rounds of the paired differences).

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
#: what the function returns when asked for its event
ECHO = (
    "def handler(event, context):\n    return {'statusCode': 200, 'body': __import__('json').dumps(event)}\n"
)


def interleaved(
    url: str, forms: dict[str, tuple[str, str, str | None, bytes]], n: int
) -> dict[str, list[float]]:
    """`n` requests of each form, one of each in turn on a keep-alive connection per form, so that
    the machine's drift falls on every form alike; the latency samples (ms) per form."""
    u = urlparse(url)
    conns = {form: http.client.HTTPConnection(u.hostname, u.port) for form in forms}
    samples: dict[str, list[float]] = {form: [] for form in forms}
    for i in range(n + 200):
        for form, (method, path, host, body) in forms.items():
            headers = {"Content-Type": "application/json", **({"Host": host} if host else {})}
            t0 = time.perf_counter()
            conns[form].request(method, path, body=body, headers=headers)
            resp = conns[form].getresponse()
            resp.read()
            if resp.status != 200:
                raise SystemExit(f"{method} {path}: {resp.status}")
            if i >= 200:  # warm-up excluded
                samples[form].append((time.perf_counter() - t0) * 1000)
    for conn in conns.values():
        conn.close()
    return samples


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
        # the event the gateway sends, to tell its own cost from the cost of a larger event
        echo_arn = lam.create_function(
            FunctionName="bench-gateway-echo", Runtime="python3.11", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": zip_of("app.py", ECHO)},
        )["FunctionArn"]  # fmt: skip
        echo_api = gw.create_api(Name="echo", ProtocolType="HTTP", Target=echo_arn)["ApiId"]
        u = urlparse(url)
        conn = http.client.HTTPConnection(u.hostname, u.port)
        conn.request(
            "GET", "/hello", body=b"{}", headers={"Host": f"{echo_api}.execute-api.localhost:{port}"}
        )
        event = conn.getresponse().read()
        conn.close()
        invoke_path = "/2015-03-31/functions/bench-gateway/invocations"
        forms = {
            "invoke": ("POST", invoke_path, None, b"{}"),
            "invoke_with_the_event": ("POST", invoke_path, None, event),
            "http_api_path": ("GET", f"/_apis/{api_id}/hello", None, b"{}"),
            "http_api_host": ("GET", "/hello", f"{api_id}.execute-api.localhost:{port}", b"{}"),
        }
        p50: dict[str, list[float]] = {f: [] for f in forms}
        p99: dict[str, list[float]] = {f: [] for f in forms}
        for _ in range(args.rounds):
            samples = interleaved(url, forms, args.requests)
            for form in forms:
                p50[form].append(round(percentile(samples[form], 50), 3))
                p99[form].append(round(percentile(samples[form], 99), 3))
        for form in forms:
            emit(
                {
                    "bench": "warm_latency_c1",
                    "form": form,
                    "p50_ms_median_of_rounds": statistics.median(p50[form]),
                    "p99_ms_median_of_rounds": statistics.median(p99[form]),
                    "p50_ms_rounds": p50[form],
                    "requests_per_round": args.requests,
                }
            )
        for form in ("invoke_with_the_event", "http_api_path", "http_api_host"):
            added = [round(g - i, 3) for g, i in zip(p50[form], p50["invoke"], strict=True)]
            emit({"bench": "gateway_added_p50_ms", "form": form, "median": statistics.median(added),
                  "rounds": added, "target": 0.15})  # fmt: skip
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
