"""No acknowledged asynchronous event is lost on `kill -9`: events are sent (each 202 noted) while
the server is killed at a random moment, the server restarts on the same data directory, and every
acknowledged event runs (at least once). A run is proven by what the function itself stores
through the Logs API (PutLogEvents is acknowledged only once committed), not by its own log lines,
which a kill may cut short."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from conftest import deploy, start_server, wait_until

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


def proven(logs: object) -> set[int]:
    """The events the function proved it ran (`logs`: a boto3 logs client)."""
    seen: set[int] = set()
    token = None
    while True:
        kw = {"logGroupName": PROOF_GROUP, "logStreamName": "runs", "startFromHead": True}
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
    logs = srv.client("logs")
    logs.create_log_group(logGroupName=PROOF_GROUP)
    logs.create_log_stream(logGroupName=PROOF_GROUP, logStreamName="runs")
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
    srv.stop()
