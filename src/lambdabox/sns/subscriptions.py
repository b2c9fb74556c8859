"""A subscription's endpoint and attributes, checked as SNS checks them: the protocols lambdabox
subscribes (sqs and lambda of the topic owner's own account, http/https URLs, email addresses;
sms, application and firehose refused with InvalidParameter; a FIFO topic takes SQS queues only,
FIFO or standard, and a FIFO queue only a FIFO topic), and FilterPolicy /
FilterPolicyScope / RawMessageDelivery / RedrivePolicy / DeliveryPolicy values."""

from __future__ import annotations

from lambdabox import user_json
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.sns.checks import invalid
from lambdabox.sns.delivery_policy import BACKOFF_FUNCTIONS
from lambdabox.sns.filters import SCOPES, check_policy
from lambdabox.sns.models import DELIVERED_PROTOCOLS, PROTOCOLS, SUBSCRIPTION_SETTABLE, Topic


def not_authorized(caller_account: str, action: str, resource: str, why: str = "") -> ServiceError:
    return client_error(
        "AuthorizationError",
        f"User: arn:aws:iam::{caller_account}:root is not authorized to perform: SNS:{action} on resource: "
        f"{resource}{why}",
        403,
    )


def check_endpoint(topic: Topic, protocol: str, endpoint: str | None) -> str:
    """The endpoint of a new subscription of `topic`, checked."""
    if protocol not in PROTOCOLS:
        raise invalid(f"Amazon SNS does not support this protocol string: {protocol}")
    if topic.fifo and protocol != "sqs":  # (a FIFO topic delivers to SQS queues only)
        raise invalid(f"Invalid protocol type: {protocol}")
    if protocol not in DELIVERED_PROTOCOLS:
        raise invalid(
            f"Protocol Reason: lambdabox does not deliver to {protocol} endpoints (sqs, lambda, http, "
            "https, email and email-json only)"
        )
    if protocol in ("http", "https"):
        if not (endpoint or "").lower().startswith(f"{protocol}://"):
            raise invalid(f"{protocol.upper()} endpoint URL")
        assert endpoint is not None
        return endpoint
    if protocol in ("email", "email-json"):
        local, _, domain = (endpoint or "").partition("@")
        if not local or "." not in domain or any(c.isspace() for c in endpoint or ""):
            raise invalid("Email address")
        assert endpoint is not None
        return endpoint
    parts = (endpoint or "").split(":")
    if protocol == "sqs" and (len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"] or not parts[5]):
        raise invalid("SQS endpoint ARN")
    if protocol == "sqs" and parts[5].endswith(".fifo") and not topic.fifo:
        raise invalid(
            "Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics"
        )
    if protocol == "lambda" and (
        len(parts) not in (7, 8) or parts[:3] != ["arn", "aws", "lambda"] or parts[5] != "function"
    ):
        raise invalid("Lambda endpoint ARN")
    assert endpoint is not None
    if parts[4] != topic.account:
        raise not_authorized(
            topic.account,
            "Subscribe",
            endpoint,
            " (lambdabox delivers only to the topic owner's own queues and functions)",
        )
    return endpoint


def apply_attributes(protocol: str, have: dict[str, str], given: dict[str, str]) -> dict[str, str]:
    """The subscription attributes `have` updated with `given`, each checked ("" removes the
    FilterPolicy or RedrivePolicy)."""
    out = dict(have)
    for name, value in given.items():
        if name not in SUBSCRIPTION_SETTABLE:
            raise invalid("AttributeName")
        if name == "RawMessageDelivery":
            if value.lower() not in ("true", "false"):
                raise invalid(f"RawMessageDelivery: Invalid value [{value}]. Must be true or false.")
            if value.lower() == "true" and protocol in ("lambda", "email", "email-json"):
                raise invalid("Delivery protocol [lambda] does not support raw message delivery.")
            out[name] = value.lower()
        elif name == "FilterPolicyScope":
            if value not in SCOPES:
                raise invalid(
                    f"FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or MessageAttributes"
                )
            out[name] = value
        elif name == "RedrivePolicy":
            if value:
                _check_redrive(value)
                out[name] = value
            else:
                out.pop(name, None)
        elif name == "DeliveryPolicy":
            if protocol not in ("http", "https"):
                raise invalid(
                    f"DeliveryPolicy: Delivery protocol [{protocol}] does not support delivery policies"
                )
            if value:
                _check_delivery_policy(value)
                out[name] = value
            else:
                out.pop(name, None)
        elif name == "FilterPolicy":
            if value and value.strip() not in ("{}",):
                out[name] = value
            else:
                out.pop(name, None)
        else:
            out[name] = value
    if "FilterPolicy" in out:
        check_policy(out["FilterPolicy"], out.get("FilterPolicyScope", "MessageAttributes"))
        out.setdefault("FilterPolicyScope", "MessageAttributes")
    return out


def _check_redrive(value: str) -> None:
    try:
        policy = user_json.loads(value)
    except ValueError:
        raise invalid("RedrivePolicy: failed to parse JSON.") from None
    target = policy.get("deadLetterTargetArn") if isinstance(policy, dict) else None
    if not isinstance(target, str):
        raise invalid("RedrivePolicy: deadLetterTargetArn is missing")
    parts = target.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"] or not parts[5]:
        raise invalid("RedrivePolicy: deadLetterTargetArn is an invalid arn")


def _check_delivery_policy(value: str) -> None:
    try:
        policy = user_json.loads(value)
    except ValueError:
        raise invalid("DeliveryPolicy: failed to parse JSON.") from None
    if not isinstance(policy, dict):
        raise invalid("DeliveryPolicy: must be a JSON object.")
    retry = policy.get("healthyRetryPolicy")
    if retry is None:
        return
    if not isinstance(retry, dict):
        raise invalid("DeliveryPolicy: healthyRetryPolicy must be an object")
    for key, value_ in retry.items():
        if key == "backoffFunction":
            if value_ not in BACKOFF_FUNCTIONS:
                raise invalid(
                    f"DeliveryPolicy: backoffFunction must be one of {', '.join(BACKOFF_FUNCTIONS)}"
                )
        elif not isinstance(value_, int) or isinstance(value_, bool) or value_ < 0:
            raise invalid(f"DeliveryPolicy: {key} must be a non-negative integer")
    low, high = retry.get("minDelayTarget", 20), retry.get("maxDelayTarget", 20)
    if low < 1 or high < low:
        raise invalid("DeliveryPolicy: minDelayTarget must be at least 1 and at most maxDelayTarget")
    if retry.get("numRetries", 3) > 100:
        raise invalid("DeliveryPolicy: numRetries must be at most 100")
