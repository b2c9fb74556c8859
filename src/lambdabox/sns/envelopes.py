"""What a subscription receives: AWS's notification JSON (an SQS queue's message body), the raw
message with its attributes (RawMessageDelivery), or AWS's SNS event (a Lambda function's).

lambdabox has no AWS signing certificate: `Signature` is the base64 of the SHA-1 digest of the
string AWS signs (its documented fields, in order), stable for a message but not an RSA signature;
`SigningCertURL` names a certificate lambdabox does not serve; `UnsubscribeURL` has AWS's form
(lambdabox does not serve it yet).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from typing import Any
from urllib.parse import quote

from lambdabox.sns.models import MessageAttributes, Published

CERT_PATH = "/_lambdabox/sns/SimpleNotificationService-lambdabox.pem"


def timestamp(epoch: float) -> str:
    """ISO 8601 in UTC with milliseconds, as SNS writes it (2026-12-03T12:00:00.123Z)."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _signature(fields: dict[str, Any]) -> str:
    signed = "".join(
        f"{k}\n{fields[k]}\n"
        for k in ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
        if fields.get(k) is not None
    )
    return base64.b64encode(hashlib.sha1(signed.encode()).digest()).decode()


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


def _common(m: Published, text: str, subscription_arn: str, endpoint: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": m.message_id,
        "TopicArn": m.topic_arn,
        "Subject": m.subject,
        "Message": text,
        "Timestamp": timestamp(m.timestamp),
    }
    fields["SignatureVersion"] = "1"
    fields["Signature"] = _signature(fields)
    fields["SigningCertURL"] = endpoint + CERT_PATH
    fields["UnsubscribeURL"] = (
        f"{endpoint}/?Action=Unsubscribe&SubscriptionArn={quote(subscription_arn, safe=':')}"
    )
    return fields


def notification(m: Published, text: str, subscription_arn: str, endpoint: str) -> str:
    """The JSON body an SQS subscription receives (no Subject when none was given, no
    MessageAttributes when there are none)."""
    fields = _common(m, text, subscription_arn, endpoint)
    if fields["Subject"] is None:
        del fields["Subject"]
    if m.attributes:
        fields["MessageAttributes"] = envelope_attributes(m.attributes)
    return json.dumps(fields)


def raw_attributes(attributes: MessageAttributes) -> dict[str, tuple[str, str | bytes]]:
    """A raw delivery's SQS message attributes: name -> (DataType, string or bytes)."""
    out: dict[str, tuple[str, str | bytes]] = {}
    for name, value in attributes.items():
        if "BinaryValue" in value:
            out[name] = (str(value["DataType"]), bytes(value["BinaryValue"]))
        else:
            out[name] = (str(value["DataType"]), str(value.get("StringValue", "")))
    return out


def lambda_event(m: Published, text: str, subscription_arn: str, endpoint: str) -> bytes:
    """AWS's SNS event for a Lambda subscription: one record (Subject null when none was given;
    the URLs spelled SigningCertUrl / UnsubscribeUrl, as Lambda's event has them)."""
    fields = _common(m, text, subscription_arn, endpoint)
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
