"""Hot reload: time from saving a source file to the first request served by the new code.

Copies examples/express-http-api to a temporary directory, runs `lambdabox up --watch` on it,
then N times: rewrites app.js with a new greeting and polls GET /hello (every 5 ms) until the new
greeting answers. Prints a JSON line per save and one with min/median/max (target: <= 1 s).

    python benchmarks/hot_reload.py [--saves 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from invoke import emit, machine

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "express-http-api"
GREETING = "Hello from Express on lambdabox"


def get(url: str) -> bytes:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", u.path)
        return conn.getresponse().read()
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--saves", type=int, default=5)
    args = ap.parse_args()
    if not (EXAMPLE / "node_modules" / "express").is_dir():
        raise SystemExit("run `make tools` first (it installs the example's node_modules)")
    emit({"bench": "machine", **machine()})
    tmp = Path(tempfile.mkdtemp(prefix="lbx-reload-"))
    project = tmp / "app"
    shutil.copytree(EXAMPLE, project, symlinks=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdabox", "up", "-f", str(project / "serverless.yml"), "--port", "0",
         "--data-dir", str(tmp / "data"), "--watch", "--json"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        api = None
        for line in proc.stdout:
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "endpoint":
                api = str(event["by_path"]).rstrip("/")
            if event.get("event") == "watching":
                break
        if api is None:
            raise SystemExit("lambdabox up did not deploy the example")
        get(f"{api}/hello")  # warm
        app = project / "app.js"
        source = app.read_text()
        times = []
        for i in range(args.saves):
            word = f"Reloaded {i}"
            t0 = time.monotonic()
            app.write_text(source.replace(GREETING, word))
            deadline = t0 + 30
            while word.encode() not in get(f"{api}/hello"):
                if time.monotonic() > deadline:
                    raise SystemExit(f"save {i}: the new code did not answer within 30 s")
                time.sleep(0.005)
            ms = (time.monotonic() - t0) * 1000
            times.append(ms)
            emit({"bench": "hot_reload_save", "save": i, "save_to_serving_ms": round(ms, 1)})
            time.sleep(1.0)  # the next save is a separate one
        emit({"bench": "hot_reload", "saves": len(times), "min_ms": round(min(times), 1),
              "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
              "target_met": max(times) <= 1000})  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
