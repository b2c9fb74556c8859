"""Review 18c (hostile tenants, SNS to Lambda retries, event source mappings): what AWS does where
lambdabox, as reviewed, did not. Each test asserts AWS's behaviour against a real server (each was a
strict expected failure until its finding was fixed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from conftest import Server, aws_error, start_server, unique


@pytest.fixture(scope="module")
def two_accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("lbx18c") / "data", "--root-keys", "test:test,AKIDB18C:sb:222222222222"
    )
    yield srv
    srv.stop()


# finding 1 (fixed): another account's queue (no queue policy) was reported as not existing; AWS answers
# 403 AccessDenied ("Access to the resource ... is denied.") for an existing queue of another account
@pytest.mark.parametrize("op", ["receive", "delete", "send"])
def test_another_accounts_queue_is_access_denied(two_accounts: Server, op: str) -> None:
    owner = two_accounts.client("sqs")
    other = two_accounts.client("sqs", key="AKIDB18C", secret="sb")
    url = owner.create_queue(QueueName=unique("x18c"))["QueueUrl"]
    owner.send_message(QueueUrl=url, MessageBody="secret")
    with pytest.raises(ClientError) as exc:
        if op == "receive":
            other.receive_message(QueueUrl=url)
        elif op == "delete":
            other.delete_message(QueueUrl=url, ReceiptHandle="AQEBnotahandle")
        else:
            other.send_message(QueueUrl=url, MessageBody="y")
    code, _message, status = aws_error(exc)
    assert (code, status) == ("AccessDenied", 403)


def test_another_accounts_queue_is_never_read(two_accounts: Server) -> None:
    """Fine today: the message stays with its owner whatever the other account tries."""
    owner = two_accounts.client("sqs")
    other = two_accounts.client("sqs", key="AKIDB18C", secret="sb")
    url = owner.create_queue(QueueName=unique("x18c"))["QueueUrl"]
    owner.send_message(QueueUrl=url, MessageBody="secret")
    with pytest.raises(ClientError):
        other.receive_message(QueueUrl=url)
    got = owner.receive_message(QueueUrl=url)["Messages"]
    assert [m["Body"] for m in got] == ["secret"]


def test_subscribing_to_another_accounts_topic_is_refused(two_accounts: Server) -> None:
    """Fine today: AuthorizationError 403, as on AWS without a topic policy."""
    sns_a = two_accounts.client("sns")
    sns_b = two_accounts.client("sns", key="AKIDB18C", secret="sb")
    sqs_b = two_accounts.client("sqs", key="AKIDB18C", secret="sb")
    topic = sns_a.create_topic(Name=unique("t18c"))["TopicArn"]
    qb = sqs_b.create_queue(QueueName=unique("qb18c"))["QueueUrl"]
    arn = sqs_b.get_queue_attributes(QueueUrl=qb, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as exc:
        sns_b.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    code, _message, status = aws_error(exc)
    assert (code, status) == ("AuthorizationError", 403)
