"""What a subscription receives: AWS's notification JSON (an SQS queue's message body, an HTTP/S
endpoint's POST), the raw message with its attributes (RawMessageDelivery), AWS's SNS event (a
Lambda function's), and the SubscriptionConfirmation / UnsubscribeConfirmation an HTTP/S endpoint
is sent, with the HTTP headers SNS sends them with.

Every envelope is signed by the server's key (signing.py) in the topic's SignatureVersion; its
SigningCertURL, SubscribeURL and UnsubscribeURL are on lambdabox's own endpoint, where links.py
serves them.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from typing import Any
from urllib.parse import quote

from lambdabox.sns.models import NOTIFICATION, MessageAttributes, Published
from lambdabox.sns.signing import Signer, string_to_sign

USER_AGENT = "Amazon Simple Notification Service Agent"


def timestamp(epoch: float) -> str:
    """ISO 8601 in UTC with milliseconds, as SNS writes it (2026-12-03T12:00:00.123Z)."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def envelope_attributes(attributes: MessageAttributes) -> dict[str, dict[str, str]]:
    """Message attributes as a notification carries them: {name: {Type, Value}} (Binary in base64)."""
    out = {}
    for name, value in attributes.items():
        if "BinaryValue" in value:
            text = base64.b64encode(bytes(value["BinaryValue"])).decode()
        else:
            text = str(value.get("StringValue", ""))
        out[name] = {"Type": str(value["DataType"]), "Value": text}
    return out


def raw_attributes(attributes: MessageAttributes) -> dict[str, tuple[str, str | bytes]]:
    """A raw delivery's SQS message attributes: name -> (DataType, string or bytes)."""
    out: dict[str, tuple[str, str | bytes]] = {}
    for name, value in attributes.items():
        if "BinaryValue" in value:
            out[name] = (str(value["DataType"]), bytes(value["BinaryValue"]))
        else:
            out[name] = (str(value["DataType"]), str(value.get("StringValue", "")))
    return out


def subscribe_message(topic_arn: str) -> str:
    return (
        f"You have chosen to subscribe to the topic {topic_arn}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message."
    )


def unsubscribe_message(subscription_arn: str) -> str:
    return (
        f"You have chosen to deactivate subscription {subscription_arn}.\n"
        "To cancel this operation and restore the subscription, visit the SubscribeURL included in this "
        "message."
    )


class Envelopes:
    """Builds and signs what subscriptions receive, its URLs on lambdabox's `endpoint`."""

    def __init__(self, signer: Signer, endpoint: str) -> None:
        self.signer = signer
        self._endpoint = endpoint.rstrip("/")
        #: signatures by (version, digest of the string to sign): a message fanned out to many
        #: subscriptions signs the same fields, and is signed once (an RSA signature is costly)
        self._signatures: dict[tuple[str, bytes], str] = {}

    def _sign(self, fields: dict[str, Any], version: str) -> str:
        key = (version, hashlib.sha256(string_to_sign(fields)).digest())
        signature = self._signatures.get(key)
        if signature is None:
            if len(self._signatures) >= 4096:
                self._signatures.clear()
            signature = self._signatures[key] = self.signer.sign(fields, version)
        return signature

    @property
    def cert_url(self) -> str:
        return self._endpoint + self.signer.cert_path

    def subscribe_url(self, topic_arn: str, token: str) -> str:
        return f"{self._endpoint}/?Action=ConfirmSubscription&TopicArn={quote(topic_arn, safe=':')}&Token={token}"

    def unsubscribe_url(self, subscription_arn: str) -> str:
        return f"{self._endpoint}/?Action=Unsubscribe&SubscriptionArn={quote(subscription_arn, safe=':')}"

    def _notification_fields(
        self, m: Published, text: str, subscription_arn: str, version: str
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "Type": NOTIFICATION,
            "MessageId": m.message_id,
            "TopicArn": m.topic_arn,
            "Subject": m.subject,
            "Message": text,
            "Timestamp": timestamp(m.timestamp),
            "SignatureVersion": version,
        }
        fields["Signature"] = self._sign(fields, version)
        fields["SigningCertURL"] = self.cert_url
        fields["UnsubscribeURL"] = self.unsubscribe_url(subscription_arn)
        return fields

    def notification(self, m: Published, text: str, subscription_arn: str, version: str = "1") -> str:
        """The JSON body an SQS or HTTP/S subscription receives (no Subject when none was given, no
        MessageAttributes when there are none)."""
        fields = self._notification_fields(m, text, subscription_arn, version)
        if fields["Subject"] is None:
            del fields["Subject"]
        if m.attributes:
            fields["MessageAttributes"] = envelope_attributes(m.attributes)
        return json.dumps(fields)

    def confirmation(self, m: Published, version: str = "1") -> str:
        """The SubscriptionConfirmation or UnsubscribeConfirmation `m` stands for, as JSON."""
        assert m.token is not None
        fields: dict[str, Any] = {
            "Type": m.kind,
            "MessageId": m.message_id,
            "Token": m.token,
            "TopicArn": m.topic_arn,
            "Message": m.message,
            "SubscribeURL": self.subscribe_url(m.topic_arn, m.token),
            "Timestamp": timestamp(m.timestamp),
            "SignatureVersion": version,
        }
        fields["Signature"] = self._sign(fields, version)
        fields["SigningCertURL"] = self.cert_url
        return json.dumps(fields)

    def lambda_event(self, m: Published, text: str, subscription_arn: str, version: str = "1") -> bytes:
        """AWS's SNS event for a Lambda subscription: one record (Subject null when none was given;
        the URLs spelled SigningCertUrl / UnsubscribeUrl, as Lambda's event has them)."""
        fields = self._notification_fields(m, text, subscription_arn, version)
        sns = {
            "Type": fields["Type"],
            "MessageId": fields["MessageId"],
            "TopicArn": fields["TopicArn"],
            "Subject": fields["Subject"],
            "Message": fields["Message"],
            "Timestamp": fields["Timestamp"],
            "SignatureVersion": fields["SignatureVersion"],
            "Signature": fields["Signature"],
            "SigningCertUrl": fields["SigningCertURL"],
            "UnsubscribeUrl": fields["UnsubscribeURL"],
            "MessageAttributes": envelope_attributes(m.attributes),
        }
        record = {
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription_arn,
            "Sns": sns,
        }
        return json.dumps({"Records": [record]}).encode()


def http_headers(
    m: Published, subscription_arn: str | None, content_type: str, *, raw: bool = False
) -> dict[str, str]:
    """The headers SNS POSTs a message to an HTTP/S endpoint with (no subscription ARN on a
    SubscriptionConfirmation, whose subscription is not confirmed yet)."""
    headers = {
        "x-amz-sns-message-type": m.kind,
        "x-amz-sns-message-id": m.message_id,
        "x-amz-sns-topic-arn": m.topic_arn,
    }
    if subscription_arn is not None:
        headers["x-amz-sns-subscription-arn"] = subscription_arn
    if raw:
        headers["x-amz-sns-rawdelivery"] = "true"
    headers["Content-Type"] = content_type
    headers["User-Agent"] = USER_AGENT
    return headers
