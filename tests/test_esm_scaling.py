"""SQS event source mappings scale their pollers as Lambda does, on the manual clock: five
concurrent batches to start with, five more a second while the queue has a backlog, back down to
five once it is dry, and never more concurrent invocations than the function's reserved
concurrency (raising it lets more run). Concurrency is observed through a function that waits at
a `Gate` until the test releases it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Gate, deploy, wait_until
from lambdabox.testing import LocalLambdabox

GATED = (
    "import json, socket\n\n"
    "def handler(event, context):\n"
    "    port = json.loads(event['Records'][0]['body'])['gate']\n"
    "    s = socket.create_connection(('127.0.0.1', port), timeout=120)\n"
    "    return s.makefile().readline().strip()\n"
)


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.close()


def _setup(lbx: LocalLambdabox, gate: Gate, messages: int) -> tuple[Any, Any, str, str, str]:
    """(sqs, lambda clients, queue url, queue arn, function name) with `messages` gated messages."""
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for start in range(0, messages, 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"gate": gate.port})}
            for i in range(min(10, messages - start))
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    name = deploy(lam, {"app.py": GATED}, Timeout=300)
    return sqs, lam, url, arn, name


def _in_flight(sqs: Any, url: str) -> tuple[int, int]:
    got = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(got["ApproximateNumberOfMessages"]), int(got["ApproximateNumberOfMessagesNotVisible"])


def test_pollers_scale_up_with_a_backlog_and_back_down_when_the_queue_is_dry(
    lbx: LocalLambdabox, gate: Gate
) -> None:
    sqs, lam, url, arn, name = _setup(lbx, gate, 12)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1)["UUID"]
    engine = lbx.app.event_sources
    gate.arrivals(5)  # five concurrent batches to start with
    assert engine.pollers_of(uuid) == 5 and _in_flight(sqs, url) == (7, 5)
    lbx.advance(1)  # every batch came back full: five more
    gate.arrivals(10)
    wait_until(lambda: engine.pollers_of(uuid) == 10)
    assert engine.in_flight == 10
    lbx.advance(1)  # still a backlog (two left): five more, of which two find a message
    gate.arrivals(12)
    wait_until(lambda: engine.pollers_of(uuid) == 15)
    gate.release()
    wait_until(lambda: _in_flight(sqs, url) == (0, 0))  # every batch done and deleted
    lbx.advance(20)  # the long polls come back empty: one poller fewer a second
    wait_until(lambda: lbx.advance(1) and engine.pollers_of(uuid) == 5)
    lbx.advance(30)
    assert engine.pollers_of(uuid) == 5  # never below where it started


def test_pollers_never_outnumber_the_reserved_concurrency(lbx: LocalLambdabox, gate: Gate) -> None:
    sqs, lam, url, arn, name = _setup(lbx, gate, 10)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1)["UUID"]
    engine = lbx.app.event_sources
    gate.arrivals(2)
    for _ in range(3):  # a backlog, but no more than two at once: nothing is received to be throttled
        lbx.advance(1)
        assert engine.pollers_of(uuid) == 2
    assert _in_flight(sqs, url) == (8, 2) and engine.in_flight == 2
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=4)
    lbx.advance(1)
    gate.arrivals(4)
    wait_until(lambda: engine.pollers_of(uuid) == 4)
    assert _in_flight(sqs, url) == (6, 4)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lbx.advance(1)
    wait_until(lambda: engine.pollers_of(uuid) == 0)  # a reservation of 0 stops them all
    gate.release()
    wait_until(lambda: _in_flight(sqs, url) == (6, 0))
    lbx.advance(5)
    assert _in_flight(sqs, url) == (6, 0)
