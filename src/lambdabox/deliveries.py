"""Where the outbox's records go: destination records and dead-letter messages delivered to the
target's service (an SNS topic's: published on behalf of the function's account), and a failed
delivery counted in the function's metrics."""

from __future__ import annotations

from lambdabox.aws.arns import parse_function_ref
from lambdabox.lambda_ import outbox_store
from lambdabox.lambda_.api import LambdaService
from lambdabox.lambda_.metric_hooks import (
    DEAD_LETTER_ERRORS,
    DESTINATION_DELIVERY_FAILURES,
    LambdaMetrics,
    Subject,
)
from lambdabox.lambda_.outbox import Deliver, Delivery, OnFailure
from lambdabox.lambda_.outbox_store import OutboxItem
from lambdabox.sns.api import SnsService
from lambdabox.sqs.api import SqsService


def deliveries(lambda_: LambdaService, sqs: SqsService, sns: SnsService) -> Deliver:
    """The outbox's delivery of destination records and dead-letter messages, by the target's
    service; a service lambdabox does not serve yet keeps its rows parked."""

    async def deliver(item: OutboxItem) -> Delivery:
        if item.service == "lambda":
            await lambda_.deliver_to_function(item)
            return Delivery.DELIVERED
        if item.service == "sqs":
            await sqs.deliver(item.target_arn, item.body, item.attributes, item.account)
            return Delivery.DELIVERED
        if item.service == "sns":
            await sns.publish_for(item.target_arn, item.body, item.attributes, item.account)
            return Delivery.DELIVERED
        return Delivery.PARKED

    return deliver


def delivery_failures(metrics: LambdaMetrics) -> OnFailure:
    """A failed delivery of the outbox, counted as Lambda's DeadLetterErrors (a dead-letter
    message) or DestinationDeliveryFailures (a destination's record) of the function."""

    def on_failure(item: OutboxItem, error: Exception) -> None:
        ref = parse_function_ref(item.function_arn)
        metric = (
            DEAD_LETTER_ERRORS if item.kind == outbox_store.DEAD_LETTER else DESTINATION_DELIVERY_FAILURES
        )
        metrics.count(metric, Subject(item.region, item.account, ref.name, ref.qualifier))

    return on_failure
