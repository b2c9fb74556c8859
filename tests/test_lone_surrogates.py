"""A JSON escape of half a UTF-16 surrogate pair (``"\\udcff"``) is not Unicode: no UTF-8 row or
response can hold it. boto3 cannot send one, a raw client can; the codecs refuse it before
anything is stored (Lambda: InvalidRequestContentException, Logs: SerializationException), and the
account's listings keep working. A real pair (an emoji) and an escaped backslash are text as usual.
"""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any
from urllib.parse import quote, urlparse

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ROLE, Server, aws_error, make_zip, unique
from lambdabox.aws.protocol_json import MalformedInput, dump_json, load_json

LONE = ["\udcff", "\ud800", "ok\udfffok", "\ud83d"]  # low, high, inside text, a pair's first half
CODE = base64.b64encode(make_zip({"app.py": "def handler(e, c):\n    return 1\n"})).decode()


def send(
    server: Server, service: str, method: str, path: str, body: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    """Send `body` (JSON text written by hand, ASCII escapes kept as they are) signed with the
    test keys; returns (status, headers, decoded JSON body or None)."""
    request = AWSRequest(method=method, url=server.url + path, data=body.encode(), headers=headers)
    SigV4Auth(Credentials("test", "test"), service, "us-east-1").add_auth(request)
    parsed = urlparse(server.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        conn.request(method, path, body=body.encode(), headers=dict(request.headers.items()))
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(raw) if raw else None
    finally:
        conn.close()


def lambda_call(
    server: Server, method: str, path: str, document: dict[str, Any]
) -> tuple[int, dict[str, str], Any]:
    # json.dumps writes a lone surrogate as its \uXXXX escape, exactly what a raw client would send
    return send(server, "lambda", method, path, json.dumps(document), {"Content-Type": "application/json"})


def logs_call(server: Server, operation: str, document: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"Logs_20140328.{operation}"}
    return send(server, "logs", "POST", "/", json.dumps(document), headers)


def function_document(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": CODE},
        **extra,
    }


def assert_bad_lambda_content(answer: tuple[int, dict[str, str], Any]) -> None:
    status, headers, body = answer
    assert status == 400, body
    assert headers["x-amzn-errortype"].split(":")[0] == "InvalidRequestContentException"
    assert body["message"].startswith("Could not parse request body into json: ")
    assert "surrogate" in body["message"]


def assert_serialization_exception(answer: tuple[int, dict[str, str], Any]) -> None:
    status, _, body = answer
    assert status == 400, body
    assert body["__type"] == "SerializationException"


@pytest.mark.parametrize("text", LONE)
def test_create_function_with_a_lone_surrogate_is_refused_and_nothing_is_stored(
    server: Server, lam: Any, text: str
) -> None:
    name = unique()
    cases = [
        {"Description": text},
        {"Tags": {"k": text}},
        {"Tags": {text: "v"}},
        {"Environment": {"Variables": {"V": text}}},
    ]
    for extra in cases:
        assert_bad_lambda_content(
            lambda_call(server, "POST", "/2015-03-31/functions", function_document(name, **extra))
        )
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name)
    assert aws_error(exc)[0] == "ResourceNotFoundException"
    names = [
        f["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
    ]
    assert name not in names


def test_tag_resource_with_a_lone_surrogate_is_refused_and_the_function_still_reads(
    server: Server, lam: Any, create_fn: Any
) -> None:
    name = create_fn({"app.py": "def handler(e, c):\n    return 1\n"}, Tags={"kept": "yes"})
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    path = f"/2017-03-31/tags/{quote(arn, safe='')}"
    assert_bad_lambda_content(lambda_call(server, "POST", path, {"Tags": {"bad": "\udcff"}}))
    assert_bad_lambda_content(lambda_call(server, "POST", path, {"Tags": {"\udcff": "bad"}}))
    assert lam.get_function(FunctionName=name)["Tags"] == {"kept": "yes"}
    assert lam.list_tags(Resource=arn)["Tags"] == {"kept": "yes"}
    lam.list_functions()


def test_update_function_configuration_with_a_lone_surrogate_is_refused(
    server: Server, lam: Any, create_fn: Any
) -> None:
    name = create_fn({"app.py": "def handler(e, c):\n    return 1\n"}, Description="before")
    path = f"/2015-03-31/functions/{name}/configuration"
    assert_bad_lambda_content(lambda_call(server, "PUT", path, {"Description": "x\udcffy"}))
    assert lam.get_function_configuration(FunctionName=name)["Description"] == "before"


def test_surrogate_pairs_and_escaped_backslashes_are_ordinary_text(server: Server, lam: Any) -> None:
    name = unique()
    description = "\U0001f600 and a literal \\udcff"
    status, _, body = lambda_call(
        server, "POST", "/2015-03-31/functions", function_document(name, Description=description)
    )
    try:
        assert status == 201, body
        assert lam.get_function(FunctionName=name)["Configuration"]["Description"] == description
        lam.list_functions()
    finally:
        lam.delete_function(FunctionName=name)


@pytest.mark.parametrize("text", LONE)
def test_logs_refuse_lone_surrogates_before_storing(server: Server, logs: Any, text: str) -> None:
    group = unique("/surrogate/group")
    assert_serialization_exception(
        logs_call(server, "CreateLogGroup", {"logGroupName": group, "tags": {"k": text}})
    )
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []

    logs.create_log_group(logGroupName=group, tags={"kept": "yes"})
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"].removesuffix(":*")
    assert_serialization_exception(
        logs_call(server, "TagResource", {"resourceArn": arn, "tags": {text: "v"}})
    )
    assert_serialization_exception(
        logs_call(server, "TagLogGroup", {"logGroupName": group, "tags": {"k": text}})
    )
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"kept": "yes"}

    logs.create_log_stream(logGroupName=group, logStreamName="s")
    event = {"timestamp": 1_700_000_000_000, "message": f"line {text}"}
    put = {"logGroupName": group, "logStreamName": "s", "logEvents": [event]}
    assert_serialization_exception(logs_call(server, "PutLogEvents", put))
    assert logs.get_log_events(logGroupName=group, logStreamName="s")["events"] == []
    logs.describe_log_groups()


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "\\udcff"}',
        b'{"a": ["x", {"b": "\\uD800"}]}',
        b'{"\\udc00": 1}',
        b'{"a": "\\ud83d\\u0041"}',  # a high half followed by something else
        '{"a": "\\udcff"}'.encode("utf-16"),  # escapes in another encoding json.loads reads
    ],
)
def test_load_json_refuses_lone_surrogates(body: bytes) -> None:
    with pytest.raises(MalformedInput, match="surrogate"):
        load_json(body)


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"a": "\\ud83d\\ude00"}', {"a": "\U0001f600"}),
        (b'{"a": "\\\\udcff"}', {"a": "\\udcff"}),
        ('{"a": "é"}'.encode(), {"a": "é"}),
    ],
)
def test_load_json_reads_real_text(body: bytes, value: Any) -> None:
    assert load_json(body) == value


def test_header_bytes_that_are_not_utf8_are_a_bad_request(server: Server) -> None:
    # the HTTP front refuses a header value that is not UTF-8 before any service sees it (it used
    # to reach the enum check as lone surrogates and fail while writing the message: a 500)
    parsed = urlparse(server.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        conn.putrequest("POST", f"/2015-03-31/functions/{unique()}/invocations")
        conn.putheader("X-Amz-Invocation-Type", b"Event\xff")
        conn.putheader("Content-Length", "2")
        conn.endheaders(b"{}")
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    assert resp.status == 400
    assert resp.getheader("Connection", "").lower() == "close"
    assert server.client("lambda").list_functions()["Functions"] is not None


def test_a_lone_surrogate_already_stored_is_answered_as_an_escape() -> None:
    # rows stored before such requests were refused still read: JSON can spell them
    assert dump_json({"a": "x\udcffy", "b": "é"}) == b'{"a":"x\\udcffy","b":"\\u00e9"}'
    assert dump_json({"b": "é"}) == '{"b":"é"}'.encode()
