"""An error's query-era name: the code and fault AWS's query protocol gives a modeled error, and the
`x-amzn-query-error: <Code>;<Sender|Receiver>` header that `awsQueryCompatible` services (SQS,
CloudWatch) send with their json and CBOR errors so SDKs can still show that code.

The code comes from the error shape's `error.code` in botocore's model, else the shape's name.
Some models lost it when their service moved off the query protocol: botocore's json model of SQS
has no `error` block at all, while the service still sends `AWS.SimpleQueueService.NonExistentQueue`
for `QueueDoesNotExist`. `QUERY_CODES` restores those codes from the services' Smithy models
(their `@awsQueryError` traits, as aws-sdk-js-v3's generated SQS schema carries them), keyed by
the model's `serviceId` and the error shape's name.

botocore's json and CBOR parsers read the header as `Error.Code` (the query code) and keep the
wire's `__type` as `Error.QueryErrorCode`, from which boto3 picks the exception class.
"""

from __future__ import annotations

from botocore.model import ServiceModel, Shape

from lambdabox.aws.errors import ServiceError

HEADER = "x-amzn-query-error"

#: serviceId -> error shape name -> query code, where botocore's model does not say
QUERY_CODES: dict[str, dict[str, str]] = {
    "SQS": {
        "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
        "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
        "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
        "KmsAccessDenied": "KMS.AccessDeniedException",
        "KmsDisabled": "KMS.DisabledException",
        "KmsInvalidKeyUsage": "KMS.InvalidKeyUsageException",
        "KmsInvalidState": "KMS.InvalidStateException",
        "KmsNotFound": "KMS.NotFoundException",
        "KmsOptInRequired": "KMS.OptInRequired",
        "KmsThrottled": "KMS.ThrottlingException",
        "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
        "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
        "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
        "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
        "QueueNameExists": "QueueAlreadyExists",
        "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    },
}


class QueryErrors:
    """The query-era code and fault of one service's errors."""

    def __init__(self, model: ServiceModel) -> None:
        #: whether the service sends `x-amzn-query-error` in protocols other than query
        self.compatible: bool = "awsQueryCompatible" in model.metadata
        self._codes = QUERY_CODES.get(str(model.metadata.get("serviceId")), {})

    def code_and_fault(self, shape: Shape | None, error: ServiceError) -> tuple[str, bool]:
        """(query code, sender fault) of `error`, whose modeled shape (if any) is `shape`.

        The shape's `senderFault` decides the fault where the model states it, else the error's own
        `sender_fault` does."""
        if shape is None:
            return error.code, error.sender_fault
        meta = shape.metadata.get("error") or {}
        code = meta.get("code") or self._codes.get(shape.name) or shape.name
        sender = bool(meta.get("senderFault", error.sender_fault))
        return str(code), sender

    def headers(self, shape: Shape | None, error: ServiceError) -> dict[str, str]:
        """`{"x-amzn-query-error": "<Code>;<Sender|Receiver>"}` for query-compatible services, else {}."""
        if not self.compatible:
            return {}
        code, sender = self.code_and_fault(shape, error)
        return {HEADER: f"{code};{'Sender' if sender else 'Receiver'}"}
