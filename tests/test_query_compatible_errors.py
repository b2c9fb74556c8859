"""Services marked awsQueryCompatible (SQS) send their query-era error code in `x-amzn-query-error`
with json errors, as AWS does, so boto3 shows `AWS.SimpleQueueService.NonExistentQueue` for
`QueueDoesNotExist`; other json services (CloudWatch Logs) send no such header.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdabox.aws.errors import InternalError, ServiceError, client_error
from lambdabox.aws.protocol import ServiceProtocol
from lambdabox.aws.query_errors import HEADER, QUERY_CODES
from protocol_helpers import FakeAws, Handler, answer, botocore_parse, botocore_request

# The fixtures these tests use, re-exported here so that pytest finds them.
from protocol_helpers import logs_fixture as logs_fixture


def raising(err: ServiceError) -> Handler:
    def handler(op: str, params: dict[str, Any]) -> dict[str, Any]:
        raise err

    return handler


@pytest.fixture(scope="module", name="sqs")
def sqs_fixture() -> ServiceProtocol:
    return ServiceProtocol("sqs")


def test_sqs_error_carries_its_query_code(sqs: ServiceProtocol) -> None:
    assert "awsQueryCompatible" in sqs.model.metadata and sqs.protocols == ("json", "query")
    req = botocore_request(sqs.model, "GetQueueUrl", {"QueueName": "nope"})
    err = client_error("QueueDoesNotExist", "The specified queue does not exist.")
    resp = sqs.serialize_error(err, "rid", "GetQueueUrl", req=req)
    assert resp.status == 400
    assert resp.headers[HEADER] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    parsed = botocore_parse(sqs.model, "GetQueueUrl", resp)["Error"]
    assert parsed == {
        "Code": "AWS.SimpleQueueService.NonExistentQueue",
        "QueryErrorCode": "QueueDoesNotExist",
        "Message": "The specified queue does not exist.",
        "Type": "Sender",
    }


def test_the_query_codes_name_sqs_error_shapes(sqs: ServiceProtocol) -> None:
    names = {shape.name for shape in sqs.model.error_shapes}
    assert set(QUERY_CODES["SQS"]) <= names


def test_boto3_sees_the_query_code_and_raises_the_modeled_exception() -> None:
    fake = answer(
        FakeAws("sqs"), raising(client_error("QueueDoesNotExist", "The specified queue does not exist."))
    )
    with pytest.raises(fake.client.exceptions.QueueDoesNotExist) as info:
        fake.client.get_queue_url(QueueName="nope")
    assert info.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert info.value.response["Error"]["Message"] == "The specified queue does not exist."

    answer(fake, raising(client_error("QueueNameExists", "A queue already exists with the same name")))
    with pytest.raises(fake.client.exceptions.QueueNameExists) as info2:
        fake.client.create_queue(QueueName="q")
    assert info2.value.response["Error"]["Code"] == "QueueAlreadyExists"


def test_unmodeled_and_internal_errors_carry_their_own_code(sqs: ServiceProtocol) -> None:
    req = botocore_request(sqs.model, "ListQueues", {})
    resp = sqs.serialize_error(InternalError("boom"), "rid", "ListQueues", req=req)
    assert (resp.status, resp.headers[HEADER]) == (500, "ServiceException;Receiver")
    # a model-validation error (no such shape in SQS's model) keeps its code
    resp = sqs.serialize_error(client_error("ValidationException", "bad"), "rid", "ListQueues", req=req)
    assert resp.headers[HEADER] == "ValidationException;Sender"
    assert botocore_parse(sqs.model, "ListQueues", resp)["Error"]["Code"] == "ValidationException"


def test_services_not_query_compatible_send_no_header(logs: ServiceProtocol) -> None:
    assert "awsQueryCompatible" not in logs.model.metadata
    req = botocore_request(logs.model, "DescribeLogGroups", {})
    err = client_error("ResourceNotFoundException", "The specified log group does not exist.")
    resp = logs.serialize_error(err, "rid", "DescribeLogGroups", req=req)
    assert HEADER not in {k.lower() for k in resp.headers}
    parsed = botocore_parse(logs.model, "DescribeLogGroups", resp)["Error"]
    assert parsed["Code"] == "ResourceNotFoundException" and "QueryErrorCode" not in parsed
    fake = answer(FakeAws("logs"), raising(err))
    with pytest.raises(ClientError) as info:
        fake.client.describe_log_groups()
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
