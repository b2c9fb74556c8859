"""SQS over the query protocol, as query-era clients speak it (older SDKs, hand-written form POSTs).

Three views of the same wire:
- every operation of SQS's model through the protocol layer in-process: the form a query-era SDK
  writes (botocore's query serializer on the model with SQS's query traits) is read as the same
  params as the json request, the answer is what botocore's QueryParser reads back, and the wire
  names are those of the SQS API reference (`Attribute.1.Name`, `MessageAttribute.1.Value.
  StringValue`, `<ReceiveMessageResult><Message>`, `<Attribute><Name>`, `<QueueUrl>` repeated...);
- a boto3 client speaking query with those traits and one speaking json drive the same server and
  see the same results, errors included (SQS's query codes in the query error XML);
- raw SigV4-signed form POSTs, also to a queue's own path without `QueueUrl`.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.model import ServiceModel, Shape

from lambdabox.aws.errors import client_error
from lambdabox.aws.protocol import ServiceProtocol, WireRequest, WireResponse, load_service_data
from lambdabox.sqs import query_traits
from lambdabox.testing import LocalLambdabox
from protocol_helpers import botocore_parse, botocore_request

NS = "http://queue.amazonaws.com/doc/2012-11-05/"
QUERY_MODEL = ServiceModel(query_traits.overlay(load_service_data("sqs")), service_name="sqs")
JSON_MODEL = ServiceModel(load_service_data("sqs"), service_name="sqs")


@pytest.fixture(scope="module", name="proto")
def proto_fixture() -> ServiceProtocol:
    return ServiceProtocol("sqs", query=query_traits.DIALECT)


# ============================================================================================
# every operation, in-process
# ============================================================================================


def _sample(shape: Shape, name: str = "", depth: int = 0) -> Any:
    """A value for `shape` with every member filled (two items per list and map)."""
    kind = shape.type_name
    if kind == "structure":
        return {n: _sample(m, n, depth + 1) for n, m in shape.members.items()}
    if kind == "list":
        return [_sample(shape.member, f"{name}{i}", depth + 1) for i in (1, 2)]
    if kind == "map":
        keys = list(getattr(shape.key, "enum", None) or ()) or ["k1", "k2"]
        return {k: _sample(shape.value, k, depth + 1) for k in keys[-2:]}
    if kind == "string":
        enum = getattr(shape, "enum", None)
        return enum[-1] if enum else f"{name or shape.name}-value"
    if kind in ("integer", "long"):
        return 3
    if kind == "boolean":
        return True
    if kind == "blob":
        return b"\x00bytes\xff"
    if kind == "timestamp":
        return dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    raise AssertionError(f"no sample for {kind}")


OPERATIONS = sorted(JSON_MODEL.operation_names)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_reads_the_query_form_as_the_json_request(
    proto: ServiceProtocol, operation: str
) -> None:
    shape = JSON_MODEL.operation_model(operation).input_shape
    params = _sample(shape) if shape is not None else {}
    query = botocore_request(QUERY_MODEL, operation, params, "query")
    assert proto.parse(query) == (operation, params)
    assert proto.parse(botocore_request(JSON_MODEL, operation, params, "json")) == (operation, params)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_answers_what_the_query_parser_reads(proto: ServiceProtocol, operation: str) -> None:
    req = botocore_request(QUERY_MODEL, operation, {}, "query")
    shape = JSON_MODEL.operation_model(operation).output_shape
    result = _sample(shape) if shape is not None else {}
    resp = proto.serialize(operation, result, "rid-1", req=req)
    text = resp.body.decode()
    assert text.startswith(f'<{operation}Response xmlns="{NS}">')
    assert text.endswith(
        f"<ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata></{operation}Response>"
    )
    if shape is not None:
        assert f'<{operation}Response xmlns="{NS}"><{operation}Result>' in text
    parsed = botocore_parse(QUERY_MODEL, operation, resp, "query")
    parsed.pop("ResponseMetadata")
    assert parsed == result
    json_resp = proto.serialize(
        operation, result, "rid-1", req=botocore_request(JSON_MODEL, operation, {}, "json")
    )
    assert json.loads(json_resp.body or b"{}") == json.loads(json.dumps(result, default=_jsonable))


def _jsonable(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else str(value)


def _form_keys(operation: str, params: dict[str, Any]) -> set[str]:
    req = botocore_request(QUERY_MODEL, operation, params, "query")
    return {k for k, _ in (pair.split("=", 1) for pair in req.body.decode().split("&"))}


ATTR = {"DataType": "String", "StringValue": "v"}

#: (operation, params, form keys the SQS API reference names for them)
FORMS: list[tuple[str, dict[str, Any], set[str]]] = [
    (
        "CreateQueue",
        {"QueueName": "q", "Attributes": {"VisibilityTimeout": "7"}, "tags": {"team": "a"}},
        {"QueueName", "Attribute.1.Name", "Attribute.1.Value", "Tag.1.Key", "Tag.1.Value"},
    ),
    ("GetQueueAttributes", {"QueueUrl": "u", "AttributeNames": ["All"]}, {"QueueUrl", "AttributeName.1"}),
    (
        "SetQueueAttributes",
        {"QueueUrl": "u", "Attributes": {"DelaySeconds": "1"}},
        {"QueueUrl", "Attribute.1.Name", "Attribute.1.Value"},
    ),
    (
        "SendMessage",
        {
            "QueueUrl": "u",
            "MessageBody": "hi",
            "MessageAttributes": {"k": ATTR, "b": {"DataType": "Binary", "BinaryValue": b"x"}},
            "MessageSystemAttributes": {"AWSTraceHeader": ATTR},
        },
        {
            "QueueUrl",
            "MessageBody",
            "MessageAttribute.1.Name",
            "MessageAttribute.1.Value.DataType",
            "MessageAttribute.1.Value.StringValue",
            "MessageAttribute.2.Name",
            "MessageAttribute.2.Value.DataType",
            "MessageAttribute.2.Value.BinaryValue",
            "MessageSystemAttribute.1.Name",
            "MessageSystemAttribute.1.Value.DataType",
            "MessageSystemAttribute.1.Value.StringValue",
        },
    ),
    (
        "ReceiveMessage",
        {
            "QueueUrl": "u",
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": ["SenderId"],
        },
        {"QueueUrl", "AttributeName.1", "MessageAttributeName.1", "MessageSystemAttributeName.1"},
    ),
    (
        "SendMessageBatch",
        {"QueueUrl": "u", "Entries": [{"Id": "a", "MessageBody": "hi", "MessageAttributes": {"k": ATTR}}]},
        {
            "QueueUrl",
            "SendMessageBatchRequestEntry.1.Id",
            "SendMessageBatchRequestEntry.1.MessageBody",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
            "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue",
        },
    ),
    (
        "DeleteMessageBatch",
        {"QueueUrl": "u", "Entries": [{"Id": "a", "ReceiptHandle": "r"}]},
        {"QueueUrl", "DeleteMessageBatchRequestEntry.1.Id", "DeleteMessageBatchRequestEntry.1.ReceiptHandle"},
    ),
    (
        "ChangeMessageVisibilityBatch",
        {"QueueUrl": "u", "Entries": [{"Id": "a", "ReceiptHandle": "r", "VisibilityTimeout": 5}]},
        {
            "QueueUrl",
            "ChangeMessageVisibilityBatchRequestEntry.1.Id",
            "ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle",
            "ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout",
        },
    ),
    ("TagQueue", {"QueueUrl": "u", "Tags": {"team": "a"}}, {"QueueUrl", "Tag.1.Key", "Tag.1.Value"}),
    ("UntagQueue", {"QueueUrl": "u", "TagKeys": ["team"]}, {"QueueUrl", "TagKey.1"}),
    (
        "AddPermission",
        {"QueueUrl": "u", "Label": "l", "AWSAccountIds": ["111122223333"], "Actions": ["SendMessage"]},
        {"QueueUrl", "Label", "AWSAccountId.1", "ActionName.1"},
    ),
]


@pytest.mark.parametrize(("operation", "params", "keys"), FORMS, ids=[f[0] for f in FORMS])
def test_the_query_form_uses_the_sqs_api_reference_parameter_names(
    proto: ServiceProtocol, operation: str, params: dict[str, Any], keys: set[str]
) -> None:
    assert _form_keys(operation, params) == keys | {"Action", "Version"}
    assert proto.parse(botocore_request(QUERY_MODEL, operation, params, "query")) == (operation, params)


#: (operation, a form with one item and no index, as the SQS API reference writes it, its params)
UNINDEXED: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    (
        "SetQueueAttributes",
        {"QueueUrl": "u", "Attribute.Name": "VisibilityTimeout", "Attribute.Value": "35"},
        {"QueueUrl": "u", "Attributes": {"VisibilityTimeout": "35"}},
    ),
    (
        "TagQueue",
        {"QueueUrl": "u", "Tag.Key": "QueueType", "Tag.Value": "Production"},
        {"QueueUrl": "u", "Tags": {"QueueType": "Production"}},
    ),
    ("UntagQueue", {"QueueUrl": "u", "TagKey": "QueueType"}, {"QueueUrl": "u", "TagKeys": ["QueueType"]}),
    (
        "ReceiveMessage",
        {"QueueUrl": "u", "AttributeName": "All"},
        {"QueueUrl": "u", "AttributeNames": ["All"]},
    ),
    (
        "DeleteMessageBatch",
        {
            "QueueUrl": "u",
            "DeleteMessageBatchRequestEntry.Id": "a",
            "DeleteMessageBatchRequestEntry.ReceiptHandle": "r",
        },
        {"QueueUrl": "u", "Entries": [{"Id": "a", "ReceiptHandle": "r"}]},
    ),
]


@pytest.mark.parametrize(("operation", "fields", "params"), UNINDEXED, ids=[u[0] for u in UNINDEXED])
def test_a_single_item_may_leave_out_its_index(
    proto: ServiceProtocol, operation: str, fields: dict[str, str], params: dict[str, Any]
) -> None:
    form = urlencode({"Action": operation, "Version": "2012-11-05", **fields}).encode()
    req = WireRequest("POST", "/", {}, {"content-type": "application/x-www-form-urlencoded"}, form)
    assert proto.parse(req) == (operation, params)


def test_indexed_items_win_over_an_unindexed_one(proto: ServiceProtocol) -> None:
    fields = {"Action": "ReceiveMessage", "Version": "2012-11-05", "QueueUrl": "u"}
    fields |= {"AttributeName": "All", "AttributeName.1": "SenderId"}
    req = WireRequest(
        "POST", "/", {}, {"content-type": "application/x-www-form-urlencoded"}, urlencode(fields).encode()
    )
    assert proto.parse(req) == ("ReceiveMessage", {"QueueUrl": "u", "AttributeNames": ["SenderId"]})


MESSAGE = {
    "MessageId": "m1",
    "ReceiptHandle": "r1",
    "MD5OfBody": "d1",
    "Body": "hi",
    "Attributes": {"SenderId": "123"},
    "MessageAttributes": {"k": ATTR},
}

#: (operation, result, XML the SQS API reference's sample responses show for it)
ANSWERS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("CreateQueue", {"QueueUrl": "u"}, ["<CreateQueueResult><QueueUrl>u</QueueUrl></CreateQueueResult>"]),
    ("GetQueueUrl", {"QueueUrl": "u"}, ["<GetQueueUrlResult><QueueUrl>u</QueueUrl></GetQueueUrlResult>"]),
    (
        "ListQueues",
        {"QueueUrls": ["u1", "u2"]},
        ["<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl></ListQueuesResult>"],
    ),
    (
        "GetQueueAttributes",
        {"Attributes": {"VisibilityTimeout": "30", "DelaySeconds": "0"}},
        [
            "<GetQueueAttributesResult><Attribute><Name>VisibilityTimeout</Name><Value>30</Value></Attribute>"
            "<Attribute><Name>DelaySeconds</Name><Value>0</Value></Attribute></GetQueueAttributesResult>"
        ],
    ),
    (
        "SendMessage",
        {"MD5OfMessageBody": "d1", "MD5OfMessageAttributes": "d2", "MessageId": "m1"},
        ["<SendMessageResult><MD5OfMessageBody>d1</MD5OfMessageBody>", "<MessageId>m1</MessageId>"],
    ),
    (
        "ReceiveMessage",
        {"Messages": [MESSAGE, MESSAGE]},
        [
            "<ReceiveMessageResult><Message><MessageId>m1</MessageId><ReceiptHandle>r1</ReceiptHandle>"
            "<MD5OfBody>d1</MD5OfBody><Body>hi</Body>"
            "<Attribute><Name>SenderId</Name><Value>123</Value></Attribute>",
            "<MessageAttribute><Name>k</Name><Value><StringValue>v</StringValue><DataType>String</DataType>"
            "</Value></MessageAttribute></Message><Message>",
        ],
    ),
    (
        "SendMessageBatch",
        {
            "Successful": [{"Id": "a", "MessageId": "m1", "MD5OfMessageBody": "d1"}],
            "Failed": [{"Id": "b", "SenderFault": True, "Code": "c", "Message": "no"}],
        },
        [
            "<SendMessageBatchResult><SendMessageBatchResultEntry><Id>a</Id><MessageId>m1</MessageId>",
            "<BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault><Code>c</Code>",
        ],
    ),
    (
        "DeleteMessageBatch",
        {"Successful": [{"Id": "a"}], "Failed": []},
        [
            "<DeleteMessageBatchResult><DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>"
        ],
    ),
    (
        "ChangeMessageVisibilityBatch",
        {"Successful": [{"Id": "a"}], "Failed": [{"Id": "b", "SenderFault": False, "Code": "c"}]},
        [
            "<ChangeMessageVisibilityBatchResultEntry><Id>a</Id></ChangeMessageVisibilityBatchResultEntry>"
            "<BatchResultErrorEntry><Id>b</Id>"
        ],
    ),
    (
        "ListQueueTags",
        {"Tags": {"QueueType": "Production"}},
        [
            "<ListQueueTagsResult><Tag><Key>QueueType</Key><Value>Production</Value></Tag></ListQueueTagsResult>"
        ],
    ),
    (
        "ListDeadLetterSourceQueues",
        {"queueUrls": ["u1", "u2"]},
        ["<ListDeadLetterSourceQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl>"],
    ),
    (
        "ListMessageMoveTasks",
        {"Results": [{"TaskHandle": "t", "Status": "RUNNING"}]},
        ["<ListMessageMoveTasksResult><ListMessageMoveTasksResultEntry><TaskHandle>t</TaskHandle>"],
    ),
]


@pytest.mark.parametrize(("operation", "result", "fragments"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_the_answer_uses_the_sqs_api_reference_element_names(
    proto: ServiceProtocol, operation: str, result: dict[str, Any], fragments: list[str]
) -> None:
    req = botocore_request(QUERY_MODEL, operation, {}, "query")
    resp = proto.serialize(operation, result, "rid-1", req=req)
    text = resp.body.decode()
    for fragment in fragments:
        assert fragment in text
    parsed = botocore_parse(QUERY_MODEL, operation, resp, "query")
    parsed.pop("ResponseMetadata")
    assert parsed == {k: v for k, v in result.items() if v}


def test_json_requests_keep_the_json_model(proto: ServiceProtocol) -> None:
    params = {"QueueUrl": "u", "MessageBody": "hi", "MessageAttributes": {"k": ATTR}}
    req = botocore_request(JSON_MODEL, "SendMessage", params, "json")
    assert proto.parse(req) == ("SendMessage", params)
    resp = proto.serialize("GetQueueAttributes", {"Attributes": {"DelaySeconds": "0"}}, "rid-1", req=req)
    assert json.loads(resp.body) == {"Attributes": {"DelaySeconds": "0"}}
    assert "xmlNamespace" not in proto.model.metadata


def test_an_error_answers_the_query_error_xml_with_the_sqs_query_code(proto: ServiceProtocol) -> None:
    req = botocore_request(QUERY_MODEL, "GetQueueUrl", {"QueueName": "nope"}, "query")
    err = client_error("QueueDoesNotExist", "The specified queue does not exist.")
    resp = proto.serialize_error(err, "rid-1", "GetQueueUrl", req=req)
    assert resp.status == 400
    assert resp.body.decode() == (
        f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type>'
        "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"
        "<Message>The specified queue does not exist.</Message></Error>"
        "<RequestId>rid-1</RequestId></ErrorResponse>"
    )
    parsed = botocore_parse(
        QUERY_MODEL, "GetQueueUrl", WireResponse(resp.status, resp.headers, resp.body), "query"
    )
    assert parsed["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


# ============================================================================================
# a query-era SDK and a json one against the server
# ============================================================================================


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("sqs-query") / "data", manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def query_sqs(lbx: LocalLambdabox, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """boto3 as a query-era SDK: SQS's model with its query traits, speaking query only."""
    data = query_traits.overlay(load_service_data("sqs"))
    data["metadata"] = {**data["metadata"], "protocol": "query", "protocols": ["query"]}
    root = tmp_path_factory.mktemp("models")
    target = root / "sqs" / data["metadata"]["apiVersion"]
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(data))
    session = botocore.session.Session()
    session.set_config_variable("data_path", str(root))
    client = boto3.Session(botocore_session=session).client(
        "sqs",
        endpoint_url=lbx.url,
        region_name=lbx.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}),
    )
    assert client.meta.service_model.protocol == "query"
    return client


@pytest.fixture(scope="module")
def json_sqs(lbx: LocalLambdabox) -> Any:
    return lbx.client("sqs")


def _clean(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def test_queues_are_the_same_through_query_and_json(query_sqs: Any, json_sqs: Any) -> None:
    url = query_sqs.create_queue(
        QueueName="lifecycle-q", Attributes={"VisibilityTimeout": "7", "MaximumMessageSize": "2048"}
    )["QueueUrl"]
    assert url == json_sqs.get_queue_url(QueueName="lifecycle-q")["QueueUrl"]
    assert _clean(query_sqs.get_queue_url(QueueName="lifecycle-q")) == {"QueueUrl": url}
    json_sqs.create_queue(QueueName="lifecycle-r")
    for kwargs in ({"QueueNamePrefix": "lifecycle-"}, {"QueueNamePrefix": "lifecycle-", "MaxResults": 1}):
        assert _clean(query_sqs.list_queues(**kwargs)) == _clean(json_sqs.list_queues(**kwargs))
    got = query_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert got == json_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert got["VisibilityTimeout"] == "7" and got["MaximumMessageSize"] == "2048"
    some = query_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "QueueArn"])
    assert set(some["Attributes"]) == {"VisibilityTimeout", "QueueArn"}
    query_sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as exc:
        json_sqs.get_queue_url(QueueName="lifecycle-q")
    assert exc.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


ATTRIBUTES = {
    "s": {"DataType": "String", "StringValue": "v"},
    "n": {"DataType": "Number.int", "StringValue": "42"},
    "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
}


def test_messages_are_the_same_through_query_and_json(
    lbx: LocalLambdabox, query_sqs: Any, json_sqs: Any
) -> None:
    url = json_sqs.create_queue(QueueName="messages-q")["QueueUrl"]
    sent = query_sqs.send_message(QueueUrl=url, MessageBody="hi", MessageAttributes=ATTRIBUTES)
    twin = json_sqs.send_message(QueueUrl=url, MessageBody="hi", MessageAttributes=ATTRIBUTES)
    assert sent["MD5OfMessageAttributes"] == twin["MD5OfMessageAttributes"]
    assert sent["MD5OfMessageBody"] == twin["MD5OfMessageBody"]
    ask = {
        "QueueUrl": url,
        "AttributeNames": ["SenderId"],
        "MessageSystemAttributeNames": ["SentTimestamp"],
        "MessageAttributeNames": ["All"],
        "VisibilityTimeout": 60,
    }
    by_query = query_sqs.receive_message(**ask)["Messages"]
    by_json = json_sqs.receive_message(**ask)["Messages"]
    assert len(by_query) == len(by_json) == 1

    def same(m: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in m.items() if k not in ("MessageId", "ReceiptHandle")}

    assert same(by_query[0]) == same(by_json[0])
    assert by_query[0]["MessageAttributes"] == ATTRIBUTES
    assert set(by_query[0]["Attributes"]) == {"SenderId", "SentTimestamp"}
    assert {by_query[0]["MessageId"], by_json[0]["MessageId"]} == {sent["MessageId"], twin["MessageId"]}
    handle = by_query[0]["ReceiptHandle"]
    query_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    again = query_sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert again[0]["Attributes"] == {"ApproximateReceiveCount": "2"}
    query_sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
    lbx.advance(61)
    left = json_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["MessageId"] for m in left] == [by_json[0]["MessageId"]]
    assert _clean(query_sqs.receive_message(QueueUrl=url)) == {}


def test_errors_are_the_same_through_query_and_json(query_sqs: Any, json_sqs: Any) -> None:
    with pytest.raises(query_sqs.exceptions.QueueDoesNotExist) as by_query:
        query_sqs.get_queue_url(QueueName="nope")
    with pytest.raises(json_sqs.exceptions.QueueDoesNotExist) as by_json:
        json_sqs.get_queue_url(QueueName="nope")
    for exc in (by_query, by_json):
        error = exc.value.response["Error"]
        assert (error["Code"], error["Message"]) == (
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
        )
    url = json_sqs.create_queue(QueueName="errors-q")["QueueUrl"]
    answers = []
    for client in (query_sqs, json_sqs):
        with pytest.raises(ClientError) as exc:
            client.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
        answers.append((exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]))
        with pytest.raises(ClientError) as exc:
            client.create_queue(QueueName="errors-q", Attributes={"Bogus": "1"})
        answers.append((exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]))
    assert answers[:2] == answers[2:]
    assert answers[1] == ("InvalidAttributeName", "Unknown Attribute Bogus.")


def _or_skip(call: Callable[..., Any], **kwargs: Any) -> Any:
    """`call(**kwargs)`; the test is skipped while lambdabox does not serve the operation (501)."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 501:
            pytest.skip(f"lambdabox does not serve {exc.operation_name} yet")
        raise


def test_set_queue_attributes_through_query(query_sqs: Any, json_sqs: Any) -> None:
    url = json_sqs.create_queue(QueueName="set-q")["QueueUrl"]
    _or_skip(
        query_sqs.set_queue_attributes,
        QueueUrl=url,
        Attributes={"VisibilityTimeout": "9", "DelaySeconds": "2"},
    )
    got = json_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "DelaySeconds"])
    assert got["Attributes"] == {"VisibilityTimeout": "9", "DelaySeconds": "2"}


def test_batches_through_query(query_sqs: Any, json_sqs: Any) -> None:
    url = json_sqs.create_queue(QueueName="batch-q")["QueueUrl"]
    entries = [
        {"Id": "a", "MessageBody": "one", "MessageAttributes": {"s": ATTRIBUTES["s"]}},
        {"Id": "b", "MessageBody": "two"},
    ]
    by_query = _clean(_or_skip(query_sqs.send_message_batch, QueueUrl=url, Entries=entries))
    assert sorted(e["Id"] for e in by_query["Successful"]) == ["a", "b"]
    by_json = _clean(json_sqs.send_message_batch(QueueUrl=url, Entries=entries))
    strip = {"MessageId"}
    assert [{k: v for k, v in e.items() if k not in strip} for e in by_query["Successful"]] == [
        {k: v for k, v in e.items() if k not in strip} for e in by_json["Successful"]
    ]
    assert by_query.get("Failed", []) == by_json.get("Failed", []) == []
    got = query_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
    handles = [{"Id": f"e{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
    changed = _clean(
        query_sqs.change_message_visibility_batch(
            QueueUrl=url, Entries=[{**h, "VisibilityTimeout": 120} for h in handles]
        )
    )
    assert sorted(e["Id"] for e in changed["Successful"]) == sorted(h["Id"] for h in handles)
    deleted = _clean(query_sqs.delete_message_batch(QueueUrl=url, Entries=handles))
    assert sorted(e["Id"] for e in deleted["Successful"]) == sorted(h["Id"] for h in handles)
    assert not deleted.get("Failed")


def test_purge_through_query(query_sqs: Any, json_sqs: Any) -> None:
    url = json_sqs.create_queue(QueueName="purge-q")["QueueUrl"]
    json_sqs.send_message(QueueUrl=url, MessageBody="hi")
    _or_skip(query_sqs.purge_queue, QueueUrl=url)
    assert "Messages" not in json_sqs.receive_message(QueueUrl=url)


def test_tags_through_query(query_sqs: Any, json_sqs: Any) -> None:
    url = query_sqs.create_queue(QueueName="tags-q", tags={"team": "a"})["QueueUrl"]
    _or_skip(query_sqs.tag_queue, QueueUrl=url, Tags={"env": "prod", "tier": "1"})
    query_sqs.untag_queue(QueueUrl=url, TagKeys=["tier"])
    tags = query_sqs.list_queue_tags(QueueUrl=url)["Tags"]
    assert tags == json_sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a", "env": "prod"}


# ============================================================================================
# hand-written form POSTs
# ============================================================================================


def _post(lbx: LocalLambdabox, fields: dict[str, str], path: str = "/") -> tuple[int, str]:
    """POST a SigV4-signed SQS query form to `path`, as a query-era SDK sends it."""
    form = urlencode({"Version": "2012-11-05", **fields}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    request = AWSRequest("POST", lbx.url + path, data=form, headers=headers)
    SigV4Auth(Credentials("test", "test"), "sqs", lbx.region).add_auth(request)
    split = urlsplit(lbx.url)
    conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=30)
    try:
        conn.request("POST", path, form, dict(request.prepare().headers))
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_hand_written_forms_get_sqs_query_answers(lbx: LocalLambdabox, json_sqs: Any) -> None:
    status, text = _post(
        lbx,
        {
            "Action": "CreateQueue",
            "QueueName": "form-q",
            "Attribute.1.Name": "DelaySeconds",
            "Attribute.1.Value": "0",
        },
    )
    assert status == 200, text
    url = json_sqs.get_queue_url(QueueName="form-q")["QueueUrl"]
    assert text.startswith(f'<CreateQueueResponse xmlns="{NS}"><CreateQueueResult><QueueUrl>{url}</QueueUrl>')
    assert "</CreateQueueResult><ResponseMetadata><RequestId>" in text
    status, text = _post(
        lbx,
        {
            "Action": "CreateQueue",
            "QueueName": "form-r",
            "Attribute.Name": "DelaySeconds",
            "Attribute.Value": "3",
        },
    )
    assert status == 200, text
    status, text = _post(
        lbx,
        {
            "Action": "GetQueueAttributes",
            "QueueUrl": url.replace("form-q", "form-r"),
            "AttributeName": "DelaySeconds",
        },
    )
    assert "<Attribute><Name>DelaySeconds</Name><Value>3</Value></Attribute>" in text, text
    status, text = _post(lbx, {"Action": "ListQueues", "QueueNamePrefix": "form-q"})
    assert f"<ListQueuesResult><QueueUrl>{url}</QueueUrl></ListQueuesResult>" in text
    fields = {
        "Action": "SendMessage",
        "QueueUrl": url,
        "MessageBody": "hello",
        "MessageAttribute.1.Name": "k",
        "MessageAttribute.1.Value.DataType": "String",
        "MessageAttribute.1.Value.StringValue": "v",
    }
    status, text = _post(lbx, fields)
    assert status == 200 and "<SendMessageResult><MD5OfMessageBody>" in text
    assert "<MD5OfMessageAttributes>" in text
    fields = {
        "Action": "ReceiveMessage",
        "QueueUrl": url,
        "AttributeName.1": "All",
        "MessageAttributeName.1": "k",
    }
    status, text = _post(lbx, fields)
    assert status == 200 and "<ReceiveMessageResult><Message><MessageId>" in text
    assert "<Body>hello</Body><Attribute><Name>SenderId</Name>" in text
    assert (
        "<MessageAttribute><Name>k</Name><Value><StringValue>v</StringValue><DataType>String</DataType>"
        "</Value></MessageAttribute></Message></ReceiveMessageResult>"
    ) in text


def test_a_form_posted_to_the_queue_path_names_the_queue(lbx: LocalLambdabox, json_sqs: Any) -> None:
    url = json_sqs.create_queue(QueueName="path-q")["QueueUrl"]
    path = urlsplit(url).path
    for where in (path, path + "/"):
        status, text = _post(lbx, {"Action": "SendMessage", "MessageBody": f"to {where}"}, where)
        assert status == 200, text
        assert "<SendMessageResult>" in text
    status, text = _post(
        lbx, {"Action": "GetQueueAttributes", "AttributeName.1": "ApproximateNumberOfMessages"}, path
    )
    assert "<Attribute><Name>ApproximateNumberOfMessages</Name><Value>2</Value></Attribute>" in text, text
    # a QueueUrl in the form wins over the path
    other = json_sqs.create_queue(QueueName="path-r")["QueueUrl"]
    status, text = _post(lbx, {"Action": "SendMessage", "MessageBody": "r", "QueueUrl": other}, path)
    assert status == 200, text
    assert [m["Body"] for m in json_sqs.receive_message(QueueUrl=other)["Messages"]] == ["r"]
    # a path naming another account's queue reaches none of the caller's
    status, text = _post(lbx, {"Action": "SendMessage", "MessageBody": "x"}, "/999999999999/path-q")
    assert status == 400
    assert "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in text
    # an operation without a queue is not given one
    status, text = _post(lbx, {"Action": "ListQueues", "QueueNamePrefix": "path-"}, path)
    assert status == 200 and text.count("<QueueUrl>") == 2
