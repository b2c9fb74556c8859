"""SQS's batch operations: SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch.

A batch is refused whole (AWS's EmptyBatchRequest, TooManyEntriesInBatchRequest,
InvalidBatchEntryId, BatchEntryIdsNotDistinct, BatchRequestTooLong) or judged entry by entry: an
entry the single operation would refuse is `Failed` with that error's code and message, the others
are `Successful`, and all of those are committed in one store write before the answer."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.sqs import store as sql
from lambdabox.sqs.api import SqsService, bad_handle
from lambdabox.sqs.messages import bad_value, check_message, fifo_ids, message_size, sent, trace_header
from lambdabox.sqs.models import Message

Params = dict[str, Any]
Result = dict[str, Any]

MAX_ENTRIES = 10
#: the most all of a SendMessageBatch's messages (bodies and attributes) may add up to
MAX_BATCH_BYTES = 262_144
_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def _checked_entries(params: Params, entry_shape: str) -> list[dict[str, Any]]:
    """The batch's entries, or AWS's error for the batch as a whole."""
    entries: list[dict[str, Any]] = list(params.get("Entries") or [])
    if not entries:
        raise client_error("EmptyBatchRequest", f"There should be at least one {entry_shape} in the request.")
    if len(entries) > MAX_ENTRIES:
        raise client_error(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_ENTRIES}. You have sent {len(entries)}.",
        )
    seen: set[str] = set()
    for entry in entries:
        if not _ID.fullmatch(entry["Id"]):
            raise client_error(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
                "It can be at most 80 letters long.",
            )
    for entry in entries:
        if entry["Id"] in seen:
            raise client_error("BatchEntryIdsNotDistinct", f"Id {entry['Id']} repeated.")
        seen.add(entry["Id"])
    return entries


def _failed(entry_id: str, error: ServiceError) -> Result:
    return {"Id": entry_id, "SenderFault": error.sender_fault, "Code": error.code, "Message": error.message}


class Batches:
    """The batch operations of SQS, over the queues and messages of `core`."""

    def __init__(self, core: SqsService) -> None:
        self._core = core

    async def SendMessageBatch(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._core.queue(ctx, params["QueueUrl"])
        entries = _checked_entries(params, "SendMessageBatchRequestEntry")
        total = sum(message_size(e["MessageBody"], dict(e.get("MessageAttributes") or {})) for e in entries)
        if total > MAX_BATCH_BYTES:
            raise client_error(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {total} bytes.",
            )
        failed: list[Result] = []
        sending: list[tuple[str, Message]] = []
        for e in entries:
            attributes = dict(e.get("MessageAttributes") or {})
            try:
                check_message(q, e["MessageBody"], attributes, e.get("DelaySeconds"))
                group, dedup = fifo_ids(
                    q, e["MessageBody"], e.get("MessageGroupId"), e.get("MessageDeduplicationId")
                )
                trace = trace_header(dict(e.get("MessageSystemAttributes") or {})) or ctx.trace_header
            except ServiceError as error:
                failed.append(_failed(e["Id"], error))
                continue
            m = self._core.new_message(
                q, e["MessageBody"], attributes, ctx.account_id, e.get("DelaySeconds"), trace, group, dedup
            )
            sending.append((e["Id"], m))
        if sending:
            await self._core.put(q, [m for _, m in sending])
        successful = [{"Id": entry_id, **sent(m)} for entry_id, m in sending]
        return {"Successful": successful, "Failed": failed}

    async def DeleteMessageBatch(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._core.queue(ctx, params["QueueUrl"])
        entries = _checked_entries(params, "DeleteMessageBatchRequestEntry")
        failed: list[Result] = []
        deleting: list[tuple[str, str, str]] = []
        for e in entries:
            parsed = self._core.receipts.parse(q.id, e["ReceiptHandle"])
            if parsed is None:
                failed.append(_failed(e["Id"], bad_handle(e["ReceiptHandle"])))
            else:
                deleting.append((e["Id"], parsed[0], parsed[1]))
        if deleting:
            ids = [m for _, m, _ in deleting]
            tokens = [t for _, _, t in deleting] if q.fifo else None
            await self._core.store.write(lambda c: sql.delete_messages(c, q.id, ids, tokens))
            if q.fifo:
                self._core.notify(q.id)  # their groups may be free for a long poll now
        return {"Successful": [{"Id": i} for i, _, _ in deleting], "Failed": failed}

    async def ChangeMessageVisibilityBatch(self, ctx: RequestContext, params: Params) -> Result:
        q = await self._core.queue(ctx, params["QueueUrl"])
        entries = _checked_entries(params, "ChangeMessageVisibilityBatchRequestEntry")
        failed: dict[str, Result] = {}
        changing: list[tuple[dict[str, Any], str, str, int]] = []
        for e in entries:
            handle: str = e["ReceiptHandle"]
            seconds: int = e.get("VisibilityTimeout", 0)
            parsed = self._core.receipts.parse(q.id, handle)
            if parsed is None:
                failed[e["Id"]] = _failed(e["Id"], bad_handle(handle))
            elif not 0 <= seconds <= 43_200:
                error = bad_value(
                    "VisibilityTimeout", seconds, "VisibilityTimeout must be >= 0 and <= 43200."
                )
                failed[e["Id"]] = _failed(e["Id"], error)
            else:
                changing.append((e, parsed[0], parsed[1], seconds))
        now = self._core.clock.now()

        def change(c: sqlite3.Connection) -> list[str]:
            return [sql.set_visible(c, q.id, mid, token, now, now + s) for _, mid, token, s in changing]

        outcomes = await self._core.store.write(change) if changing else []
        for (e, _, _, _), outcome in zip(changing, outcomes, strict=True):
            if outcome == "gone":
                error = bad_value(
                    "ReceiptHandle",
                    e["ReceiptHandle"],
                    "Message does not exist or is not available for visibility timeout change.",
                )
                failed[e["Id"]] = _failed(e["Id"], error)
            elif outcome == "not-in-flight":
                error = client_error("MessageNotInflight", "The message referred to isn't in flight.")
                failed[e["Id"]] = _failed(e["Id"], error)
        if any(s == 0 for _, _, _, s in changing):
            self._core.notify(q.id)
        successful = [{"Id": e["Id"]} for e in entries if e["Id"] not in failed]
        return {"Successful": successful, "Failed": [failed[e["Id"]] for e in entries if e["Id"] in failed]}
