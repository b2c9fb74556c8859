"""A queue's configuration after CreateQueue: SetQueueAttributes, PurgeQueue, the tags (TagQueue,
UntagQueue, ListQueueTags) and ListDeadLetterSourceQueues. Each change is one store write that
re-reads the queue, so concurrent changes never lose one another; times come from the clock."""

from __future__ import annotations

import sqlite3
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.sqs import attributes as qattrs
from lambdabox.sqs import store as sql
from lambdabox.sqs.api import SqsService, no_queue
from lambdabox.sqs.messages import paged
from lambdabox.sqs.models import Queue
from lambdabox.sqs.redrive import source_queues, target_refusal

Params = dict[str, Any]
Result = dict[str, Any]

#: how often AWS lets a queue be purged
PURGE_INTERVAL = 60.0


def _fresh(conn: sqlite3.Connection, q: Queue) -> Queue:
    now = sql.get_queue(conn, q.region, q.account, q.name)
    if now is None or now.id != q.id:
        raise no_queue()
    return now


class QueueConfig:
    """The configuration operations of SQS, over the queues `core` finds."""

    def __init__(self, core: SqsService) -> None:
        self._core = core

    async def SetQueueAttributes(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._core.queue(ctx, params["QueueUrl"])
        given: dict[str, str] = dict(params["Attributes"])
        changes = qattrs.checked(given, q.fifo)
        now = self._core.clock.now()

        def change(c: sqlite3.Connection) -> None:
            current = _fresh(c, q)
            redrive = changes.get("RedrivePolicy")
            if redrive:
                refusal = target_refusal(c, current, redrive, given["RedrivePolicy"])
                if refusal is not None:
                    raise refusal
            sql.set_attributes(c, q.id, qattrs.applied(current.attributes, changes), now)

        await self._core.change_queue(change)
        self._core.notify(q.id)  # a shorter delay or visibility may let a long poll in
        return {}

    async def PurgeQueue(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._core.queue(ctx, params["QueueUrl"])
        now = self._core.clock.now()

        def purge(c: sqlite3.Connection) -> bool:
            current = _fresh(c, q)
            if current.purged is not None and now - current.purged < PURGE_INTERVAL:
                return False
            sql.purge(c, q.id, now)
            return True

        if not await self._core.change_queue(purge):
            raise client_error(
                "PurgeQueueInProgress",
                f"Only one PurgeQueue operation on {q.name} is allowed every {int(PURGE_INTERVAL)} seconds.",
            )
        return {}

    async def TagQueue(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._core.queue(ctx, params["QueueUrl"])
        adding: dict[str, str] = dict(params["Tags"])
        if not adding:
            raise client_error("MissingParameter", "The request must contain the parameter Tags.")

        def tag(c: sqlite3.Connection) -> None:
            current = _fresh(c, q)
            sql.set_tags(c, q.id, qattrs.check_tags(q.name, current.tags, adding))

        await self._core.change_queue(tag)
        return {}

    async def UntagQueue(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._core.queue(ctx, params["QueueUrl"])
        keys: list[str] = list(params["TagKeys"])
        if not keys or any(not 1 <= len(k) <= 128 for k in keys):
            raise client_error(
                "InvalidParameterValue", "Tag keys must be between 1 and 128 characters in length."
            )

        def untag(c: sqlite3.Connection) -> None:
            current = _fresh(c, q)
            sql.set_tags(c, q.id, {k: v for k, v in current.tags.items() if k not in keys})

        await self._core.change_queue(untag)
        return {}

    async def ListQueueTags(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._core.queue(ctx, params["QueueUrl"])
        return {"Tags": dict(q.tags)} if q.tags else {}

    async def ListDeadLetterSourceQueues(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._core.queue(ctx, params["QueueUrl"])
        names = await self._core.store.read(lambda c: source_queues(c, q))
        out: Result = {}
        limit = params.get("MaxResults")
        names = paged(names, limit, params.get("NextToken"), out)
        base = self._core.account_url(q.account, ctx)
        out["queueUrls"] = [f"{base}/{n}" for n in names]
        return out
