"""Dead-letter queue redrive: StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask,
and the engine that runs the tasks in the background on the injected clock.

As on AWS: a task's source must be a queue some queue names as its dead-letter queue; it moves
the messages that were in the source when it started (visible ones, oldest first) to
`DestinationArn` or, without one, back to each message's `DeadLetterQueueSourceArn`; a moved
message is a new message (a new MessageId, sent now, its retention counted from now, never
received) with the same body, message attributes, MD5s, sender, trace header and message group
(into a FIFO queue, deduplicated by the id it had, numbered anew; a destination must be of the
source's type). With
`MaxNumberOfMessagesPerSecond` it moves that many per second of the clock (the first second
after it started); without, as fast as the store takes them. Only one task per source runs at a
time. A destination that goes away fails the task (`AWS.SimpleQueueService.NonExistentQueue`),
a message with no source to go back to fails it with `CouldNotDetermineMessageSource`.

Each step (moving up to a second's worth, counting them) is one store write, so a task is as
durable as a send: after a restart (even `kill -9`) the engine resumes the running tasks where
their last committed step left them, and finishes the cancelling ones as CANCELLED."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import logging
import math
import sqlite3
import uuid
from typing import Any, ClassVar

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.sqs import move_store as mql
from lambdabox.sqs import store as sql
from lambdabox.sqs.api import SqsService
from lambdabox.sqs.attributes import parse_queue_arn
from lambdabox.sqs.models import Message, Queue
from lambdabox.sqs.move_store import MoveTask
from lambdabox.sqs.redrive import source_queues

log = logging.getLogger(__name__)

Params = dict[str, Any]
Result = dict[str, Any]

MAX_RATE = 500
#: how many messages an unlimited task moves in one store write
_CHUNK = 500
NO_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"
NO_SOURCE = "CouldNotDetermineMessageSource"


def _invalid(message: str) -> ServiceError:
    return client_error("InvalidParameterValue", message)


def _not_found(param: str) -> ServiceError:
    return client_error(
        "ResourceNotFoundException",
        f"The resource that you specified for the {param} parameter doesn't exist.",
        status=404,
    )


def _no_task() -> ServiceError:
    return client_error("ResourceNotFoundException", "Task does not exist.", status=404)


def handle_of(t: MoveTask) -> str:
    """The TaskHandle AWS gives a task: its id and source, base64-encoded JSON."""
    text = json.dumps({"taskId": t.task_id, "sourceArn": t.source_arn}, separators=(",", ":"))
    return base64.b64encode(text.encode()).decode()


def _parse_handle(handle: str) -> tuple[str, str] | None:
    try:
        data = json.loads(base64.b64decode(handle, validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    task_id, source = data.get("taskId"), data.get("sourceArn")
    if not isinstance(task_id, str) or not isinstance(source, str):
        return None
    return task_id, source


def _entry(t: MoveTask) -> Result:
    out: Result = {
        "Status": t.status,
        "SourceArn": t.source_arn,
        "ApproximateNumberOfMessagesMoved": t.moved,
        "ApproximateNumberOfMessagesToMove": t.to_move,
        "StartedTimestamp": int(t.started * 1000),
    }
    if t.status == mql.RUNNING:
        out["TaskHandle"] = handle_of(t)
    if t.destination_arn is not None:
        out["DestinationArn"] = t.destination_arn
    if t.rate is not None:
        out["MaxNumberOfMessagesPerSecond"] = t.rate
    if t.failure is not None:
        out["FailureReason"] = t.failure
    return out


class MoveTasks:
    """The message move task operations of SQS, over the queues of `core`, and their engine."""

    SCHEMA: ClassVar[list[str]] = mql.SCHEMA

    def __init__(self, core: SqsService) -> None:
        self._core = core
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    # ============================================================================================
    # operations
    # ============================================================================================

    def _own_queue(self, ctx: RequestContext, conn: sqlite3.Connection, arn: str, param: str) -> Queue:
        where = parse_queue_arn(arn)
        q = None
        if where is not None and where[:2] == (ctx.region, ctx.account_id):
            q = sql.get_queue(conn, *where)
        if q is None:
            raise _not_found(param)
        return q

    async def StartMessageMoveTask(self, ctx: RequestContext, params: Params) -> Result:
        source_arn: str = params["SourceArn"]
        destination_arn: str | None = params.get("DestinationArn") or None
        rate: int | None = params.get("MaxNumberOfMessagesPerSecond")
        if rate is not None and not 1 <= rate <= MAX_RATE:
            raise _invalid(
                "Value for parameter MaxNumberOfMessagesPerSecond is invalid. "
                f"Reason: You must enter a number that's between 1 and {MAX_RATE}."
            )
        now = self._core.clock.now()

        def start(c: sqlite3.Connection) -> MoveTask:
            source = self._own_queue(ctx, c, source_arn, "SourceArn")
            if not source_queues(c, source):
                raise _invalid("Source queue must be configured as a Dead Letter Queue.")
            if destination_arn is not None:
                if destination_arn == source_arn:
                    raise _invalid("Source queue arn and destination queue arn cannot be the same.")
                dest = self._own_queue(ctx, c, destination_arn, "DestinationArn")
                if dest.name.endswith(".fifo") != source.name.endswith(".fifo"):
                    raise _invalid(
                        "Value for parameter DestinationArn is invalid. Reason: the destination must be "
                        "the same queue type as the source."
                    )
            if any(
                t.status in mql.ACTIVE for t in mql.of_source(c, ctx.region, ctx.account_id, source_arn, 1)
            ):
                raise _invalid(
                    "There is already a task running. Only one active task is allowed for a source "
                    "queue arn at a given time."
                )
            to_move, last_seq = mql.source_state(c, source.id, now)
            task = MoveTask(
                task_id=str(uuid.uuid4()),
                region=ctx.region,
                account=ctx.account_id,
                source_arn=source_arn,
                destination_arn=destination_arn,
                rate=rate,
                status=mql.RUNNING,
                moved=0,
                to_move=to_move,
                last_seq=last_seq,
                started=now,
                next_at=now if rate is None else now + 1,
                failure=None,
            )
            mql.insert(c, task)
            return task

        task = await self._core.store.write(start)
        self._wake.set()
        return {"TaskHandle": handle_of(task)}

    async def ListMessageMoveTasks(self, ctx: RequestContext, params: Params) -> Result:
        source_arn: str = params["SourceArn"]
        limit = params.get("MaxResults")
        limit = 1 if limit is None else limit
        if not 1 <= limit <= 10:
            raise _invalid(
                "Value for parameter MaxResults is invalid. Reason: You must enter a number that's "
                "between 1 and 10."
            )

        def listed(c: sqlite3.Connection) -> list[MoveTask]:
            self._own_queue(ctx, c, source_arn, "SourceArn")
            return mql.of_source(c, ctx.region, ctx.account_id, source_arn, limit)

        return {"Results": [_entry(t) for t in await self._core.store.read(listed)]}

    async def CancelMessageMoveTask(self, ctx: RequestContext, params: Params) -> Result:
        parsed = _parse_handle(params["TaskHandle"])
        if parsed is None:
            raise _invalid("Value for parameter TaskHandle is invalid.")
        task_id, source_arn = parsed

        def cancel(c: sqlite3.Connection) -> int:
            self._own_queue(ctx, c, source_arn, "SourceArn")
            t = mql.get(c, task_id)
            if t is None or t.source_arn != source_arn or t.status != mql.RUNNING:
                raise _no_task()
            mql.update(c, task_id, status=mql.CANCELLING, moved=t.moved, next_at=t.next_at)
            return t.moved

        moved = await self._core.store.write(cancel)
        self._wake.set()
        return {"ApproximateNumberOfMessagesMoved": moved}

    # ============================================================================================
    # the engine
    # ============================================================================================

    async def start(self) -> None:
        """Resume the tasks the store holds as running or cancelling."""
        self._runner = asyncio.create_task(self._run(), name="sqs-move-tasks")

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None

    async def _run(self) -> None:
        clock = self._core.clock
        while True:
            self._wake.clear()
            due: float | None = None
            try:
                for t in await self._core.store.read(mql.active):
                    at = await self._step(t)
                    if at is not None:
                        due = at if due is None else min(due, at)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug: keep the engine alive, try again in a second of the clock
                log.exception("message move tasks: a step failed")
                due = clock.now() + 1
            now = clock.now()
            if due is not None and due <= now:
                await asyncio.sleep(0)
                continue
            waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
            timer = None
            if due is not None:
                # registered now, not when a task would first run: an advance of the clock right
                # after this still counts
                ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                timer = clock.call_later(due - now, functools.partial(_resolve, ready))
                waiters.add(ready)
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if timer is not None:
                    timer.cancel()
                for w in waiters:
                    w.cancel()

    async def _step(self, t: MoveTask) -> float | None:
        """Run what of the task is due now: the clock time it is next due (None: it ended)."""
        now = self._core.clock.now()
        if t.status == mql.RUNNING and t.next_at > now:
            return min(t.next_at, now + 1)  # (a restarted clock may be far behind the stored one)
        touched: set[int] = set()

        def step(c: sqlite3.Connection) -> float | None:
            current = mql.get(c, t.task_id)
            if current is None or current.status not in mql.ACTIVE:
                return None
            if current.status == mql.CANCELLING:
                mql.update(c, t.task_id, status=mql.CANCELLED, moved=current.moved, next_at=current.next_at)
                return None
            return self._move(c, current, now, touched)

        at = await self._core.store.write(step)
        for queue_id in touched:
            self._core.notify(queue_id)
        return at

    def _move(self, c: sqlite3.Connection, t: MoveTask, now: float, touched: set[int]) -> float | None:
        """One step of a running task inside a store write."""
        if t.rate is None:
            budget, next_at = _CHUNK, now
        else:
            seconds = math.floor(now - t.next_at) + 1
            budget, next_at = seconds * t.rate, t.next_at + seconds
        where = parse_queue_arn(t.source_arn)
        source = sql.get_queue(c, *where) if where is not None else None
        if source is None:
            mql.update(c, t.task_id, status=mql.FAILED, moved=t.moved, next_at=next_at, failure=NO_QUEUE)
            return None
        ids = mql.movable(c, source.id, t.last_seq, now, budget)
        queues: dict[str, Queue | None] = {}
        moved, failure = t.moved, None
        for message_id in ids:
            m = sql.message(c, source.id, message_id)
            if m is None:
                continue
            arn = t.destination_arn or m.dead_letter_source
            if arn is None:
                failure = NO_SOURCE
                break
            if arn not in queues:
                target = parse_queue_arn(arn)
                queues[arn] = sql.get_queue(c, *target) if target is not None else None
            dest = queues[arn]
            if dest is None:
                failure = NO_QUEUE
                break
            sql.insert_messages(c, dest.id, [_redriven(m, dest, now)])
            sql.delete_messages(c, source.id, [message_id])
            touched.add(dest.id)
            moved += 1
        if failure is not None:
            mql.update(c, t.task_id, status=mql.FAILED, moved=moved, next_at=next_at, failure=failure)
            return None
        if not mql.movable(c, source.id, t.last_seq, now, 1):  # nothing more of the start's is visible
            mql.update(c, t.task_id, status=mql.COMPLETED, moved=moved, next_at=next_at)
            return None
        mql.update(c, t.task_id, status=mql.RUNNING, moved=moved, next_at=next_at)
        return next_at


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _redriven(m: Message, dest: Queue, now: float) -> Message:
    """The new message a moved one becomes in `dest`."""
    return Message(
        queue_id=dest.id,
        message_id=str(uuid.uuid4()),
        body=m.body,
        attributes=m.attributes,
        md5_body=m.md5_body,
        md5_attributes=m.md5_attributes,
        sender_id=m.sender_id,
        sent=now,
        visible=now,
        expires=now + dest.setting("MessageRetentionPeriod"),
        trace_header=m.trace_header,
        group_id=m.group_id,
        # (a FIFO destination deduplicates it by the id it had: never as a copy of another send)
        dedup_id=m.message_id if dest.name.endswith(".fifo") else None,
    )
