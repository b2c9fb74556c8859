"""Response streaming: time to first byte and throughput, through boto3's invoke_with_response_stream
and through a RESPONSE_STREAM function URL over plain HTTP (warm Node.js streamifyResponse function).

- `ttfb`: the function writes a first piece, waits `--hold` ms, writes the rest and ends; the
  figures are the client's time to the first piece and to the end (first < end by about `--hold`:
  the bytes left while the function still ran);
- `throughput`: the function writes `--mb` MB in 64 KB pieces as fast as the stream takes them;
  MB/s as the client reads them (event-stream decoding by botocore included for the SDK form).

Starts its own `lambdabox serve` on a free loopback port with a throw-away data dir (or uses
--url); bounded by --rounds; prints one JSON line per measurement.

    python benchmarks/streaming.py [--rounds 20] [--hold 200] [--mb 16] [--url http://127.0.0.1:4566]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from invoke import ROLE, emit, lambda_client, machine, percentile, start_server, zip_of

NODE = """
exports.handler = awslambda.streamifyResponse(async (event, stream) => {
  const cmd = event.rawPath !== undefined ? JSON.parse(event.body || '{}') : event;
  stream.setContentType('application/octet-stream');
  if (cmd.mb) {
    const piece = Buffer.alloc(64 * 1024, 120);
    for (let i = 0; i < cmd.mb * 16; i++) {
      if (!stream.write(piece)) await new Promise((r) => stream.once('drain', r));
    }
  } else {
    stream.write('first');
    await new Promise((r) => setTimeout(r, cmd.hold));
    stream.write('rest');
  }
  stream.end();
});
"""


def _sdk(lam: Any, name: str, command: dict[str, Any]) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    first, size = None, 0
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=json.dumps(command))
    for event in resp["EventStream"]:
        if "PayloadChunk" in event:
            first = first or time.perf_counter()
            size += len(event["PayloadChunk"]["Payload"])
        elif event["InvokeComplete"].get("ErrorCode"):
            raise SystemExit(f"the stream failed: {event}")
    end = time.perf_counter()
    return ((first or end) - t0) * 1000, (end - t0) * 1000, size


def _url(server: str, url_id: str, command: dict[str, Any]) -> tuple[float, float, int]:
    parts = urlsplit(server)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        t0 = time.perf_counter()
        headers = {"Content-Type": "application/json"}
        conn.request("POST", f"/_urls/{url_id}/", body=json.dumps(command).encode(), headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            raise SystemExit(f"the URL answered {resp.status}: {resp.read()[:200]!r}")
        first, size = None, 0
        while piece := resp.read1(1 << 20):
            first = first or time.perf_counter()
            size += len(piece)
        end = time.perf_counter()
        return ((first or end) - t0) * 1000, (end - t0) * 1000, size
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--hold", type=int, default=200, help="ms the function waits after its first piece")
    ap.add_argument("--mb", type=int, default=16, help="MB streamed per throughput round (at most 20)")
    args = ap.parse_args()
    proc = None
    server = args.url
    if server is None:
        proc, server = start_server(Path(tempfile.mkdtemp(prefix="lbx-bench-")) / "data")
    try:
        lam = lambda_client(server)
        emit({"bench": "machine", **machine()})
        name = "bench-stream"
        lam.create_function(
            FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
            Code={"ZipFile": zip_of("index.js", NODE)}, Timeout=60, MemorySize=512,
        )  # fmt: skip
        cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM")
        url_id = str(cfg["FunctionUrl"]).split("//", 1)[1].split(".", 1)[0]
        forms = {
            "invoke_with_response_stream": lambda cmd: _sdk(lam, name, cmd),
            "function_url": lambda cmd: _url(server, url_id, cmd),
        }
        for run in forms.values():  # warm the environment and both paths
            run({"hold": 0})
        for form, run in forms.items():
            firsts, ends = [], []
            for _ in range(args.rounds):
                first, end, _size = run({"hold": args.hold})
                firsts.append(first)
                ends.append(end)
            emit(
                {
                    "bench": "ttfb", "form": form, "hold_ms": args.hold,
                    "first_byte_p50_ms": round(statistics.median(firsts), 2),
                    "first_byte_p90_ms": round(percentile(firsts, 90), 2),
                    "end_p50_ms": round(statistics.median(ends), 2), "rounds": args.rounds,
                }
            )  # fmt: skip
            rates = []
            for _ in range(max(3, args.rounds // 4)):
                _first, end, size = run({"mb": args.mb})
                assert size == args.mb * 1024 * 1024, size
                rates.append(size / (1024 * 1024) / (end / 1000))
            emit(
                {
                    "bench": "throughput", "form": form, "mb": args.mb,
                    "mb_per_s_p50": round(statistics.median(rates), 1),
                    "mb_per_s_min": round(min(rates), 1), "rounds": len(rates),
                }
            )  # fmt: skip
    finally:
        if proc is not None:
            proc.terminate()


if __name__ == "__main__":
    main()
