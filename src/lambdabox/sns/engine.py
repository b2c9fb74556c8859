"""Delivers published messages: each delivery row (store.py) to its subscription's endpoint, at
least once, recovering every undelivered row from the store on start.

Queues and functions are reached only through the callables app.py hands in: `send_to_queue(
queue_arn, body, attributes, sender_account)` and `invoke_async(function_arn, payload, topic_arn)`; HTTP/S
endpoints through `post(url, body, headers)` (http_post.py: loopback only). As SNS does, a
delivery that fails on the endpoint's side of the wire (the queue or function is gone, or refuses
the sender: LookupError, PermissionError, `Undeliverable`; a URL lambdabox may not reach) is not
retried; any other failure is retried on the clock: by AWS's delivery policy for AWS-managed
endpoints (3 times at once, 2 times 1 s apart, 10 times backing off from 1 s to 20 s, then every
20 s, 100,015 attempts in all), and for HTTP/S by the subscription's or topic's DeliveryPolicy,
else AWS's default (3 retries 20 s apart) — an HTTP/S endpoint failed when it does not answer in
15 s or answers outside 200-499. A delivery that is not retried or runs out of attempts goes to
the subscription's dead-letter queue (its RedrivePolicy) as the endpoint would have received it,
else it is dropped (logged). Confirmations (SubscriptionConfirmation, UnsubscribeConfirmation)
are sent and retried the same way, never to a dead-letter queue.

A FIFO topic's message goes to a FIFO queue with its MessageGroupId and MessageDeduplicationId
(to a standard queue without them), and the deliveries of one subscription and message group are
made one at a time, in the order they were published: a delivery being retried holds back the
group's later ones (its lane), never the other groups'.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol
from urllib.parse import urlsplit

from lambdabox.clock import Clock
from lambdabox.dispatch import Activity, Dispatcher
from lambdabox.sns import envelopes, http_post
from lambdabox.sns import store as sql
from lambdabox.sns.delivery_policy import http_retry_delay, request_content_type
from lambdabox.sns.envelopes import Envelopes
from lambdabox.sns.models import (
    NOTIFICATION,
    UNSUBSCRIBE_CONFIRMATION,
    Delivery,
    Published,
    Subscription,
    Topic,
)
from lambdabox.sns.signing import Signer
from lambdabox.store.db import Store

log = logging.getLogger("lambdabox.sns.delivery")


class SendToQueue(Protocol):
    """send_to_queue(queue_arn, body, {name: (DataType, value)}, sender_account), to a FIFO queue
    with `group` and `dedup` (SqsService.deliver)."""

    def __call__(
        self,
        queue_arn: str,
        body: str,
        attributes: dict[str, tuple[str, str | bytes]],
        sender: str,
        *,
        group: str | None = None,
        dedup: str | None = None,
    ) -> Awaitable[None]: ...


#: invoke_async(function_arn, payload, topic_arn): an asynchronous (Event) invocation for the
#: topic, accepted (a function's policy may refuse the topic: a client-side error)
InvokeAsync = Callable[[str, bytes, str], Awaitable[None]]
#: post(url, body, headers): the HTTP status a loopback URL answered (http_post.OffHost: it may
#: not be reached)
Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]

TOTAL_ATTEMPTS = 100_015
_IMMEDIATE, _PRE_BACKOFF, _BACKOFF = 3, 2, 10
_MIN_DELAY, _MAX_DELAY = 1.0, 20.0


class Undeliverable(Exception):
    """The endpoint refused the delivery for good (a client-side error: not retried)."""


_CLIENT_SIDE = (LookupError, PermissionError, Undeliverable, http_post.OffHost)
_HTTP = ("http", "https")


def retry_delay(failed: int) -> float | None:
    """Seconds before the next attempt after `failed` failed attempts (None: no attempts left)."""
    if failed >= TOTAL_ATTEMPTS:
        return None
    if failed <= _IMMEDIATE:
        return 0.0
    if failed <= _IMMEDIATE + _PRE_BACKOFF:
        return _MIN_DELAY
    step = failed - _IMMEDIATE - _PRE_BACKOFF - 1
    if step < _BACKOFF:
        return float(_MIN_DELAY * (_MAX_DELAY / _MIN_DELAY) ** (step / (_BACKOFF - 1)))
    return _MAX_DELAY


class DeliveryEngine:
    """Delivers the rows Publish committed, in the order they became due."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        endpoint_url: str,
        send_to_queue: SendToQueue,
        invoke_async: InvokeAsync,
        *,
        signer: Signer | None = None,
        post: Post | None = None,
        concurrency: int = 16,
    ) -> None:
        """`signer`: the server's (default: a key of its own); `post`: HTTP/S deliveries'
        (default: http_post.post on `clock`)."""
        self._store = store
        self._clock = clock
        self.envelopes = Envelopes(signer or Signer.generate(), endpoint_url)
        self._send_to_queue = send_to_queue
        self._invoke_async = invoke_async
        self._own_port = urlsplit(endpoint_url).port
        self._post: Post = post or (
            lambda url, body, headers: http_post.post(url, body, headers, clock, own_port=self._own_port)
        )
        self._queue: Dispatcher[Delivery] = Dispatcher(
            clock, self._attempt, concurrency=concurrency, name="sns-delivery"
        )
        #: FIFO deliveries by (subscription, message group), by id: the first is in the
        #: dispatcher (waiting, running or due again), the others wait for it to be done
        self._lanes: dict[tuple[str, str], list[Delivery]] = {}

    async def check_url(self, url: str) -> None:
        """Raise http_post.OffHost unless lambdabox may deliver to the HTTP/S `url`."""
        await http_post.loopback_addresses(url, self._own_port)

    async def start(self, *, paused: bool = False) -> None:
        """Load every delivery the store holds and start (`paused`: keep them, deliver none)."""
        owed = await self._store.read(sql.load_deliveries)
        if owed:
            log.info("%d SNS deliveries to make from the store", len(owed))
        self.add(owed)
        if not paused:
            self._queue.start()

    def add(self, deliveries: Iterable[Delivery]) -> None:
        """Queue deliveries already committed in the store (a FIFO one behind its lane's)."""
        for d in deliveries:
            if d.message.group_id is None:
                self._queue.push(d, d.due)
                continue
            lane = self._lanes.setdefault((d.subscription_arn, d.message.group_id), [])
            bisect.insort(lane, d, key=lambda x: x.id)
            if len(lane) == 1:
                self._queue.push(d, d.due)

    def _next_in_lane(self, d: Delivery) -> None:
        """`d`, a FIFO delivery, is done with: its lane's next one may go."""
        assert d.message.group_id is not None
        key = (d.subscription_arn, d.message.group_id)
        lane = self._lanes.get(key)
        if not lane:
            return
        lane.remove(d)
        if not lane:
            del self._lanes[key]
            return
        self._queue.push(lane[0], max(lane[0].due, self._clock.now()))

    @property
    def backlog(self) -> int:
        """Deliveries waiting or being made."""
        behind = sum(len(lane) - 1 for lane in self._lanes.values())
        return self._queue.waiting + self._queue.running + behind

    def activity(self) -> Activity:
        return self._queue.activity()

    async def close(self) -> None:
        await self._queue.close()

    async def _attempt(self, d: Delivery) -> None:
        if await self._attempt_once(d) or d.message.group_id is None:
            return
        self._next_in_lane(d)

    async def _attempt_once(self, d: Delivery) -> bool:
        """Make the delivery; whether it is due again (a retry), else it is done with."""
        m = d.message
        sub, topic = await self._store.read(
            lambda c: (sql.get_subscription(c, d.subscription_arn), sql.get_topic(c, m.topic_arn))
        )
        if sub is None and m.kind == UNSUBSCRIBE_CONFIRMATION and m.endpoint:
            # (the subscription is gone: the confirmation goes to the URL it had)
            protocol = m.endpoint.split(":", 1)[0].lower()
            sub = Subscription(d.subscription_arn, m.topic_arn, m.account, protocol, m.endpoint, {}, 0.0)
        if sub is None or (sub.pending and m.kind == NOTIFICATION):
            # unsubscribed (or its topic deleted) since: nothing is owed any more
            await self._store.write(sql.done(d.id, m.message_id))
            return False
        try:
            await self._deliver(sub, topic, m)
        except _CLIENT_SIDE as exc:
            await self._give_up(sub, d, exc)
            return False
        except Exception as exc:  # the endpoint's service failed: retried
            d.attempts += 1
            if sub.protocol in _HTTP:
                delay = http_retry_delay(_delivery_policy(sub, topic), d.attempts)
            else:
                delay = retry_delay(d.attempts)
            if delay is None:
                await self._give_up(sub, d, exc)
                return False
            d.due = self._clock.now() + delay
            log.warning(
                "delivery of SNS message %s to %s failed (attempt %d, next in %.0f s): %s",
                d.message.message_id, sub.endpoint, d.attempts, delay, exc,
            )  # fmt: skip
            await self._store.write(sql.reschedule(d.id, d.attempts, d.due))
            self._queue.push(d, d.due)
            return True
        await self._store.write(sql.done(d.id, d.message.message_id))
        return False

    async def _deliver(self, sub: Subscription, topic: Topic | None, m: Published) -> None:
        version = _signature_version(topic)
        if sub.protocol in _HTTP:
            await self._post_to(sub, topic, m, version)
            return
        text = m.text_for(sub.protocol)
        if sub.protocol == "lambda":
            event = self.envelopes.lambda_event(m, text, sub.arn, version)
            await self._invoke_async(sub.endpoint, event, m.topic_arn)
        elif sub.protocol == "sqs":
            body, attributes = self._queue_message(sub, m, text, version)
            await self._to_queue(sub.endpoint, body, attributes, sub.owner, m)
        else:
            raise Undeliverable(f"lambdabox does not deliver to {sub.protocol} endpoints")

    async def _post_to(self, sub: Subscription, topic: Topic | None, m: Published, version: str) -> None:
        content_type = request_content_type(_delivery_policy(sub, topic))
        if m.kind != NOTIFICATION:
            body = self.envelopes.confirmation(m, version)
            arn = sub.arn if m.kind == UNSUBSCRIBE_CONFIRMATION else None
            headers = envelopes.http_headers(m, arn, content_type)
        elif sub.raw:
            body = m.text_for(sub.protocol)
            headers = envelopes.http_headers(m, sub.arn, content_type, raw=True)
        else:
            body = self.envelopes.notification(m, m.text_for(sub.protocol), sub.arn, version)
            headers = envelopes.http_headers(m, sub.arn, content_type)
        status = await self._post(sub.endpoint, body.encode(), headers)
        if not 200 <= status < 500:  # (SNS takes 4xx as delivered: the endpoint's own answer)
            raise ConnectionError(f"{sub.endpoint} answered HTTP {status}")

    async def _to_queue(
        self,
        queue_arn: str,
        body: str,
        attributes: dict[str, tuple[str, str | bytes]],
        sender: str,
        m: Published,
    ) -> None:
        """Send to an SQS queue: a FIFO topic's message to a FIFO queue (a `.fifo` name) with its
        group and deduplication id."""
        if m.group_id is not None and queue_arn.endswith(".fifo"):
            await self._send_to_queue(queue_arn, body, attributes, sender, group=m.group_id, dedup=m.dedup_id)
        else:
            await self._send_to_queue(queue_arn, body, attributes, sender)

    def _queue_message(
        self, sub: Subscription, m: Published, text: str, version: str = "1"
    ) -> tuple[str, dict[str, tuple[str, str | bytes]]]:
        if sub.raw:
            return text, envelopes.raw_attributes(m.attributes)
        return self.envelopes.notification(m, text, sub.arn, version), {}

    async def _give_up(self, sub: Subscription, d: Delivery, error: Exception) -> None:
        """The delivery ends undelivered: to the dead-letter queue, if the subscription has one."""
        dead_letter = sub.dead_letter_arn if d.message.kind == NOTIFICATION else None
        if dead_letter is not None:
            body, attributes = self._queue_message(sub, d.message, d.message.text_for(sub.protocol))
            try:
                await self._to_queue(dead_letter, body, attributes, sub.owner, d.message)
                log.info(
                    "SNS message %s for %s moved to %s: %s", d.message.message_id, sub.arn, dead_letter, error
                )
            except Exception as exc:
                log.warning("SNS message %s for %s dropped: its dead-letter queue refused it (%s)",
                            d.message.message_id, sub.arn, exc)  # fmt: skip
        else:
            log.warning("SNS message %s for %s dropped: %s", d.message.message_id, sub.arn, error)
        await self._store.write(sql.done(d.id, d.message.message_id))


def _signature_version(topic: Topic | None) -> str:
    return "2" if topic is not None and topic.attributes.get("SignatureVersion") == "2" else "1"


def _delivery_policy(sub: Subscription, topic: Topic | None) -> str | None:
    """The DeliveryPolicy an HTTP/S subscription follows: its own, else its topic's."""
    return sub.attributes.get("DeliveryPolicy") or (topic.attributes.get("DeliveryPolicy") if topic else None)
