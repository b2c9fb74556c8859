"""What provisioned concurrency, layers and an extension cost or save on the first invocation of a
new version of a no-op Python function (end to end through boto3, c=1):

- `on_demand`: a new version invoked at once (a cold start: its Init Duration in REPORT);
- `provisioned`: a new version with provisioned concurrency 1 on an alias, invoked once the
  configuration is READY (no init on the request path);
- `two_layers`: an on-demand cold start of a function with two layers (its merged /opt built at the
  first start of that layer list, then shared);
- `extension`: an on-demand cold start of a function whose layer carries an external extension
  (a small Python one that registers for INVOKE and calls next).

Starts its own `lambdabox serve` on a free loopback port with a throw-away data dir (or uses
--url) and prints one JSON line per form, rounds alternating so that drift falls on each alike.

    python benchmarks/provisioned.py [--rounds 15] [--url http://127.0.0.1:4566]
"""

from __future__ import annotations

import argparse
import base64
import io
import re
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from invoke import PY_NOOP, ROLE, emit, lambda_client, machine, percentile, start_server, zip_of

EXTENSION = """#!/usr/bin/env python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(api + "/register", data=json.dumps({"events": ["INVOKE"]}).encode(),
                             headers={"Lambda-Extension-Name": "bench-ext"}, method="POST")
ident = urllib.request.urlopen(req).headers["Lambda-Extension-Identifier"]
while True:
    urllib.request.urlopen(urllib.request.Request(api + "/event/next",
                           headers={"Lambda-Extension-Identifier": ident})).read()
"""


def _zip(files: dict[str, tuple[str, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (text, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, text)
    return buf.getvalue()


def _first_invoke(lam: Any, target: str) -> tuple[float, float | None]:
    t0 = time.perf_counter()
    out = lam.invoke(FunctionName=target, LogType="Tail")
    ms = (time.perf_counter() - t0) * 1000
    m = re.search(r"Init Duration: ([\d.]+) ms", base64.b64decode(out["LogResult"]).decode())
    return ms, float(m.group(1)) if m else None


def _new_version(lam: Any, name: str, i: int) -> str:
    lam.update_function_configuration(FunctionName=name, Description=f"round {i}")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    return str(lam.publish_version(FunctionName=name)["Version"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(Path(tempfile.mkdtemp(prefix="lbx-bench-")) / "data")
    try:
        lam = lambda_client(url)
        emit({"bench": "machine", **machine()})
        code = {"ZipFile": zip_of("app.py", PY_NOOP)}
        libs = [
            lam.publish_layer_version(
                LayerName=f"bench-lib{n}",
                Content={"ZipFile": _zip({f"python/lib{n}.py": ("X = 1\n", 0o644)})},
            )["LayerVersionArn"]
            for n in (1, 2)
        ]
        ext = lam.publish_layer_version(
            LayerName="bench-ext", Content={"ZipFile": _zip({"extensions/bench-ext": (EXTENSION, 0o755)})}
        )["LayerVersionArn"]
        layers = {"on_demand": [], "provisioned": [], "two_layers": libs, "extension": [ext]}
        for form, arns in layers.items():
            lam.create_function(
                FunctionName=f"bench-{form}", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                Code=code, Layers=arns, Timeout=30,
            )  # fmt: skip
        lam.create_alias(
            FunctionName="bench-provisioned",
            Name="live",
            FunctionVersion=_new_version(lam, "bench-provisioned", -1),
        )
        results: dict[str, list[float]] = {form: [] for form in layers}
        inits: dict[str, list[float]] = {form: [] for form in layers}
        for i in range(args.rounds):
            for form in layers:
                name = f"bench-{form}"
                version = _new_version(lam, name, i)
                target = f"{name}:{version}"
                if form == "provisioned":
                    lam.update_alias(FunctionName=name, Name="live", FunctionVersion=version)
                    lam.put_provisioned_concurrency_config(
                        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
                    )
                    while (
                        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")["Status"]
                        != "READY"
                    ):
                        time.sleep(0.01)
                    target = f"{name}:live"
                ms, init = _first_invoke(lam, target)
                results[form].append(ms)
                if init is not None:
                    inits[form].append(init)
                if form == "provisioned":
                    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
        for form in layers:
            emit(
                {
                    "bench": "first_invoke_of_a_new_version",
                    "form": form,
                    "p50_ms": round(statistics.median(results[form]), 1),
                    "p90_ms": round(percentile(results[form], 90), 1),
                    "init_duration_p50_ms": round(statistics.median(inits[form]), 1) if inits[form] else None,
                    "rounds": args.rounds,
                }
            )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
