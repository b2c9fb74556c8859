"""SQS latency benchmarks: long-poll wake-up (a SendMessage to a queue a ReceiveMessage is waiting
on, until that receive returns the message) and SQS → Lambda delivery through an event source
mapping (a message's SentTimestamp until the function is running with it, as the function itself
reads the wall clock).

Starts its own `lambdabox serve` on a free loopback port with a throw-away data dir, prints one
JSON line per measurement (p50, p99, max in milliseconds). Bounded: --rounds messages each.

    python benchmarks/sqs_latency.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).parent))
from invoke import ROLE, emit, lambda_client, machine, percentile, start_server, zip_of

RECORDS_LATENCY = """
import json, time

def handler(event, context):
    now = time.time() * 1000
    for r in event["Records"]:
        print("LAG %.3f" % (now - float(json.loads(r["body"])["sent"])))
    return None
"""


def sqs_client(url: str) -> Any:
    return boto3.client(
        "sqs", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=60),
    )  # fmt: skip


def summary(name: str, ms: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "benchmark": name,
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "max_ms": round(max(ms), 3),
        **extra,
    }


def long_poll_wakeup(url: str, rounds: int) -> dict[str, Any]:
    """One thread waits in ReceiveMessage (WaitTimeSeconds 20); the main thread sends once the
    waiter is in its wait; the time from the send's start to the receive's return."""
    sender, receiver = sqs_client(url), sqs_client(url)
    queue = sender.create_queue(QueueName="wakeup")["QueueUrl"]
    lags: list[float] = []
    for _ in range(rounds):
        got: dict[str, float] = {}

        def wait(got: dict[str, float] = got) -> None:
            out = receiver.receive_message(QueueUrl=queue, WaitTimeSeconds=20, MaxNumberOfMessages=1)
            got["at"] = time.perf_counter()
            for m in out.get("Messages", []):
                receiver.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.02)  # the receive is waiting by now (a send before it only makes it faster)
        start = time.perf_counter()
        sender.send_message(QueueUrl=queue, MessageBody="x")
        t.join(30)
        if "at" in got:
            lags.append((got["at"] - start) * 1000)
    return summary("sqs_long_poll_wakeup", lags)


def esm_delivery(url: str, rounds: int) -> dict[str, Any]:
    """Messages sent one at a time to a mapped queue; each record's lag as the function measures
    it (its wall clock minus the send time the message carries), read back from its logs."""
    sqs, lam = sqs_client(url), lambda_client(url)
    logs = boto3.client(
        "logs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    queue = sqs.create_queue(QueueName="mapped")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_function(
        FunctionName="lag", Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": zip_of("app.py", RECORDS_LATENCY)},
    )  # fmt: skip
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="lag", BatchSize=1)
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"sent": time.time() * 1000}))  # the cold start
    time.sleep(2)
    first = _lags(logs)
    for _ in range(rounds):
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"sent": time.time() * 1000}))
        time.sleep(0.02)
    deadline = time.time() + 60
    while time.time() < deadline and len(_lags(logs)) < len(first) + rounds:
        time.sleep(0.5)
    lags = _lags(logs)[len(first) :]
    return summary("sqs_to_lambda_delivery", lags, note="warm environment, BatchSize 1, messages 20 ms apart")


def _lags(logs: Any) -> list[float]:
    out: list[float] = []
    kwargs: dict[str, Any] = {"logGroupName": "/aws/lambda/lag", "filterPattern": '"LAG "'}
    while True:
        try:
            page = logs.filter_log_events(**kwargs)
        except logs.exceptions.ResourceNotFoundException:
            return out
        out += [float(e["message"].split("LAG ", 1)[1]) for e in page["events"]]
        if not page.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextToken"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    emit({"machine": machine()})
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "data")
        try:
            emit(long_poll_wakeup(url, args.rounds))
            emit(esm_delivery(url, args.rounds))
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
