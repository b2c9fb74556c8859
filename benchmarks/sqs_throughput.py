"""SQS end-to-end throughput: send + receive + delete of 1 KB messages in batches of 10, as boto3
shapes them (the JSON protocol: SendMessageBatch, ReceiveMessage MaxNumberOfMessages=10,
DeleteMessageBatch), against lambdabox and, with --moto, against moto in server mode, measured the
same way in the same run.

The load generator is wrk (C, keep-alive loopback connections) with a Lua script, so it is not
what bounds the figure: producers replay one pre-encoded SendMessageBatch request; consumers send
ReceiveMessage and, for the receipt handles each answer carries, DeleteMessageBatch (built per
answer). Requests carry a SigV4 Authorization header computed once per request template (the
delete bodies change, so theirs are stale: neither lambdabox without --verify-signatures nor moto
checks signatures). Every send lambdabox acknowledges is committed to its store first (group
commit), so the figure is of durable messages. End to end = messages deleted per second while
producers and consumers run together; the queue is then drained and counted so that nothing sent
is missing (`lost`: acknowledged sends neither deleted, nor left, nor among the deletes wrk sent
but stopped before reading the answer to, `unanswered_deletes`).

    python benchmarks/sqs_throughput.py [--seconds 10] [--producers 4] [--consumers 8] [--moto]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).parent))
from invoke import emit, machine, start_server

BODY_BYTES = 1024

LUA_COMMON = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local totals = {}
  for _, t in ipairs(threads) do
    for _, k in ipairs({"sent", "received", "deleting", "deleted", "errors"}) do
      totals[k] = (totals[k] or 0) + (t:get(k) or 0)
    end
  end
  io.write(string.format('COUNTS {"sent": %d, "received": %d, "deleting": %d, "deleted": %d, "errors": %d}\n',
    totals.sent, totals.received, totals.deleting, totals.deleted, totals.errors))
end
sent, received, deleting, deleted, errors = 0, 0, 0, 0, 0
"""

LUA_PRODUCER = r"""
local req = nil
function init(args)
  req = wrk.format("POST", "/", HEADERS, BODY)
end
function request()
  return req
end
function response(status, headers, body)
  if status ~= 200 then errors = errors + 1 return end
  for _ in body:gmatch('"MessageId"') do sent = sent + 1 end
end
"""

LUA_CONSUMER = r"""
local pending = {}
local receive = nil
function init(args)
  receive = wrk.format("POST", "/", RECV_HEADERS, RECV_BODY)
end
function request()
  local n = #pending
  if n > 0 then
    local entries = {}
    for i = 1, math.min(10, n) do
      deleting = deleting + 1
      entries[i] = '{"Id":"' .. i .. '","ReceiptHandle":"' .. table.remove(pending) .. '"}'
    end
    local body = '{"QueueUrl":"' .. QUEUE_URL .. '","Entries":[' .. table.concat(entries, ",") .. ']}'
    return wrk.format("POST", "/", DEL_HEADERS, body)
  end
  return receive
end
function response(status, headers, body)
  if status ~= 200 then errors = errors + 1 return end
  local ok = body:find('"Successful"', 1, true)
  if ok then
    local failed = body:find('"Failed"', 1, true)
    local section = body:sub(ok, failed and failed > ok and failed or #body)
    for _ in section:gmatch('"Id"') do deleted = deleted + 1 end
  else
    for h in body:gmatch('"ReceiptHandle"%s*:%s*"([^"]+)"') do
      pending[#pending + 1] = h
      received = received + 1
    end
  end
end
"""


def _lua_string(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal for these contents


def _lua_headers(headers: dict[str, str]) -> str:
    return "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()) + "}"


def signed_headers(url: str, target: str, body: str) -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=body.encode(),
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{target}"},
    )
    SigV4Auth(Credentials("test", "test"), "sqs", "us-east-1").add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower() != "content-length"}


def scripts(url: str, queue_url: str, workdir: Path) -> tuple[Path, Path]:
    payload = "x" * BODY_BYTES
    send_body = json.dumps(
        {"QueueUrl": queue_url, "Entries": [{"Id": str(i), "MessageBody": payload} for i in range(10)]},
        separators=(",", ":"),
    )
    recv_body = json.dumps(
        {"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}, separators=(",", ":")
    )
    producer = workdir / "producer.lua"
    producer.write_text(
        LUA_COMMON
        + f"HEADERS = {_lua_headers(signed_headers(url, 'SendMessageBatch', send_body))}\n"
        + f"BODY = {_lua_string(send_body)}\n"
        + LUA_PRODUCER
    )
    consumer = workdir / "consumer.lua"
    consumer.write_text(
        LUA_COMMON
        + f"QUEUE_URL = {_lua_string(queue_url)}\n"
        + f"RECV_HEADERS = {_lua_headers(signed_headers(url, 'ReceiveMessage', recv_body))}\n"
        + f"RECV_BODY = {_lua_string(recv_body)}\n"
        + f"DEL_HEADERS = {_lua_headers(signed_headers(url, 'DeleteMessageBatch', '{}'))}\n"
        + LUA_CONSUMER
    )
    return producer, consumer


def _wrk(script: Path, url: str, connections: int, seconds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url + "/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _counts(output: str) -> dict[str, int]:
    for line in output.splitlines():
        if line.startswith("COUNTS "):
            return {k: int(v) for k, v in json.loads(line[len("COUNTS ") :]).items()}
    raise RuntimeError("wrk printed no counts:\n" + output)


def sqs_client(url: str) -> Any:
    return boto3.client(
        "sqs", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 2}, read_timeout=60),
    )  # fmt: skip


#: the queue's visibility timeout: messages a consumer held when wrk stopped are back after it
VISIBILITY = 5


def drain(sqs: Any, queue_url: str) -> int:
    """Receive and delete what is left, including what consumers held when they stopped (back
    after the visibility timeout); how many messages that was."""
    left = 0
    until = time.time() + VISIBILITY + 2
    while True:
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        )
        messages = got.get("Messages", [])
        if not messages:
            if time.time() > until:
                break
            continue
        left += len(messages)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return left


def run(name: str, url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    sqs = sqs_client(url)
    queue_url = sqs.create_queue(
        QueueName=f"bench-{int(time.time() * 1000)}", Attributes={"VisibilityTimeout": str(VISIBILITY)}
    )["QueueUrl"]
    producer, consumer = scripts(url, queue_url, workdir)
    start = time.perf_counter()
    procs = [
        _wrk(producer, url, args.producers, args.seconds),
        _wrk(consumer, url, args.consumers, args.seconds),
    ]
    outputs = [p.communicate(timeout=args.seconds + 60)[0] for p in procs]
    elapsed = time.perf_counter() - start
    sent, consumed = _counts(outputs[0]), _counts(outputs[1])
    left = drain(sqs, queue_url)
    # deletes wrk sent but whose answer it did not read before it stopped may have been carried
    # out: only what even those cannot account for is lost
    unanswered = consumed["deleting"] - consumed["deleted"]
    missing = sent["sent"] - consumed["deleted"] - left
    return {
        "benchmark": "sqs_send_receive_delete",
        "target": name,
        "seconds": round(elapsed, 2),
        "batch": 10,
        "message_bytes": BODY_BYTES,
        "producer_connections": args.producers,
        "consumer_connections": args.consumers,
        "sent": sent["sent"],
        "received": consumed["received"],
        "deleted": consumed["deleted"],
        "errors": sent["errors"] + consumed["errors"],
        "left_after": left,
        "unanswered_deletes": unanswered,
        "lost": max(0, missing - unanswered),
        "sent_per_s": round(sent["sent"] / args.seconds),
        "end_to_end_per_s": round(consumed["deleted"] / args.seconds),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(python: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return proc, url
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--consumers", type=int, default=8)
    parser.add_argument(
        "--moto", action="store_true", help="also measure moto in server mode (pip install 'moto[server]')"
    )
    parser.add_argument(
        "--moto-python", default=sys.executable, help="the Python that has moto (a venv of its own)"
    )
    parser.add_argument("--url", help="a running lambdabox instead of starting one")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    emit({"machine": machine()})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.url:
            emit(run("lambdabox", args.url, args, work))
        else:
            proc, url = start_server(work / "data")
            try:
                emit(run("lambdabox", url, args, work))
            finally:
                proc.terminate()
                proc.wait(30)
        if args.moto:
            moto, moto_url = start_moto(args.moto_python)
            try:
                emit(run("moto", moto_url, args, work))
            finally:
                moto.terminate()
                moto.wait(30)


if __name__ == "__main__":
    main()
