"""No acknowledged asynchronous event is lost on `kill -9`: events are sent (each 202 noted) while
the server is killed at a random moment, the server restarts on the same data directory, and every
acknowledged event runs (at least once), and its OnSuccess destination (another function) gets
its invocation record (at least once). A run is proven by what the functions themselves store
through the Logs API (PutLogEvents is acknowledged only once committed), not by their own log
lines, which a kill may cut short."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from conftest import Gate, deploy, start_server, wait_until

PROOF_GROUP = "/lambdabox-test/async-proof"
PROVES = {
    "app.py": (
        "import time, boto3\n"
        "logs = boto3.client('logs')\n"
        "def handler(event, context):\n"
        f"    logs.put_log_events(logGroupName='{PROOF_GROUP}', logStreamName='runs',\n"
        "        logEvents=[{'timestamp': int(time.time() * 1000), 'message': str(event['n'])}])\n"
        "    return event['n']\n"
    )
}


#: the OnSuccess destination: proves it got the record of event n
RECORDS = {
    "app.py": (
        "import time, boto3\n"
        "logs = boto3.client('logs')\n"
        "def handler(event, context):\n"
        "    assert event['requestContext']['condition'] == 'Success', event\n"
        f"    logs.put_log_events(logGroupName='{PROOF_GROUP}', logStreamName='records',\n"
        "        logEvents=[{'timestamp': int(time.time() * 1000),\n"
        "                    'message': str(event['requestPayload']['n'])}])\n"
    )
}


def proven(logs: object, stream: str = "runs") -> set[int]:
    """The events the function proved it ran, or (stream "records") whose destination record
    arrived (`logs`: a boto3 logs client)."""
    seen: set[int] = set()
    token = None
    while True:
        kw = {"logGroupName": PROOF_GROUP, "logStreamName": stream, "startFromHead": True}
        if token:
            kw["nextToken"] = token
        page = logs.get_log_events(**kw)  # type: ignore[attr-defined]
        seen |= {int(e["message"]) for e in page["events"]}
        if page.get("nextForwardToken") in (None, token):
            return seen
        token = page["nextForwardToken"]


@pytest.mark.slow
def test_every_acknowledged_event_runs_after_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    lam = srv.client("lambda")
    name = deploy(lam, PROVES, Timeout=30)
    recorder = deploy(lam, RECORDS, Timeout=30)
    recorder_arn = lam.get_function(FunctionName=recorder)["Configuration"]["FunctionArn"]
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": recorder_arn}}
    )
    logs = srv.client("logs")
    logs.create_log_group(logGroupName=PROOF_GROUP)
    for stream in ("runs", "records"):
        logs.create_log_stream(logGroupName=PROOF_GROUP, logStreamName=stream)
    acknowledged: set[int] = set()
    rng = random.Random()
    n = 0
    for _round in range(3):
        stop = threading.Event()

        def send(client: object, start: int, stop: threading.Event = stop) -> None:
            i = start
            while not stop.is_set() and i < start + 10_000:
                try:
                    got = client.invoke(  # type: ignore[attr-defined]
                        FunctionName=name, InvocationType="Event", Payload=f'{{"n": {i}}}'.encode()
                    )
                except (BotoCoreError, ClientError, OSError):
                    return  # the server is gone: what was not answered 202 was not acknowledged
                if got["StatusCode"] == 202:
                    acknowledged.add(i)
                i += 1

        senders = [
            threading.Thread(target=send, args=(srv.client("lambda"), n + k * 10_000)) for k in range(2)
        ]
        for t in senders:
            t.start()
        time.sleep(rng.uniform(0.3, 1.5))  # a random moment of sustained load (not a semantic delay)
        srv.stop(signal.SIGKILL)
        stop.set()
        for t in senders:
            t.join(30)
        n += 20_000
        srv = start_server(data)  # the same data directory: what was acknowledged runs now
        logs = srv.client("logs")
    assert len(acknowledged) > 20, "the load did not get going"
    wait_until(lambda: acknowledged <= proven(logs), limit=300)
    wait_until(lambda: acknowledged <= proven(logs, "records"), limit=300)
    srv.stop()


#: fails once the test lets it go on (it waits at a Gate first, so a kill can find it running)
GATED_FAILURE = {
    "app.py": (
        "import socket\n\n"
        "def handler(event, context):\n"
        "    s = socket.create_connection(('127.0.0.1', event['gate']), timeout=60)\n"
        "    s.makefile().readline()\n"
        "    raise RuntimeError('still failing')\n"
    )
}
#: the OnFailure destination: stores each record's requestContext
CONTEXTS = {
    "app.py": (
        "import json, time, boto3\n"
        "logs = boto3.client('logs')\n"
        "def handler(event, context):\n"
        f"    logs.put_log_events(logGroupName='{PROOF_GROUP}', logStreamName='failures',\n"
        "        logEvents=[{'timestamp': int(time.time() * 1000),\n"
        "                    'message': json.dumps(event['requestContext'])}])\n"
    )
}


@pytest.mark.slow
def test_an_attempt_cut_short_by_kill_9_runs_again_and_the_count_goes_on(tmp_path: Path) -> None:
    import json

    from lambdabox.testing import LambdaboxProcess

    data = tmp_path / "data"
    gate = Gate()
    srv = LambdaboxProcess(data).start()
    try:
        lam = srv.client("lambda")
        name = deploy(lam, GATED_FAILURE, Timeout=60)
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        recorder = deploy(lam, CONTEXTS, Timeout=30)
        recorder_arn = lam.get_function(FunctionName=recorder)["Configuration"]["FunctionArn"]
        lam.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnFailure": {"Destination": recorder_arn}}
        )
        logs = srv.client("logs")
        logs.create_log_group(logGroupName=PROOF_GROUP)
        logs.create_log_stream(logGroupName=PROOF_GROUP, logStreamName="failures")
        sent = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"gate": gate.port}))
        request_id = sent["ResponseMetadata"]["RequestId"]
        gate.arrivals(1)  # the first attempt is running ...
        srv.stop(signal.SIGKILL)  # ... when the server dies
        gate.release()
        srv = LambdaboxProcess(data).start()
        gate.arrivals(1)  # the first attempt, again: it never ended
        gate.release()
        srv.settle()
        for delay in (60, 120):  # AWS's retry delays
            srv.advance(delay)
            gate.arrivals(1)
            gate.release()
            srv.settle()
        page = srv.client("logs").get_log_events(
            logGroupName=PROOF_GROUP, logStreamName="failures", startFromHead=True
        )
        records = [json.loads(e["message"]) for e in page["events"]]
        assert records == [
            {
                "requestId": request_id,
                "functionArn": f"{arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            }
        ]
    finally:
        srv.stop()
        gate.close()
