"""REST API Lambda proxy payloads and authorizer answers as pure functions, checked against the
event AWS shows for a REST API (tests/events/apigw-rest-proxy.json: the example of
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html,
its requestContext completed with the fields the page's second example and real events carry:
requestTime, path, protocol, requestTimeEpoch, extendedRequestId, domainName, domainPrefix, and
the identity's apiKeyId, accessKey, principalOrgId), and the page's output rules."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lambdabox.gateway import rest_authorizer
from lambdabox.gateway.proxy import MalformedResult
from lambdabox.gateway.rest_models import RestAuthorizer
from lambdabox.gateway.rest_proxy import RestRequest, event, is_binary, response

FIXTURE = Path(__file__).parent / "events" / "apigw-rest-proxy.json"


def doc_request(**changes: Any) -> RestRequest:
    """The request of AWS's example: POST /testStage/hello/world?name=me to a `/{proxy+}` resource."""
    expected = json.loads(FIXTURE.read_text())
    base = RestRequest(
        method="POST",
        path="/hello/world",
        raw_query="name=me&multivalueName=you&multivalueName=me",
        headers=list(expected["headers"].items()),
        body=b'{\r\n\t"a": 1\r\n}',
        source_ip="192.168.196.186",
        api_id="gy415nuibc",
        account_id="123456789012",
        stage="testStage",
        domain_name="gy415nuibc.execute-api.us-east-1.amazonaws.com",
        request_id="deef4878-7910-11e6-8f14-25afc3e9ae33",
        time_epoch_ms=1519166937665,
        resource_id="roq9wj",
        resource_path="/{proxy+}",
        path_parameters={"proxy": "hello/world"},
        stage_variables={"stageVariableName": "stageVariableValue"},
        extended_request_id="BQGojGQ8IAMF3cw=",
    )
    return replace(base, **changes)


def test_the_event_is_the_one_aws_documents() -> None:
    assert event(doc_request()) == json.loads(FIXTURE.read_text())


def test_empty_parts_are_null_and_header_names_keep_their_case() -> None:
    got = event(doc_request(raw_query="", body=b"", path_parameters={}, stage_variables={}))
    for key in ("queryStringParameters", "multiValueQueryStringParameters", "pathParameters"):
        assert got[key] is None
    assert got["stageVariables"] is None and got["body"] is None and got["isBase64Encoded"] is False
    twice = event(doc_request(headers=[("X-Multi", "a"), ("x-multi", "b")]))
    assert twice["headers"] == {"X-Multi": "b"} and twice["multiValueHeaders"] == {"X-Multi": ["a", "b"]}


def test_binary_media_types_decide_how_a_body_reaches_the_function() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    req = doc_request(headers=[("Content-Type", "image/png")], body=png, binary_media_types=("image/*",))
    got = event(req)
    assert got["isBase64Encoded"] is True and base64.b64decode(got["body"]) == png
    text = event(replace(req, headers=[("Content-Type", "text/plain")], body=b"hi"))
    assert (text["body"], text["isBase64Encoded"]) == ("hi", False)
    assert is_binary("image/png", ["*/*"]) and is_binary("application/pdf", ["application/pdf"])
    assert not is_binary("text/plain", ["image/*"]) and not is_binary("", ["image/*"])


def test_a_base64_result_is_decoded_only_for_a_binary_accept() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    result = {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(png).decode(),
        "isBase64Encoded": True,
    }
    payload = json.dumps(result).encode()
    accepting = doc_request(headers=[("Accept", "image/png, */*")], binary_media_types=("image/png",))
    assert response(payload, accepting).body == png
    other = replace(accepting, headers=[("Accept", "text/html, image/png")])  # only the first counts
    assert response(payload, other).body == base64.b64encode(png)


def test_results_rest_apis_refuse_and_their_defaults() -> None:
    for bad in (b"not json", b'"text"', b'{"statusCode": "200"}', b'{"statusCode": 200, "headers": []}'):
        with pytest.raises(MalformedResult):
            response(bad, doc_request())
    plain = response(b'{"statusCode": 204}', doc_request())
    assert plain.status == 204 and ("Content-Type", "application/json") in plain.headers and plain.body == b""
    merged = response(
        json.dumps(
            {"statusCode": 200, "headers": {"A": "1", "B": "2"}, "multiValueHeaders": {"A": ["1", "x"]}}
        ).encode(),
        doc_request(),
    )
    assert [h for h in merged.headers if h[0] in ("A", "B")] == [("A", "1"), ("A", "x"), ("B", "2")]


def _policy(effect: str, resource: str, **extra: Any) -> bytes:
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
    return json.dumps(
        {"principalId": "me", "policyDocument": {"Version": "2012-10-17", "Statement": [statement]}, **extra}
    ).encode()


def test_authorizer_answers() -> None:
    arn = "arn:aws:execute-api:us-east-1:123456789012:gy415nuibc/testStage/POST/hello/world"
    grant = rest_authorizer.read(_policy("Allow", arn, context={"n": 1, "ok": True, "s": "x"}), False)
    assert isinstance(grant, rest_authorizer.Grant)
    assert grant.judge(arn) == {
        "principalId": "me",
        "n": "1",
        "ok": "true",
        "s": "x",
        "integrationLatency": 0,
    }
    assert grant.judge(arn.replace("/hello", "/other")) == rest_authorizer.NOT_ALLOWED
    assert json.loads(rest_authorizer.NOT_ALLOWED.body) == {
        "Message": "User is not authorized to access this resource"
    }
    denied = rest_authorizer.read(_policy("Deny", "arn:aws:execute-api:*"), False)
    assert isinstance(denied, rest_authorizer.Grant) and denied.judge(arn) == rest_authorizer.EXPLICIT_DENY
    assert rest_authorizer.read(b'{"errorMessage": "Unauthorized"}', True) == rest_authorizer.UNAUTHORIZED
    assert rest_authorizer.read(b'{"errorMessage": "boom"}', True) == rest_authorizer.FAILED
    assert rest_authorizer.FAILED.status == 500 and rest_authorizer.FAILED.body == b'{"message":null}'
    for malformed in (b"{}", _policy("Allow", arn, context={"nested": {"a": 1}}), b'{"policyDocument": {}}'):
        assert rest_authorizer.read(malformed, False) == rest_authorizer.FAILED


def test_authorizer_identity_sources() -> None:
    token = RestAuthorizer(
        "a1", "tok", "TOKEN", "uri", identity_source="method.request.header.Authorization",
        identity_validation_expression="Bearer [a-z]+",
    )  # fmt: skip
    assert rest_authorizer.identity(doc_request(headers=[("authorization", "Bearer abc")]), token) == [
        "Bearer abc"
    ]
    assert rest_authorizer.identity(doc_request(headers=[("Authorization", "Basic x")]), token) is None
    assert rest_authorizer.identity(doc_request(headers=[]), token) is None
    request = RestAuthorizer(
        "a2", "req", "REQUEST", "uri",
        identity_source="method.request.header.X-User, method.request.querystring.name, stageVariables.stageVariableName",
    )  # fmt: skip
    assert rest_authorizer.identity(doc_request(headers=[("X-User", "u")]), request) == [
        "u",
        "me",
        "stageVariableValue",
    ]
    assert rest_authorizer.identity(doc_request(headers=[]), request) is None
    arn = "arn:aws:execute-api:us-east-1:123456789012:gy415nuibc/testStage/POST/hello/world"
    assert rest_authorizer.event(doc_request(), token, arn, ["Bearer abc"]) == {
        "type": "TOKEN",
        "methodArn": arn,
        "authorizationToken": "Bearer abc",
    }
    full = rest_authorizer.event(doc_request(), request, arn, ["u"])
    assert full["type"] == "REQUEST" and full["methodArn"] == arn and "body" not in full
    assert full["pathParameters"] == {"proxy": "hello/world"}
