"""SNS's delivery engine over a real store and the manual clock, its endpoints faked: a failing
service is retried by AWS's schedule (and the retry survives a restart), a client-side refusal
goes straight to the dead-letter queue, and attempts run out into it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lambdabox.clock import ManualClock
from lambdabox.sns import store as sql
from lambdabox.sns.engine import DeliveryEngine, Undeliverable
from lambdabox.sns.models import Published, Subscription, Topic
from lambdabox.store.db import Store

ACCOUNT, REGION = "123456789012", "us-east-1"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:t"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
SUB = f"{TOPIC}:1"


class Endpoints:
    """Fake SQS: `failures` failures (of `error`) of the subscribed queue, then it takes messages."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.sent: list[tuple[str, str]] = []
        self.tries = 0

    async def send_to_queue(self, arn: str, body: str, attributes: object, sender: str) -> None:
        if arn == QUEUE:
            self.tries += 1
            if self.tries <= self.failures:
                raise self.error
        self.sent.append((arn, body))

    async def invoke_async(self, arn: str, payload: bytes, topic_arn: str) -> None:
        raise AssertionError("no function is subscribed")


def _open(path: Path) -> Store:
    store = Store(path / "state.db")
    store.open()
    store.migrate("sns", sql.SCHEMA)
    return store


async def _settle(clock: ManualClock, engine: DeliveryEngine, seconds: float = 0.0) -> None:
    clock.advance(seconds)
    for _ in range(200):
        await asyncio.sleep(0.005)
        activity = engine.activity()
        if activity.running == 0 and activity.due == 0:
            return


async def _published(store: Store, clock: ManualClock, redrive: bool) -> None:
    attrs = {"RawMessageDelivery": "true"}
    if redrive:
        attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": DLQ})
    await store.write(sql.create_topic(Topic(REGION, ACCOUNT, "t", {}, {}, clock.now())))
    await store.write(
        sql.add_subscription(Subscription(SUB, TOPIC, ACCOUNT, "sqs", QUEUE, attrs, clock.now()))
    )
    message = Published("m-1", TOPIC, ACCOUNT, "hello", None, None, {}, clock.now())
    await store.write(sql.publish(message, [SUB], clock.now()))


def test_a_failing_service_is_retried_on_the_clock_and_across_a_restart(tmp_path: Path) -> None:
    async def run() -> None:
        clock = ManualClock()
        fake = Endpoints(failures=7, error=RuntimeError("service unavailable"))
        store = _open(tmp_path)
        await _published(store, clock, redrive=False)
        engine = DeliveryEngine(store, clock, "http://x", fake.send_to_queue, fake.invoke_async)
        await engine.start()
        await _settle(clock, engine)
        assert fake.tries == 4 and not fake.sent  # the first attempt and 3 immediate retries
        await _settle(clock, engine, 1.0)
        assert fake.tries == 5
        await _settle(clock, engine, 1.0)
        assert fake.tries == 6  # pre-backoff done; the backoff starts at 1 s
        await engine.close()
        store.close()

        store = _open(tmp_path)  # the delivery, its attempts and due time survive
        (owed,) = await store.read(sql.load_deliveries)
        assert owed.attempts == 6
        engine = DeliveryEngine(store, clock, "http://x", fake.send_to_queue, fake.invoke_async)
        await engine.start()
        await _settle(clock, engine, 1.0)
        assert fake.tries == 7 and not fake.sent
        await _settle(clock, engine, 2.0)  # the second backoff step is longer than 1 s
        assert fake.sent == [(QUEUE, "hello")]
        assert await store.read(sql.load_deliveries) == []
        await engine.close()
        store.close()

    asyncio.run(run())


def test_a_client_side_refusal_goes_straight_to_the_dead_letter_queue(tmp_path: Path) -> None:
    async def run() -> None:
        clock = ManualClock()
        fake = Endpoints(failures=1, error=Undeliverable("gone"))
        store = _open(tmp_path)
        await _published(store, clock, redrive=True)
        engine = DeliveryEngine(store, clock, "http://x", fake.send_to_queue, fake.invoke_async)
        await engine.start()
        await _settle(clock, engine)
        assert fake.tries == 1 and fake.sent == [(DLQ, "hello")]  # as the queue would have had it
        assert await store.read(sql.load_deliveries) == []
        await engine.close()
        store.close()

    asyncio.run(run())


def test_a_delivery_out_of_attempts_goes_to_the_dead_letter_queue(tmp_path: Path) -> None:
    async def run() -> None:
        clock = ManualClock()
        fake = Endpoints(failures=10**9, error=RuntimeError("down"))
        store = _open(tmp_path)
        await _published(store, clock, redrive=True)
        (owed,) = await store.read(sql.load_deliveries)
        await store.write(sql.reschedule(owed.id, 100_014, clock.now()))  # the last attempt is next
        engine = DeliveryEngine(store, clock, "http://x", fake.send_to_queue, fake.invoke_async)
        await engine.start()
        await _settle(clock, engine)
        assert fake.tries == 1 and fake.sent == [(DLQ, "hello")]
        await engine.close()
        store.close()

    asyncio.run(run())


def test_http_delivery_policies_schedule_retries_by_their_phases() -> None:
    from lambdabox.sns.delivery_policy import http_retry_delay

    # AWS's default for HTTP/S: 3 retries, 20 s apart
    assert [http_retry_delay(None, n) for n in range(1, 5)] == [20.0, 20.0, 20.0, None]
    policy = json.dumps(
        {"healthyRetryPolicy": {"numRetries": 8, "numNoDelayRetries": 1, "numMinDelayRetries": 2,
                                "numMaxDelayRetries": 1, "minDelayTarget": 2, "maxDelayTarget": 32,
                                "backoffFunction": "exponential"}}
    )  # fmt: skip
    delays = [http_retry_delay(policy, n) for n in range(1, 10)]
    assert delays[:3] == [0.0, 2.0, 2.0]  # at once, then the pre-backoff phase
    assert delays[3:7] == [4.0, 8.0, 16.0, 32.0]  # backing off to the maximum
    assert delays[7:] == [32.0, None]  # the post-backoff phase, then no retries left
    # a topic's policy: its http part
    topic = json.dumps({"http": {"defaultHealthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 5,
                                                               "maxDelayTarget": 5}}})  # fmt: skip
    assert [http_retry_delay(topic, n) for n in (1, 2)] == [5.0, None]
