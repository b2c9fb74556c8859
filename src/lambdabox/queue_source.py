"""SQS as Lambda's event source mappings read it: a queue named by its ARN, received from and
deleted from through SQS's own operations, in the queue's account (so a poller sees exactly what
a consumer calling ReceiveMessage would: visibility, receive counts, redrive)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lambdabox.aws import ids
from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
from lambdabox.lambda_.esm_sqs import QueueMessage
from lambdabox.sqs.api import SqsService


def _parts(queue_arn: str) -> tuple[str, str, str]:
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        raise LookupError(f"not a queue ARN: {queue_arn}")
    return parts[3], parts[4], parts[5]


class QueueConsumer:
    """`lambda_.esm_sqs.QueueSource` over an `SqsService`."""

    def __init__(self, sqs: SqsService) -> None:
        self._sqs = sqs

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
        for handle in handles:
            ctx, params = self._call(queue_arn, "DeleteMessage")
            try:
                await self._sqs.DeleteMessage(ctx, {**params, "ReceiptHandle": handle})
            except ServiceError:
                continue  # gone already (its queue deleted, or redriven)

    async def release(self, queue_arn: str, handles: Sequence[str]) -> None:
        for handle in handles:
            ctx, params = self._call(queue_arn, "ChangeMessageVisibility")
            try:
                await self._sqs.ChangeMessageVisibility(
                    ctx, {**params, "ReceiptHandle": handle, "VisibilityTimeout": 0}
                )
            except ServiceError:
                continue
