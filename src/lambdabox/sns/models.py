"""SNS's data: topics, subscriptions, published messages and the deliveries they owe, as stored,
with the attributes AWS reports by default."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: topic attributes a caller may set (CreateTopic, SetTopicAttributes); kept, not acted on but
#: DisplayName
TOPIC_SETTABLE = frozenset(
    {
        "DisplayName",
        "Policy",
        "DeliveryPolicy",
        "KmsMasterKeyId",
        "SignatureVersion",
        "TracingConfig",
        "ArchivePolicy",
        *(
            f"{proto}{outcome}"
            for proto in ("HTTP", "SQS", "Lambda", "Application", "Firehose")
            for outcome in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")
        ),
    }
)
#: subscription attributes a caller may set (Subscribe, SetSubscriptionAttributes)
SUBSCRIPTION_SETTABLE = frozenset(
    {
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "SubscriptionRoleArn",
        "ReplayPolicy",
    }
)
#: the protocols lambdabox subscribes (email and email-json recorded, never sent to)
DELIVERED_PROTOCOLS = ("sqs", "lambda", "http", "https", "email", "email-json")
#: the protocols whose subscriptions wait for a confirmation
CONFIRMED_BY_ENDPOINT = ("http", "https", "email", "email-json")

#: the kinds of message (an envelope's Type)
NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
#: every protocol SNS knows
PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")

#: EffectiveDeliveryPolicy of a topic nobody gave a DeliveryPolicy (AWS's system default)
DEFAULT_DELIVERY_POLICY = {
    "http": {
        "defaultHealthyRetryPolicy": {
            "minDelayTarget": 20,
            "maxDelayTarget": 20,
            "numRetries": 3,
            "numMaxDelayRetries": 0,
            "numNoDelayRetries": 0,
            "numMinDelayRetries": 0,
            "backoffFunction": "linear",
        },
        "disableSubscriptionOverrides": False,
        "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
    }
}

#: what a topic's default access policy allows its owner
_DEFAULT_ACTIONS = [
    "SNS:GetTopicAttributes",
    "SNS:SetTopicAttributes",
    "SNS:AddPermission",
    "SNS:RemovePermission",
    "SNS:DeleteTopic",
    "SNS:Subscribe",
    "SNS:ListSubscriptionsByTopic",
    "SNS:Publish",
]


def default_policy(topic_arn: str, account: str) -> str:
    """AWS's default access policy of a new topic: its owner's account may do everything."""
    return json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": _DEFAULT_ACTIONS,
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
                }
            ],
        },
        separators=(",", ":"),
    )


def topic_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sns:{region}:{account}:{name}"


@dataclass(frozen=True)
class Topic:
    region: str
    account: str
    name: str
    attributes: dict[str, str]  # as set (Policy and DisplayName always there)
    tags: dict[str, str]
    created: float

    @property
    def arn(self) -> str:
        return topic_arn(self.region, self.account, self.name)


@dataclass(frozen=True)
class Subscription:
    arn: str
    topic_arn: str
    owner: str  # the account that subscribed (the topic's: lambdabox delivers only there)
    protocol: str
    endpoint: str
    attributes: dict[str, str]  # as set
    created: float
    token: str | None = None  # what confirms it (http/https/email subscriptions)
    pending: bool = False  # waiting for its confirmation: nothing is delivered to it

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery", "false").lower() == "true"

    @property
    def dead_letter_arn(self) -> str | None:
        """The SQS queue of the RedrivePolicy, if any."""
        policy = self.attributes.get("RedrivePolicy")
        if not policy:
            return None
        target = json.loads(policy).get("deadLetterTargetArn")
        return str(target) if target else None


#: a message attribute as published: {"DataType": ..., "StringValue": ... | "BinaryValue": bytes}
MessageAttributes = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Published:
    """A published message as stored until each of its deliveries is done: `message` is what
    Publish was given (a JSON object of per-protocol messages when `structure` is "json")."""

    message_id: str
    topic_arn: str
    account: str
    message: str
    subject: str | None
    structure: str | None
    attributes: MessageAttributes
    timestamp: float
    #: NOTIFICATION, or a confirmation sent to an HTTP/S endpoint: `message` is its text then,
    #: `token` its Token and (an UnsubscribeConfirmation, whose subscription is gone) `endpoint`
    #: the URL it goes to
    kind: str = NOTIFICATION
    token: str | None = None
    endpoint: str | None = None

    def text_for(self, protocol: str) -> str:
        """The message a subscription of `protocol` is sent."""
        if self.structure != "json":
            return self.message
        per_protocol = json.loads(self.message)
        return str(per_protocol.get(protocol, per_protocol["default"]))


@dataclass
class Delivery:
    """One delivery owed: `message` to the subscription `subscription_arn`."""

    id: int
    subscription_arn: str
    message: Published
    attempts: int = 0
    due: float = 0.0
