"""Qualified invoke benchmarks: warm latency (c=1) of one no-op Python function invoked unqualified,
as `$LATEST`, as version 1, through an alias and through a weighted alias (10 % to version 2),
alternating rounds so that the machine's drift falls on every form alike.

Starts its own `lambdabox serve` on a free loopback port with a throw-away data dir (or uses
--url) and prints one JSON line per form: what naming a version or an alias costs over the plain
name (resolving the qualifier, drawing the alias's split).

    python benchmarks/versions.py [--requests 2000] [--rounds 3] [--url http://127.0.0.1:4566]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from invoke import PY_NOOP, ROLE, emit, lambda_client, machine, start_server, warm_latency, zip_of

FORMS = {
    "unqualified": "bench-versions",
    "latest": "bench-versions:$LATEST",
    "version": "bench-versions:1",
    "alias": "bench-versions:live",
    "weighted_alias": "bench-versions:canary",
}


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
        name = FORMS["unqualified"]
        lam.create_function(
            FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": zip_of("app.py", PY_NOOP)}, Publish=True,
        )  # fmt: skip
        lam.update_function_configuration(FunctionName=name, Description="2")
        lam.publish_version(FunctionName=name)
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        lam.create_alias(
            FunctionName=name, Name="canary", FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
        )  # fmt: skip
        p50: dict[str, list[float]] = {form: [] for form in FORMS}
        p99: dict[str, list[float]] = {form: [] for form in FORMS}
        for _ in range(args.rounds):
            for form, target in FORMS.items():
                out = warm_latency(url, target.replace("$", "%24"), args.requests)
                p50[form].append(out["p50_ms"])
                p99[form].append(out["p99_ms"])
        for form in FORMS:
            emit(
                {
                    "bench": "warm_latency_c1",
                    "form": form,
                    "function_name": FORMS[form],
                    "p50_ms_median_of_rounds": statistics.median(p50[form]),
                    "p99_ms_median_of_rounds": statistics.median(p99[form]),
                    "p50_ms_rounds": p50[form],
                    "requests_per_round": args.requests,
                }
            )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
