"""Review 18 (SQS, SNS, event source mappings from SQS): what AWS does where lambdabox, as
reviewed, does not. Each test asserts AWS's behaviour against the real server and is an expected
failure until its finding is fixed."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import Server, aws_error, unique

STRICT = {"strict": True}


# finding 1: a FIFO queue subscribed to a standard topic is accepted, then every notification is
# dropped (logged as "no queue" although the queue exists)
@pytest.mark.xfail(
    reason="review: Subscribe accepts a FIFO queue on a standard topic; AWS refuses it", **STRICT
)
def test_a_fifo_queue_cannot_subscribe_to_a_standard_topic(server: Server) -> None:
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name=unique("std"))["TopicArn"]
    name = unique("fq") + ".fifo"
    sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:000000000000:{name}")
    assert aws_error(exc) == (
        "InvalidParameter",
        "Invalid parameter: Invalid parameter: Endpoint Reason: "
        "FIFO SQS Queues can not be subscribed to standard SNS topics",
        400,
    )


# finding 2: ReceiveRequestAttemptId is not checked (AWS: 1-128 alphanumeric or punctuation)
@pytest.mark.parametrize("attempt", ["a" * 129, "has space"])
def test_receive_request_attempt_id_is_checked(server: Server, attempt: str) -> None:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=unique("att") + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=url, ReceiveRequestAttemptId=attempt)
    code, _message, status = aws_error(exc)
    assert (code, status) == ("InvalidParameterValue", 400)
