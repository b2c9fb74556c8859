"""The SQS API: standard and FIFO queues, durable in the store, per account and region.

`SqsService` takes a `RequestContext` and the params dict as boto3 sends it (the codec has checked it
against botocore's model) and returns each operation's result dict. Every message sent, received
(its visibility and receive count) and deleted is committed before the answer. A queue URL is
`<endpoint>/<account>/<name>` and is resolved by the caller's account (`ctx.account_id`) and the
name in its path: a URL naming another account never reaches that account's queue. Visibility
timeouts, delays and retention read the injected clock; a long poll ends when a message arrives
(one `asyncio.Event` per queue), when a hidden one becomes visible, or at its deadline on the clock
or in real time, whichever comes first. A receive from a queue with a RedrivePolicy first moves its
dead letters (`redrive.py`), in the same write.

A FIFO queue (`FifoQueue=true`, a name ending in `.fifo`) takes messages with a MessageGroupId
and a MessageDeduplicationId (or one derived from the body), acknowledges a duplicate sent within
five minutes on the clock with the original's MessageId and SequenceNumber without queueing it
again, and hands out each group's messages in order, none of a group while one is in flight
(`store.py`). A retried receive with the same ReceiveRequestAttemptId within five minutes gets the
first attempt's messages and receipts again while they are still in flight (remembered in
memory: after a restart a retry is a new receive).

The rest of SQS is served over this core by `batches.py` (the batch operations) and
`queue_config.py` (SetQueueAttributes, PurgeQueue, tags, ListDeadLetterSourceQueues), through
`queue()`, `new_message()`, `put()`, `notify()`, `store` and `clock`; app.py serves the three as one.

For the outbox and SNS (app.py): `deliver(queue_arn, body, attributes, sender)` puts a destination
record, a dead-letter message or an SNS notification in a queue, raising LookupError while there
is no such queue.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from lambdabox.aws import ids
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.clock import Clock, sleep_either
from lambdabox.sqs import attributes as qattrs
from lambdabox.sqs import store as sql
from lambdabox.sqs.messages import (
    bad_value,
    check_attempt_id,
    check_message,
    fifo_ids,
    invalid,
    paged,
    received,
    sent,
    system_names,
    trace_header,
)
from lambdabox.sqs.models import (
    COMPUTED,
    CONFIGURABLE,
    DEDUPLICATION_WINDOW,
    FIFO_SETTINGS,
    POLICIES,
    SWITCHES,
    Message,
    MessageAttributes,
    Queue,
    md5_of_attributes,
    md5_of_body,
)
from lambdabox.sqs.receipts import Receipts, load_key
from lambdabox.sqs.redrive import move_dead_letters, redrive_of, target_refusal
from lambdabox.store.db import Store

Params = dict[str, Any]
Result = dict[str, Any]
T = TypeVar("T")

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
#: a Host header a queue URL may be built on (a name or address, an optional port)
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:\d{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?")
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")


def no_queue() -> ServiceError:
    return client_error("QueueDoesNotExist", "The specified queue does not exist.")


def bad_handle(handle: str) -> ServiceError:
    return client_error(
        "ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )


class SqsService:
    """SQS for every account: queues and messages in the store, waiters in memory."""

    SCHEMA: ClassVar[list[str]] = sql.SCHEMA

    def __init__(self, store: Store, clock: Clock, endpoint_url: str) -> None:
        self.store = store
        self.clock = clock
        self._endpoint = endpoint_url.rstrip("/")
        #: signs and checks receipt handles (the key is made by the schema, read once at start-up)
        self.receipts = Receipts(store.read_sync(load_key))
        #: queue id -> the event set (and replaced) when a message may have become receivable
        self._arrivals: dict[int, asyncio.Event] = {}
        #: (region, account, name) -> the queue as last read: every request names a queue, and
        #: a lookup here costs a microsecond where a store read costs tens; every change of a
        #: queue's row goes through `change_queue`, which forgets them all
        self._queues: dict[tuple[str, str, str], Queue] = {}
        #: queue id -> when (clock) a receive last deleted its expired messages: a scan of the
        #: queue, so done once a second, not on every receive
        self._swept: dict[int, float] = {}
        #: (queue id, ReceiveRequestAttemptId) -> (until when on the clock, the (message id,
        #: receipt token) pairs that attempt received)
        self._attempts: dict[tuple[int, str], tuple[float, list[tuple[str, str]]]] = {}

    # ============================================================================================
    # queues (and what the other parts of SQS share: finding the caller's queue, waking polls)
    # ============================================================================================

    def url(self, q: Queue, ctx: RequestContext | None = None) -> str:
        """The queue's URL on the host the caller reached (its Host header), as SQS answers it,
        else on the server's own address."""
        return f"{self.account_url(q.account, ctx)}/{q.name}"

    def account_url(self, account: str, ctx: RequestContext | None) -> str:
        """Where the queue URLs of `account` start, for the caller of `ctx` (see `url`)."""
        host = ctx.host if ctx is not None else None
        base = f"http://{host}" if host and _HOST.fullmatch(host) else self._endpoint
        return f"{base}/{account}"

    async def _queue_named(self, ctx: RequestContext, name: str) -> Queue:
        key = (ctx.region, ctx.account_id, name)
        q = self._queues.get(key)
        if q is None:
            q = self.store.read_inline(lambda c: sql.get_queue(c, *key))
            if q is None:
                raise no_queue()
            if len(self._queues) >= 10_000:
                self._queues.clear()
            self._queues[key] = q
        return q

    async def change_queue(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """Run a store write that changes a queue's row (its attributes, tags, purge time, or
        the queue itself), then forget the queues read before it."""
        try:
            return await self.store.write(change)
        finally:
            self._queues.clear()

    async def queue(self, ctx: RequestContext, url: str) -> Queue:
        """The caller's queue a QueueUrl names. Another account's existing queue is AWS's
        AccessDenied (queue policies are not enforced yet: none lets another account in)."""
        parts = [p for p in urlsplit(url).path.split("/") if p]
        if len(parts) != 2:
            raise no_queue()
        if parts[0] != ctx.account_id:
            owner, name = parts
            if self.store.read_inline(lambda c: sql.get_queue(c, ctx.region, owner, name)) is not None:
                base = self.account_url(owner, ctx).rsplit("/", 1)[0]
                raise client_error("AccessDenied", f"Access to the resource {base}/ is denied.", 403)
            raise no_queue()
        return await self._queue_named(ctx, parts[1])

    def notify(self, queue_id: int) -> None:
        """Wake the long polls of a queue in which a message may have become receivable."""
        event = self._arrivals.pop(queue_id, None)
        if event is not None:
            event.set()

    async def CreateQueue(self, ctx: RequestContext, params: Params) -> Result:
        name: str = params["QueueName"]
        given: dict[str, str] = dict(params.get("Attributes") or {})
        flag = given.pop("FifoQueue", None)
        if flag is not None and flag.lower() != "true":
            if flag.lower() == "false":
                raise client_error("InvalidAttributeName", "Unknown Attribute FifoQueue.")
            raise client_error("InvalidAttributeValue", "Invalid value for the parameter FifoQueue.")
        fifo = flag is not None
        if fifo and not _FIFO_NAME.fullmatch(name):
            raise invalid(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
                "underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        if not fifo and not _NAME.fullmatch(name):
            raise invalid(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            )
        wanted = qattrs.checked(given, fifo)
        tags = qattrs.check_tags(name, {}, dict(params.get("tags") or {}))
        defaults = {**{a: str(d) for a, (_, _, d) in CONFIGURABLE.items()}, **SWITCHES}
        if fifo:
            defaults.update({"FifoQueue": "true", **{a: d for a, (_, d) in FIFO_SETTINGS.items()}})
        attributes = qattrs.applied(defaults, wanted)
        redrive = attributes.get("RedrivePolicy")
        now = self.clock.now()
        where = (ctx.region, ctx.account_id, name)

        def create(c: sqlite3.Connection) -> tuple[Queue, bool]:
            if redrive and sql.get_queue(c, *where) is None:
                refusal = target_refusal(c, where, redrive, given["RedrivePolicy"])
                if refusal is not None:
                    raise refusal
            return sql.create_queue(c, *where, attributes, tags, now)

        q, created = await self.change_queue(create)
        if not created:
            for attr, value in wanted.items():
                if q.attributes.get(attr, "") != value:
                    raise client_error(
                        "QueueNameExists",
                        f"A queue already exists with the same name and a different value for attribute {attr}",
                    )
        return {"QueueUrl": self.url(q, ctx)}

    async def GetQueueUrl(self, ctx: RequestContext, params: Params) -> Result:
        owner = params.get("QueueOwnerAWSAccountId")
        if owner is not None and owner != ctx.account_id:
            raise no_queue()
        return {"QueueUrl": self.url(await self._queue_named(ctx, params["QueueName"]), ctx)}

    async def ListQueues(self, ctx: RequestContext, params: Params) -> Result:
        prefix: str = params.get("QueueNamePrefix", "")
        names = await self.store.read(lambda c: sql.list_queues(c, ctx.region, ctx.account_id, prefix))
        limit = params.get("MaxResults")
        out: Result = {}
        names = paged(names, limit, params.get("NextToken"), out)
        if names:
            base = self.account_url(ctx.account_id, ctx)
            out["QueueUrls"] = [f"{base}/{n}" for n in names]
        return out

    async def DeleteQueue(self, ctx: RequestContext, params: Params) -> Result:
        q = await self.queue(ctx, params["QueueUrl"])
        await self.change_queue(lambda c: sql.delete_queue(c, q.id))
        self.notify(q.id)
        return {}

    async def GetQueueAttributes(self, ctx: RequestContext, params: Params) -> Result:
        q = await self.queue(ctx, params["QueueUrl"])
        asked: list[str] = list(params.get("AttributeNames") or [])
        known = (*CONFIGURABLE, *SWITCHES, *POLICIES, *COMPUTED, "FifoQueue", *FIFO_SETTINGS)
        for name in asked:
            if name != "All" and name not in known:
                raise client_error("InvalidAttributeName", f"Unknown Attribute {name}.")
        if not asked:
            return {}
        wanted = known if "All" in asked else tuple(asked)
        now = self.clock.now()
        n = await self.store.read(lambda c: sql.counts(c, q.id, now))
        values = {
            **q.attributes,
            "QueueArn": q.arn,
            "ApproximateNumberOfMessages": str(n.visible),
            "ApproximateNumberOfMessagesNotVisible": str(n.in_flight),
            "ApproximateNumberOfMessagesDelayed": str(n.delayed),
            "CreatedTimestamp": str(int(q.created)),
            "LastModifiedTimestamp": str(int(q.modified)),
        }
        return {"Attributes": {k: values[k] for k in wanted if k in values}}

    # ============================================================================================
    # messages
    # ============================================================================================

    async def SendMessage(self, ctx: RequestContext, params: Params) -> Result:
        q = await self.queue(ctx, params["QueueUrl"])
        body: str = params["MessageBody"]
        attributes: MessageAttributes = dict(params.get("MessageAttributes") or {})
        delay = params.get("DelaySeconds")
        check_message(q, body, attributes, delay)
        group, dedup = fifo_ids(q, body, params.get("MessageGroupId"), params.get("MessageDeduplicationId"))
        trace = trace_header(dict(params.get("MessageSystemAttributes") or {})) or ctx.trace_header
        m = self.new_message(q, body, attributes, ctx.account_id, delay, trace, group, dedup)
        await self.put(q, [m])
        return sent(m)

    def new_message(
        self,
        q: Queue,
        body: str,
        attributes: MessageAttributes,
        sender: str,
        delay: int | None,
        trace: str | None = None,
        group: str | None = None,
        dedup: str | None = None,
    ) -> Message:
        """A message (checked) about to be sent to `q` now."""
        now = self.clock.now()
        wait = q.setting("DelaySeconds") if delay is None else delay
        return Message(
            queue_id=q.id,
            message_id=ids.random_uuid(),
            body=body,
            attributes=attributes,
            md5_body=md5_of_body(body),
            md5_attributes=md5_of_attributes(attributes),
            sender_id=sender,
            sent=now,
            visible=now + wait,
            expires=now + q.setting("MessageRetentionPeriod"),
            trace_header=trace,
            group_id=group,
            dedup_id=dedup,
        )

    async def put(self, q: Queue, ms: list[Message]) -> list[Message]:
        """Commit the messages to `q` in one write (QueueDoesNotExist if it went meanwhile); a FIFO
        queue's duplicates take the original's MessageId and SequenceNumber and are not queued
        again. Returns the messages queued."""
        try:
            fresh: list[Message] = await self.store.write(lambda c: sql.insert_messages(c, q.id, ms))
        except LookupError:
            raise no_queue() from None
        if fresh:
            self.notify(q.id)
        return fresh

    async def ReceiveMessage(self, ctx: RequestContext, params: Params) -> Result:
        q = await self.queue(ctx, params["QueueUrl"])
        limit = params.get("MaxNumberOfMessages", 1)
        if not 1 <= limit <= 10:
            raise bad_value("MaxNumberOfMessages", limit, "Must be between 1 and 10, if provided.")
        visibility = params.get("VisibilityTimeout")
        if visibility is not None and not 0 <= visibility <= 43_200:
            raise bad_value("VisibilityTimeout", visibility, "Must be >= 0 and <= 43200, if provided.")
        wait = params.get("WaitTimeSeconds")
        if wait is not None and not 0 <= wait <= 20:
            raise bad_value("WaitTimeSeconds", wait, "Must be >= 0 and <= 20, if provided.")
        hidden = float(q.setting("VisibilityTimeout") if visibility is None else visibility)
        seconds = float(q.setting("ReceiveMessageWaitTimeSeconds") if wait is None else wait)
        clock_end, wall_end = self.clock.monotonic() + seconds, time.monotonic() + seconds
        redrive = redrive_of(q)
        check_attempt_id(params.get("ReceiveRequestAttemptId"))
        attempt_id = params.get("ReceiveRequestAttemptId") if q.fifo else None
        got = await self._receive_again(q, attempt_id, hidden) if attempt_id else []
        while not got:
            event = self._arrivals.setdefault(q.id, asyncio.Event())
            now = self.clock.now()

            sweep = not now - 1.0 < self._swept.get(q.id, -1e18) <= now
            if sweep:
                self._swept[q.id] = now

            def attempt(
                c: sqlite3.Connection, now: float = now, sweep: bool = sweep
            ) -> tuple[list[Message], float | None, int | None]:
                moved = move_dead_letters(c, q.id, redrive, now) if redrive is not None else None
                return (*sql.receive(c, q.id, now, limit, hidden, q.fifo, sweep), moved)

            got, nxt, moved_to = await self.store.write(attempt)
            if moved_to is not None:
                self.notify(moved_to)
            left = min(clock_end - self.clock.monotonic(), wall_end - time.monotonic())
            if got or left <= 0:
                break
            if nxt is not None:
                left = min(left, max(nxt - now, 0.001))
            waiters = {
                asyncio.ensure_future(event.wait()),
                asyncio.ensure_future(sleep_either(self.clock, left)),
            }
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            if await self.store.read(lambda c: sql.get_queue(c, q.region, q.account, q.name)) is None:
                raise no_queue()
        if attempt_id and got:
            until = self.clock.now() + DEDUPLICATION_WINDOW
            self._attempts[(q.id, attempt_id)] = (until, [(m.message_id, m.receipt) for m in got])
        system = system_names(params.get("AttributeNames"), params.get("MessageSystemAttributeNames"))
        selectors = list(params.get("MessageAttributeNames") or [])
        out = [
            received(m, self.receipts.handle(q.id, m.message_id, m.receipt), system, selectors) for m in got
        ]
        return {"Messages": out} if out else {}

    async def _receive_again(self, q: Queue, attempt_id: str, hidden: float) -> list[Message]:
        """The messages of an earlier receive with this ReceiveRequestAttemptId (within five
        minutes, all still in flight under its receipts), hidden again; [] for a new receive."""
        now = self.clock.now()
        for key, (until, _) in list(self._attempts.items()):
            if until <= now:
                del self._attempts[key]
        earlier = self._attempts.get((q.id, attempt_id))
        if earlier is None:
            return []
        tokens = earlier[1]
        got: list[Message] = await self.store.write(lambda c: sql.receive_again(c, q.id, tokens, now, hidden))
        return got

    async def DeleteMessage(self, ctx: RequestContext, params: Params) -> Result:
        q = await self.queue(ctx, params["QueueUrl"])
        handle: str = params["ReceiptHandle"]
        parsed = self.receipts.parse(q.id, handle)
        if parsed is None:
            raise bad_handle(handle)
        tokens = [parsed[1]] if q.fifo else None
        await self.store.write(lambda c: sql.delete_messages(c, q.id, [parsed[0]], tokens))
        if q.fifo:
            self.notify(q.id)  # its group may be free for a long poll now
        return {}

    async def ChangeMessageVisibility(self, ctx: RequestContext, params: Params) -> Result:
        q = await self.queue(ctx, params["QueueUrl"])
        handle: str = params["ReceiptHandle"]
        seconds: int = params["VisibilityTimeout"]
        parsed = self.receipts.parse(q.id, handle)
        if parsed is None:
            raise bad_handle(handle)
        if not 0 <= seconds <= 43_200:
            raise bad_value("VisibilityTimeout", seconds, "VisibilityTimeout must be >= 0 and <= 43200.")
        now = self.clock.now()
        outcome = await self.store.write(
            lambda c: sql.set_visible(c, q.id, parsed[0], parsed[1], now, now + seconds)
        )
        if outcome == "gone":
            raise bad_value(
                "ReceiptHandle",
                handle,
                "Message does not exist or is not available for visibility timeout change.",
            )
        if outcome == "not-in-flight":
            raise client_error("MessageNotInflight", "The message referred to isn't in flight.")
        if seconds == 0:
            self.notify(q.id)
        return {}

    # ============================================================================================
    # for the outbox
    # ============================================================================================

    async def deliver(
        self,
        queue_arn: str,
        body: bytes | str,
        attributes: dict[str, tuple[str, str]] | dict[str, tuple[str, str | bytes]],
        sender: str,
        group: str | None = None,
        dedup: str | None = None,
    ) -> None:
        """Send `body` with `attributes` (name -> (DataType, a string, or bytes for a Binary
        attribute)) to the queue `queue_arn` names, on behalf of the account `sender`; LookupError while there is no such queue,
        PermissionError for another account's queue (resource policies are not enforced yet, so
        a sender writes only to its own account's queues; on AWS another account's queue refuses
        it unless the queue's policy allows it). A FIFO queue takes a message with a `group` (and a
        `dedup` id unless it deduplicates by content); without, LookupError as for no queue."""
        parts = queue_arn.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            raise LookupError(f"not a queue ARN: {queue_arn}")
        region, account, name = parts[3], parts[4], parts[5]
        if account != sender:
            raise PermissionError(f"{queue_arn} is not a queue of account {sender}")
        q = await self.store.read(lambda c: sql.get_queue(c, region, account, name))
        if q is None:
            raise LookupError(f"no queue {queue_arn}")
        message_attributes: MessageAttributes = {
            k: {"DataType": t, "BinaryValue": v}
            if isinstance(v, bytes)
            else {"DataType": t, "StringValue": v}
            for k, (t, v) in attributes.items()
        }
        text = body if isinstance(body, str) else body.decode("utf-8", errors="replace")
        try:
            group, dedup = fifo_ids(q, text, group, dedup)
            await self.put(
                q, [self.new_message(q, text, message_attributes, account, None, None, group, dedup)]
            )
        except ServiceError as exc:
            raise LookupError(f"no queue {queue_arn}") from exc
