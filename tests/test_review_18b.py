"""Review 18b (deploys with SQS/SNS events, SNS signatures and envelopes, event source mappings):
what AWS does where lambdabox, as reviewed, did not. Each test asserts AWS's behaviour against the
real server (each was a strict expected failure until its finding was fixed)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import Server, aws_error, unique


# finding 1: a topic's SignatureVersion may only be 1 or 2 on AWS; lambdabox stores "3" (then signs
# with SHA256 anyway, so a subscriber reading SignatureVersion 3 cannot verify the envelope)
def test_set_topic_attributes_refuses_an_unknown_signature_version(server: Server) -> None:
    sns = server.client("sns")
    topic = sns.create_topic(Name=unique("sigv"))["TopicArn"]
    with pytest.raises(ClientError) as exc:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="3")
    code, _message, status = aws_error(exc)
    assert (code, status) == ("InvalidParameter", 400)


def test_create_topic_refuses_an_unknown_signature_version(server: Server) -> None:
    sns = server.client("sns")
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name=unique("sigv"), Attributes={"SignatureVersion": "3"})
    code, _message, status = aws_error(exc)
    assert (code, status) == ("InvalidParameter", 400)
