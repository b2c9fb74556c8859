"""SQS as Lambda's event source mappings read it: a queue named by its ARN, received from and
deleted from through SQS's own operations, in the queue's account (so a poller sees exactly what
a consumer calling ReceiveMessage would: visibility, receive counts, redrive)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from lambdabox.aws import ids
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
from lambdabox.lambda_.esm_sqs import QueueMessage
from lambdabox.sqs.api import SqsService
from lambdabox.sqs.batches import Batches


def _parts(queue_arn: str) -> tuple[str, str, str]:
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        raise LookupError(f"not a queue ARN: {queue_arn}")
    return parts[3], parts[4], parts[5]


class QueueConsumer:
    """`lambda_.esm_sqs.QueueSource` over an `SqsService`."""

    def __init__(self, sqs: SqsService, batches: Batches) -> None:
        self._sqs = sqs
        self._batches = batches

    def _call(self, queue_arn: str, operation: str) -> tuple[RequestContext, dict[str, Any]]:
        region, account, name = _parts(queue_arn)
        ctx = RequestContext(ids.request_id(), region, account, "sqs", operation)
        return ctx, {"QueueUrl": f"http://sqs/{account}/{name}"}

    async def visibility_timeout(self, queue_arn: str) -> int | None:
        try:
            ctx, params = self._call(queue_arn, "GetQueueAttributes")
            out = await self._sqs.GetQueueAttributes(ctx, {**params, "AttributeNames": ["VisibilityTimeout"]})
        except (LookupError, ServiceError):
            return None
        return int(out["Attributes"]["VisibilityTimeout"])

    async def receive(self, queue_arn: str, limit: int, wait: float) -> list[QueueMessage]:
        ctx, params = self._call(queue_arn, "ReceiveMessage")
        try:
            out = await self._sqs.ReceiveMessage(
                ctx,
                {
                    **params,
                    "MaxNumberOfMessages": limit,
                    "WaitTimeSeconds": max(0, min(20, int(wait))),
                    "AttributeNames": ["All"],
                    "MessageAttributeNames": ["All"],
                },
            )
        except ServiceError as exc:
            raise LookupError(f"{queue_arn}: {exc.code}") from exc
        return [
            QueueMessage(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m["Body"],
                md5_of_body=m["MD5OfBody"],
                attributes=dict(m.get("Attributes") or {}),
                message_attributes=dict(m.get("MessageAttributes") or {}),
                md5_of_attributes=m.get("MD5OfMessageAttributes"),
            )
            for m in out.get("Messages", [])
        ]

    async def delete(self, queue_arn: str, handles: Sequence[str]) -> None:
        """DeleteMessageBatch, ten at a time (one store write each); a message gone already (its
        queue deleted, or redriven) is skipped."""
        for at in range(0, len(handles), 10):
            ctx, params = self._call(queue_arn, "DeleteMessageBatch")
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles[at : at + 10])]
            with contextlib.suppress(ServiceError):
                await self._batches.DeleteMessageBatch(ctx, {**params, "Entries": entries})

    async def release(self, queue_arn: str, handles: Sequence[str]) -> None:
        """ChangeMessageVisibilityBatch to 0, ten at a time."""
        for at in range(0, len(handles), 10):
            ctx, params = self._call(queue_arn, "ChangeMessageVisibilityBatch")
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[at : at + 10])
            ]
            with contextlib.suppress(ServiceError):
                await self._batches.ChangeMessageVisibilityBatch(ctx, {**params, "Entries": entries})
