"""The SQS API: standard queues, durable in the store, per account and region.

`SqsService` takes a `RequestContext` and the params dict as boto3 sends it (the codec has checked it
against botocore's model) and returns each operation's result dict. Every message sent, received
(its visibility and receive count) and deleted is committed before the answer. A queue URL is
`<endpoint>/<account>/<name>` and is resolved by the caller's account (`ctx.account_id`) and the
name in its path: a URL naming another account never reaches that account's queue. Visibility
timeouts, delays and retention read the injected clock; a long poll ends when a message arrives
(one `asyncio.Event` per queue), when a hidden one becomes visible, or at its deadline on the clock
or in real time, whichever comes first. FIFO queues are not served (UnsupportedOperation).

For the outbox and SNS (app.py): `deliver(queue_arn, body, attributes, sender)` puts a destination
record, a dead-letter message or an SNS notification in a queue, raising LookupError while there
is no such queue.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import time
import uuid
from typing import Any, ClassVar
from urllib.parse import urlsplit

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.clock import Clock, sleep_either
from lambdabox.sqs import store as sql
from lambdabox.sqs.models import (
    COMPUTED,
    CONFIGURABLE,
    MAX_MESSAGE_ATTRIBUTES,
    OPAQUE,
    SYSTEM_ATTRIBUTES,
    Message,
    MessageAttributes,
    Queue,
    attributes_size,
    md5_of_attributes,
    md5_of_body,
    parse_receipt_handle,
    receipt_handle,
)
from lambdabox.store.db import Store

Params = dict[str, Any]
Result = dict[str, Any]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_ATTR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\.[^\s]{1,255})?")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: what a message body may hold (XML 1.0's characters)
_BAD_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _no_queue() -> ServiceError:
    return client_error("QueueDoesNotExist", "The specified queue does not exist.")


def _invalid(message: str) -> ServiceError:
    return client_error("InvalidParameterValue", message)


def _bad_value(param: str, value: object, reason: str) -> ServiceError:
    return _invalid(f"Value {value} for parameter {param} is invalid. Reason: {reason}")


def _bad_handle(handle: str) -> ServiceError:
    return client_error(
        "ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )


class SqsService:
    """SQS for every account: queues and messages in the store, waiters in memory."""

    SCHEMA: ClassVar[list[str]] = sql.SCHEMA

    def __init__(self, store: Store, clock: Clock, endpoint_url: str) -> None:
        self._store = store
        self._clock = clock
        self._endpoint = endpoint_url.rstrip("/")
        #: queue id -> the event set (and replaced) when a message may have become receivable
        self._arrivals: dict[int, asyncio.Event] = {}

    # ============================================================================================
    # queues
    # ============================================================================================

    def _url(self, q: Queue) -> str:
        return f"{self._endpoint}/{q.account}/{q.name}"

    async def _queue_named(self, ctx: RequestContext, name: str) -> Queue:
        q = await self._store.read(lambda c: sql.get_queue(c, ctx.region, ctx.account_id, name))
        if q is None:
            raise _no_queue()
        return q

    async def _queue(self, ctx: RequestContext, url: str) -> Queue:
        """The caller's queue a QueueUrl names (its path's account must be the caller's)."""
        parts = [p for p in urlsplit(url).path.split("/") if p]
        if len(parts) != 2 or parts[0] != ctx.account_id:
            raise _no_queue()
        return await self._queue_named(ctx, parts[1])

    def _notify(self, queue_id: int) -> None:
        event = self._arrivals.pop(queue_id, None)
        if event is not None:
            event.set()

    async def CreateQueue(self, ctx: RequestContext, params: Params) -> Result:
        name: str = params["QueueName"]
        given: dict[str, str] = dict(params.get("Attributes") or {})
        if name.endswith(".fifo") or given.get("FifoQueue", "false").lower() == "true":
            raise client_error("UnsupportedOperation", "FIFO queues are not supported by lambdabox yet.")
        if not _NAME.fullmatch(name):
            raise _invalid(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            )
        given.pop("FifoQueue", None)
        for attr, value in given.items():
            if attr in CONFIGURABLE:
                low, high, _ = CONFIGURABLE[attr]
                if not re.fullmatch(r"\d+", value) or not low <= int(value) <= high:
                    raise client_error("InvalidAttributeValue", f"Invalid value for the parameter {attr}.")
            elif attr not in OPAQUE:
                raise client_error("InvalidAttributeName", f"Unknown Attribute {attr}.")
        attributes = {a: str(d) for a, (_, _, d) in CONFIGURABLE.items()}
        attributes.update({a: str(int(v)) if a in CONFIGURABLE else v for a, v in given.items()})
        now = self._clock.now()
        q, created = await self._store.write(
            lambda c: sql.create_queue(c, ctx.region, ctx.account_id, name, attributes, now)
        )
        if not created:
            for attr, value in given.items():
                have = q.attributes.get(attr)
                same = have == value if attr not in CONFIGURABLE else have == str(int(value))
                if not same:
                    raise client_error(
                        "QueueNameExists",
                        f"A queue already exists with the same name and a different value for attribute {attr}",
                    )
        return {"QueueUrl": self._url(q)}

    async def GetQueueUrl(self, ctx: RequestContext, params: Params) -> Result:
        owner = params.get("QueueOwnerAWSAccountId")
        if owner is not None and owner != ctx.account_id:
            raise _no_queue()
        return {"QueueUrl": self._url(await self._queue_named(ctx, params["QueueName"]))}

    async def ListQueues(self, ctx: RequestContext, params: Params) -> Result:
        prefix: str = params.get("QueueNamePrefix", "")
        names = await self._store.read(lambda c: sql.list_queues(c, ctx.region, ctx.account_id, prefix))
        limit = params.get("MaxResults")
        out: Result = {}
        if limit is not None:
            if not 1 <= limit <= 1000:
                raise _bad_value("MaxResults", limit, "MaxResults must be an integer between 1 and 1000.")
            token = params.get("NextToken")
            if token:
                names = [n for n in names if n > token]
            if len(names) > limit:
                names = names[:limit]
                out["NextToken"] = names[-1]
        if names:
            out["QueueUrls"] = [f"{self._endpoint}/{ctx.account_id}/{n}" for n in names]
        return out

    async def DeleteQueue(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._queue(ctx, params["QueueUrl"])
        await self._store.write(lambda c: sql.delete_queue(c, q.id))
        self._notify(q.id)
        return {}

    async def GetQueueAttributes(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._queue(ctx, params["QueueUrl"])
        asked: list[str] = list(params.get("AttributeNames") or [])
        known = (*CONFIGURABLE, *OPAQUE, *COMPUTED)
        for name in asked:
            if name != "All" and name not in known:
                raise client_error("InvalidAttributeName", f"Unknown Attribute {name}.")
        if not asked:
            return {}
        wanted = known if "All" in asked else tuple(asked)
        now = self._clock.now()
        n = await self._store.read(lambda c: sql.counts(c, q.id, now))
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
        q = await self._queue(ctx, params["QueueUrl"])
        body: str = params["MessageBody"]
        attributes: MessageAttributes = dict(params.get("MessageAttributes") or {})
        delay = params.get("DelaySeconds")
        if delay is not None and not 0 <= delay <= 900:
            raise _bad_value("DelaySeconds", delay, "DelaySeconds must be >= 0 and <= 900.")
        if not body:
            raise client_error("MissingParameter", "The request must contain the parameter MessageBody.")
        if _BAD_CHARS.search(body):
            raise client_error(
                "InvalidMessageContents",
                "Invalid characters found. Valid characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
                "#xE000 to #xFFFD | #x10000 to #x10FFFF",
            )
        _check_attributes(attributes)
        limit = q.setting("MaximumMessageSize")
        if len(body.encode()) + attributes_size(attributes) > limit:
            raise _invalid(
                f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
            )
        m = await self._put(q, body, attributes, ctx.account_id, delay)
        out: Result = {"MD5OfMessageBody": m.md5_body, "MessageId": m.message_id}
        if m.md5_attributes is not None:
            out["MD5OfMessageAttributes"] = m.md5_attributes
        return out

    async def _put(
        self, q: Queue, body: str, attributes: MessageAttributes, sender: str, delay: int | None
    ) -> Message:
        now = self._clock.now()
        wait = q.setting("DelaySeconds") if delay is None else delay
        m = Message(
            queue_id=q.id,
            message_id=str(uuid.uuid4()),
            body=body,
            attributes=attributes,
            md5_body=md5_of_body(body),
            md5_attributes=md5_of_attributes(attributes),
            sender_id=sender,
            sent=now,
            visible=now + wait,
            expires=now + q.setting("MessageRetentionPeriod"),
        )
        try:
            await self._store.write(lambda c: sql.insert_message(c, m))
        except LookupError:
            raise _no_queue() from None
        self._notify(q.id)
        return m

    async def ReceiveMessage(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._queue(ctx, params["QueueUrl"])
        limit = params.get("MaxNumberOfMessages", 1)
        if not 1 <= limit <= 10:
            raise _bad_value("MaxNumberOfMessages", limit, "Must be between 1 and 10, if provided.")
        visibility = params.get("VisibilityTimeout")
        if visibility is not None and not 0 <= visibility <= 43_200:
            raise _bad_value("VisibilityTimeout", visibility, "Must be >= 0 and <= 43200, if provided.")
        wait = params.get("WaitTimeSeconds")
        if wait is not None and not 0 <= wait <= 20:
            raise _bad_value("WaitTimeSeconds", wait, "Must be >= 0 and <= 20, if provided.")
        hidden = float(q.setting("VisibilityTimeout") if visibility is None else visibility)
        seconds = float(q.setting("ReceiveMessageWaitTimeSeconds") if wait is None else wait)
        clock_end, wall_end = self._clock.monotonic() + seconds, time.monotonic() + seconds
        while True:
            event = self._arrivals.setdefault(q.id, asyncio.Event())
            now = self._clock.now()
            got, nxt = await self._store.write(
                functools.partial(sql.receive, queue_id=q.id, now=now, limit=limit, visibility=hidden)
            )
            left = min(clock_end - self._clock.monotonic(), wall_end - time.monotonic())
            if got or left <= 0:
                break
            if nxt is not None:
                left = min(left, max(nxt - now, 0.001))
            waiters = {
                asyncio.ensure_future(event.wait()),
                asyncio.ensure_future(sleep_either(self._clock, left)),
            }
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            if await self._store.read(lambda c: sql.get_queue(c, q.region, q.account, q.name)) is None:
                raise _no_queue()
        system = _names(params.get("AttributeNames"), params.get("MessageSystemAttributeNames"))
        selectors = list(params.get("MessageAttributeNames") or [])
        out = [_received(m, system, selectors) for m in got]
        return {"Messages": out} if out else {}

    async def DeleteMessage(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._queue(ctx, params["QueueUrl"])
        handle: str = params["ReceiptHandle"]
        parsed = parse_receipt_handle(handle)
        if parsed is None:
            raise _bad_handle(handle)
        await self._store.write(lambda c: sql.delete_message(c, q.id, parsed[0]))
        return {}

    async def ChangeMessageVisibility(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._queue(ctx, params["QueueUrl"])
        handle: str = params["ReceiptHandle"]
        seconds: int = params["VisibilityTimeout"]
        parsed = parse_receipt_handle(handle)
        if parsed is None:
            raise _bad_handle(handle)
        if not 0 <= seconds <= 43_200:
            raise _bad_value("VisibilityTimeout", seconds, "VisibilityTimeout must be >= 0 and <= 43200.")
        now = self._clock.now()
        outcome = await self._store.write(
            lambda c: sql.set_visible(c, q.id, parsed[0], parsed[1], now, now + seconds)
        )
        if outcome == "gone":
            raise _bad_value(
                "ReceiptHandle",
                handle,
                "Message does not exist or is not available for visibility timeout change.",
            )
        if outcome == "not-in-flight":
            raise client_error("MessageNotInflight", "The message referred to isn't in flight.")
        if seconds == 0:
            self._notify(q.id)
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
    ) -> None:
        """Send `body` with `attributes` (name -> (DataType, a string, or bytes for a Binary
        attribute)) to the queue `queue_arn`
        names, on behalf of the account `sender`; LookupError while there is no such queue,
        PermissionError for another account's queue (resource policies are not enforced yet, so
        a sender writes only to its own account's queues; on AWS another account's queue refuses
        it unless the queue's policy allows it)."""
        parts = queue_arn.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            raise LookupError(f"not a queue ARN: {queue_arn}")
        region, account, name = parts[3], parts[4], parts[5]
        if account != sender:
            raise PermissionError(f"{queue_arn} is not a queue of account {sender}")
        q = await self._store.read(lambda c: sql.get_queue(c, region, account, name))
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
            await self._put(q, text, message_attributes, account, None)
        except ServiceError as exc:
            raise LookupError(f"no queue {queue_arn}") from exc


def _check_attributes(attributes: MessageAttributes) -> None:
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise _invalid(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}]."
        )
    for name, value in attributes.items():
        lowered = name.lower()
        if (
            not _ATTR_NAME.fullmatch(name)
            or lowered.startswith(("aws.", "amazon."))
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
        ):
            raise _invalid(f"Message attribute name '{name}' is invalid.")
        data_type = str(value.get("DataType", ""))
        kind = _DATA_TYPE.fullmatch(data_type)
        if kind is None:
            raise _invalid(
                f"The type of message (user) attribute '{name}' is invalid. You must use only the following "
                "supported type prefixes: Binary, Number, String."
            )
        if "StringListValues" in value or "BinaryListValues" in value:
            raise _invalid(f"Message (user) attribute '{name}' uses list values, which SQS does not support.")
        if kind[1] == "Binary":
            if "BinaryValue" not in value or value.get("StringValue") is not None:
                raise _invalid(
                    f"Message (user) attribute '{name}' must contain a non-empty value of type 'Binary'."
                )
        else:
            text = value.get("StringValue")
            if not text or "BinaryValue" in value:
                raise _invalid(
                    f"Message (user) attribute '{name}' must contain a non-empty message attribute value."
                )
            if kind[1] == "Number" and (not _NUMBER.fullmatch(text) or not math.isfinite(float(text))):
                raise _invalid(f"Can't cast the value of message (user) attribute '{name}' to a number.")
        value.pop("StringListValues", None)
        value.pop("BinaryListValues", None)


def _names(*lists: list[str] | None) -> set[str]:
    names = {n for names in lists for n in names or ()}
    return set(SYSTEM_ATTRIBUTES) if "All" in names else names & set(SYSTEM_ATTRIBUTES)


def _selected(name: str, selectors: list[str]) -> bool:
    for s in selectors:
        if s in ("All", ".*") or s == name or (s.endswith(".*") and name.startswith(s[:-1])):
            return True
    return False


def _received(m: Message, system: set[str], selectors: list[str]) -> Result:
    out: Result = {
        "MessageId": m.message_id,
        "ReceiptHandle": receipt_handle(m.message_id, m.receipt),
        "MD5OfBody": m.md5_body,
        "Body": m.body,
    }
    values = {
        "SenderId": m.sender_id,
        "SentTimestamp": str(int(m.sent * 1000)),
        "ApproximateReceiveCount": str(m.receive_count),
        "ApproximateFirstReceiveTimestamp": str(int((m.first_receive or m.sent) * 1000)),
    }
    if system:
        out["Attributes"] = {k: values[k] for k in SYSTEM_ATTRIBUTES if k in system}
    chosen = {k: v for k, v in m.attributes.items() if _selected(k, selectors)}
    if chosen:
        out["MessageAttributes"] = chosen
        out["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
    return out
