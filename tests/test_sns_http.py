"""SNS's HTTP/S subscriptions through boto3 against a real server, a real HTTP endpoint on
127.0.0.1 receiving what it is sent: the confirmation handshake (SubscribeURL and
ConfirmSubscription), notifications, the UnsubscribeURL and UnsubscribeConfirmation, signatures
verified with the certificate fetched from the SigningCertURL as AWS's docs tell a subscriber to
(SignatureVersion 1 and 2, and on SQS envelopes; a Lambda event's in test_sns.py), retries by the delivery policy on the manual
clock into the dead-letter queue, endpoints off the host refused, email subscriptions recorded."""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conftest import aws_error, wait_until
from lambdabox.testing import LocalLambdabox
from test_sns import queue, received

ACCOUNT = "000000000000"


class Received:
    """One request the endpoint received."""

    def __init__(self, path: str, headers: dict[str, str], body: bytes) -> None:
        self.path = path
        self.headers = headers
        self.body = body

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Endpoint:
    """A subscriber's HTTP endpoint on 127.0.0.1: records each POST, answers `statuses` in turn
    (then 200)."""

    def __init__(self) -> None:
        self.got: list[Received] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer._lock:
                    outer.got.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, n: int) -> list[Received]:
        wait_until(lambda: len(self.got) >= n)
        return self.got[:n]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    yield e
    e.close()


def verify(message: dict[str, Any]) -> None:
    """Verify an SNS message's signature as AWS's docs tell a subscriber to: the certificate from
    the SigningCertURL, the string to sign from the message's fields, SHA1 or SHA256 by its
    SignatureVersion."""
    cert_url = message.get("SigningCertURL") or message["SigningCertUrl"]
    with urllib.request.urlopen(cert_url) as resp:
        cert = x509.load_pem_x509_certificate(resp.read())
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    signed = "".join(f"{k}\n{message[k]}\n" for k in names if message.get(k) is not None).encode()
    digest = hashes.SHA256() if message["SignatureVersion"] == "2" else hashes.SHA1()
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(base64.b64decode(message["Signature"]), signed, padding.PKCS1v15(), digest)  # raises if bad


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url) as resp:
        return resp.status, resp.read().decode()


def test_the_handshake_the_notifications_and_the_unsubscribe_url(
    lbx: LocalLambdabox, endpoint: Endpoint
) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="hooks")["TopicArn"]
    assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)["SubscriptionArn"] == (
        "pending confirmation"
    )
    (confirmation,) = endpoint.wait(1)
    assert confirmation.path == "/hook"
    headers = confirmation.headers
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert headers["x-amz-sns-topic-arn"] == topic
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
    assert "x-amz-sns-subscription-arn" not in headers
    body = confirmation.json
    assert list(body) == [
        "Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL", "Timestamp", "SignatureVersion",
        "Signature", "SigningCertURL",
    ]  # fmt: skip
    assert headers["x-amz-sns-message-id"] == body["MessageId"]
    assert body["Message"].startswith(f"You have chosen to subscribe to the topic {topic}.")
    assert body["SubscribeURL"].startswith(f"{lbx.url}/?Action=ConfirmSubscription&TopicArn={topic}&Token=")
    assert body["SigningCertURL"].startswith(lbx.url + "/SimpleNotificationService-")
    verify(body)

    (listed,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (listed["SubscriptionArn"], listed["Endpoint"], listed["Protocol"]) == (
        "PendingConfirmation", endpoint.url, "http",
    )  # fmt: skip
    attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert (attrs["SubscriptionsConfirmed"], attrs["SubscriptionsPending"]) == ("0", "1")

    # nothing is delivered before the confirmation
    sns.publish(TopicArn=topic, Message="too early")
    wait_until(lambda: lbx.app.sns_deliveries.backlog == 0)
    assert len(endpoint.got) == 1

    status, answer = get(body["SubscribeURL"])
    assert status == 200 and "<ConfirmSubscriptionResponse" in answer
    sub_arn = answer.split("<SubscriptionArn>")[1].split("</SubscriptionArn>")[0]
    assert sub_arn.startswith(topic + ":")
    sub = sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
    assert (sub["PendingConfirmation"], sub["ConfirmationWasAuthenticated"]) == ("false", "false")

    sns.publish(TopicArn=topic, Message="hello", Subject="Greeting")
    _, note = endpoint.wait(2)
    assert note.headers["x-amz-sns-message-type"] == "Notification"
    assert note.headers["x-amz-sns-subscription-arn"] == sub_arn
    message = note.json
    assert (message["Message"], message["Subject"], message["SignatureVersion"]) == ("hello", "Greeting", "1")
    verify(message)

    # the UnsubscribeURL ends it, and the endpoint is told
    status, answer = get(message["UnsubscribeURL"])
    assert status == 200 and "<UnsubscribeResponse" in answer
    assert sns.list_subscriptions()["Subscriptions"] == []
    _, _, bye = endpoint.wait(3)
    assert bye.headers["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
    assert bye.headers["x-amz-sns-subscription-arn"] == sub_arn
    assert bye.json["Message"].startswith(f"You have chosen to deactivate subscription {sub_arn}.")
    verify(bye.json)


def test_confirm_subscription_signature_version_2_and_unsubscribe(
    lbx: LocalLambdabox, endpoint: Endpoint
) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="v2", Attributes={"SignatureVersion": "2"})["TopicArn"]
    pending = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=endpoint.url, ReturnSubscriptionArn=True
    )
    sub_arn = pending["SubscriptionArn"]
    assert sub_arn.startswith(topic + ":")
    assert (
        sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]["PendingConfirmation"]
        == "true"
    )
    (confirmation,) = endpoint.wait(1)
    assert confirmation.json["SignatureVersion"] == "2"
    verify(confirmation.json)

    with pytest.raises(sns.exceptions.InvalidParameterException) as exc:
        sns.confirm_subscription(TopicArn=topic, Token="not-the-token")
    assert aws_error(exc) == ("InvalidParameter", "Invalid parameter: Token", 400)
    token = confirmation.json["Token"]
    confirmed = sns.confirm_subscription(TopicArn=topic, Token=token, AuthenticateOnUnsubscribe="true")
    assert confirmed["SubscriptionArn"] == sub_arn
    assert sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"] == sub_arn  # still good
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
    assert (attrs["PendingConfirmation"], attrs["ConfirmationWasAuthenticated"]) == ("false", "true")
    effective = json.loads(attrs["EffectiveDeliveryPolicy"])["healthyRetryPolicy"]
    assert (effective["numRetries"], effective["minDelayTarget"], effective["backoffFunction"]) == (
        3,
        20,
        "linear",
    )

    sns.publish(TopicArn=topic, Message="signed with SHA256")
    _, note = endpoint.wait(2)
    assert note.json["SignatureVersion"] == "2"
    verify(note.json)

    # raw delivery, with the content type of the subscription's delivery policy
    sns.set_subscription_attributes(
        SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    sns.set_subscription_attributes(
        SubscriptionArn=sub_arn, AttributeName="DeliveryPolicy",
        AttributeValue=json.dumps({"requestPolicy": {"headerContentType": "application/json"}}),
    )  # fmt: skip
    sns.publish(TopicArn=topic, Message='{"raw": true}')
    _, _, raw = endpoint.wait(3)
    assert raw.body == b'{"raw": true}'
    assert (raw.headers["x-amz-sns-rawdelivery"], raw.headers["content-type"]) == ("true", "application/json")

    # confirmed with AuthenticateOnUnsubscribe: the unsigned UnsubscribeURL is refused
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(note.json["UnsubscribeURL"])
    assert refused.value.code == 403
    sns.unsubscribe(SubscriptionArn=sub_arn)
    _, _, _, bye = endpoint.wait(4)
    assert bye.headers["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
    verify(bye.json)


def test_failed_posts_are_retried_by_the_delivery_policy_then_dead_lettered(
    lbx: LocalLambdabox, endpoint: Endpoint
) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="flaky")["TopicArn"]
    dlq_url, dlq_arn = queue(lbx, "hook-dlq")
    sub_arn = sns.subscribe(
        TopicArn=topic, Protocol="http", Endpoint=endpoint.url, ReturnSubscriptionArn=True,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
    )["SubscriptionArn"]  # fmt: skip
    (confirmation,) = endpoint.wait(1)
    sns.confirm_subscription(TopicArn=topic, Token=confirmation.json["Token"])

    # AWS's default HTTP/S policy: 3 retries 20 s apart; a 4xx answer is delivered
    endpoint.statuses = [404]
    sns.publish(TopicArn=topic, Message="not found is an answer")
    endpoint.wait(2)
    wait_until(lambda: lbx.app.sns_deliveries.backlog == 0)

    endpoint.statuses = [500, 503, 502, 500]
    sns.publish(TopicArn=topic, Message="down")
    endpoint.wait(3)
    for attempt in range(4, 7):
        lbx.advance(19)
        wait_until(lambda: lbx.app.sns_deliveries.activity().running == 0)
        assert len(endpoint.got) == attempt - 1  # not yet: the retry is 20 s after the failure
        lbx.advance(1)
        endpoint.wait(attempt)
    (dead,) = received(lbx, dlq_url)
    assert json.loads(dead["Body"])["Message"] == "down"
    assert json.loads(dead["Body"])["UnsubscribeURL"].endswith(sub_arn)

    # a policy of the subscription's own: no retries
    sns.set_subscription_attributes(
        SubscriptionArn=sub_arn, AttributeName="DeliveryPolicy",
        AttributeValue=json.dumps({"healthyRetryPolicy": {"numRetries": 0}}),
    )  # fmt: skip
    endpoint.statuses = [500]
    sns.publish(TopicArn=topic, Message="once")
    endpoint.wait(7)
    (dead,) = received(lbx, dlq_url)
    assert json.loads(dead["Body"])["Message"] == "once"


def test_sqs_envelopes_verify_and_the_key_survives_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        sns = lbx.client("sns")
        topic = sns.create_topic(Name="t")["TopicArn"]
        url, arn = queue(lbx, "q")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        sns.publish(TopicArn=topic, Message="to a queue")
        (m,) = received(lbx, url)
        first = json.loads(m["Body"])
        verify(first)
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        cert_path = urlsplit(first["SigningCertURL"]).path
        verify({**first, "SigningCertURL": lbx.url + cert_path})  # the same key and certificate
        lbx.client("sns").publish(TopicArn=topic, Message="again")
        url = lbx.client("sqs").get_queue_url(QueueName="q")["QueueUrl"]
        (m,) = received(lbx, url)
        again = json.loads(m["Body"])
        assert urlsplit(again["SigningCertURL"]).path == cert_path
        verify(again)


def test_endpoints_off_the_host_are_refused(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    for url in ("http://192.0.2.1/hook", "https://10.0.0.1:8443/x", "http://[2001:db8::1]/"):
        with pytest.raises(sns.exceptions.InvalidParameterException) as exc:
            sns.subscribe(TopicArn=topic, Protocol=url.split(":")[0], Endpoint=url)
        assert "not a loopback address: lambdabox sends nothing off the host" in aws_error(exc)[1], url
    # nor may SNS carry a caller's request to lambdabox's own endpoints
    for url in (lbx.url + "/_lambdabox/clock", lbx.url + "/%5Flambdabox/faults"):
        with pytest.raises(sns.exceptions.InvalidParameterException) as exc:
            sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=url)
        assert "is one of lambdabox's own endpoints" in aws_error(exc)[1], url
    # a name that resolves to loopback is fine (nothing listens there: the confirmation fails)
    assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://localhost:9/")[
        "SubscriptionArn"
    ] == ("pending confirmation")


def test_email_subscriptions_are_recorded_pending_and_sent_nothing(lbx: LocalLambdabox) -> None:
    sns = lbx.client("sns")
    topic = sns.create_topic(Name="t")["TopicArn"]
    for protocol in ("email", "email-json"):
        arn = sns.subscribe(
            TopicArn=topic, Protocol=protocol, Endpoint="someone@example.com", ReturnSubscriptionArn=True
        )["SubscriptionArn"]
        assert (
            sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"]
            == "true"
        )
    listed = sns.list_subscriptions()["Subscriptions"]
    assert sorted((s["Protocol"], s["SubscriptionArn"]) for s in listed) == [
        ("email", "PendingConfirmation"), ("email-json", "PendingConfirmation"),
    ]  # fmt: skip
    sns.publish(TopicArn=topic, Message="nobody reads this")
    assert lbx.app.sns_deliveries.backlog == 0


def test_a_confirmation_owed_survives_a_restart(tmp_path: Path, endpoint: Endpoint) -> None:
    endpoint.statuses = [503]
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        sns = lbx.client("sns")
        topic = sns.create_topic(Name="t")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
        endpoint.wait(1)  # refused: retried in 20 s
        wait_until(lambda: lbx.app.sns_deliveries.activity().running == 0)
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        assert lbx.app.sns_deliveries.backlog == 1
        lbx.advance(3600)
        _, again = endpoint.wait(2)
        assert again.json["Type"] == "SubscriptionConfirmation"
        assert again.json["SubscribeURL"].startswith(lbx.url + "/?Action=ConfirmSubscription")
        status, _ = get(again.json["SubscribeURL"])
        assert status == 200
        (sub,) = lbx.client("sns").list_subscriptions()["Subscriptions"]
        assert sub["SubscriptionArn"].startswith(topic + ":")
