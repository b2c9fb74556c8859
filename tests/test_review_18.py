"""Review 18 (SQS, SNS, event source mappings from SQS): what AWS does where lambdabox, as
reviewed, did not. Each test asserts AWS's behaviour against the real server (each was a strict
expected failure until its finding was fixed)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import Server, aws_error, unique


# finding 1 (fixed): a FIFO queue subscribed to a standard topic was accepted, then every notification
# was dropped (logged as "no queue" although the queue exists)
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


# finding 2 (fixed): ReceiveRequestAttemptId was not checked (AWS: 1-128 alphanumeric or punctuation)
@pytest.mark.parametrize("attempt", ["a" * 129, "has space"])
def test_receive_request_attempt_id_is_checked(server: Server, attempt: str) -> None:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=unique("att") + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=url, ReceiveRequestAttemptId=attempt)
    code, _message, status = aws_error(exc)
    assert (code, status) == ("InvalidParameterValue", 400)
