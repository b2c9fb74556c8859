"""A function's DeadLetterConfig, checked as Lambda checks it: an SQS queue or an SNS topic of
the function's region (a standard queue: FIFO queues are refused); an empty TargetArn removes it."""

from __future__ import annotations

from typing import Any

from lambdabox.aws.errors import ServiceError, client_error

_PREFIX = "Invalid dead letter queue ARN: "


def _invalid(reason: str) -> ServiceError:
    return client_error("InvalidParameterValueException", _PREFIX + reason, Type="User")


def target_of(config: Any, region: str) -> str | None:
    """The TargetArn of a DeadLetterConfig parameter (None: no dead-letter queue), or Lambda's
    answer to one it does not take."""
    arn = (config or {}).get("TargetArn") or ""
    if not arn:
        return None
    parts = arn.split(":", 5)
    if not arn.startswith("arn:") or len(parts) < 6:
        raise _invalid("ARNs must start with 'arn:'" if not arn.startswith("arn:") else "Invalid ARN.")
    _, _, service, target_region, _account, resource = parts
    if service not in ("sqs", "sns") or not resource:
        raise _invalid(
            "The service specified by the TargetArn is not supported for dead letter configuration."
        )
    if target_region != region:
        raise _invalid(
            "The resource specified by the TargetArn must be in the same region as the Lambda "
            "function it's associated with."
        )
    if service == "sqs" and resource.endswith(".fifo"):
        raise _invalid("FIFO SQS queue is not supported for dead letter configuration")
    return str(arn)
