"""IAM authorization of HTTP API routes end to end (http-api-access-control-iam.html): requests
signed by botocore's SigV4Auth for `execute-api`, the caller's identity in the event."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import deploy
from lambdabox.testing import LocalLambdabox

ECHO = {
    "app.py": "import json\ndef handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps(event)}\n"
}
MISMATCH = (
    b'{"message":"The request signature we calculated does not match the signature you provided. '
    b"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    b'"}'
)


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("iam") / "data", manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def api(lbx: LocalLambdabox) -> dict[str, str]:
    """An API with `POST /signed` (AWS_IAM, payload 2.0), `GET /v1` (AWS_IAM, payload 1.0) and
    `GET /open` (NONE)."""
    lam = lbx.client("lambda")
    fn = lam.get_function(FunctionName=deploy(lam, ECHO))["Configuration"]["FunctionArn"]
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="iam", ProtocolType="HTTP")["ApiId"]
    targets = {
        version: "integrations/"
        + gw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=fn, PayloadFormatVersion=version
        )["IntegrationId"]
        for version in ("1.0", "2.0")
    }
    for key, auth, version in (
        ("POST /signed", "AWS_IAM", "2.0"),
        ("GET /v1", "AWS_IAM", "1.0"),
        ("GET /open", "NONE", "2.0"),
    ):
        route = gw.create_route(ApiId=api_id, RouteKey=key, Target=targets[version], AuthorizationType=auth)
        assert route["AuthorizationType"] == auth
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return {"id": api_id, "host": f"{api_id}.execute-api.localhost:{urlsplit(lbx.url).port}"}


def call(
    lbx: LocalLambdabox, host: str, method: str, path: str, body: bytes = b"", *,
    key: str | None = "test", secret: str = "test", service: str = "execute-api", token: str | None = None,
) -> tuple[int, bytes]:  # fmt: skip
    """A request to the API by host, signed with SigV4 as an SDK signs it (unless key is None)."""
    headers = {"Content-Type": "application/json"} if body else {}
    request = AWSRequest(method=method, url=f"http://{host}{path}", data=body, headers=headers)
    if key is not None:
        SigV4Auth(Credentials(key, secret, token), service, lbx.settings.region).add_auth(request)
    u = urlsplit(lbx.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **dict(request.headers.items())})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_a_signed_request_reaches_the_function_with_the_callers_identity(
    lbx: LocalLambdabox, api: dict[str, str]
) -> None:
    status, body = call(lbx, api["host"], "POST", "/signed?a=1&b=two%20words", b'{"x": 1}')
    assert status == 200, body
    event: dict[str, Any] = json.loads(body)
    account = lbx.settings.account_id
    assert event["requestContext"]["authorizer"] == {
        "iam": {
            "accessKey": "test",
            "accountId": account,
            "callerId": account,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{account}:root",
            "userId": account,
        }
    }
    assert event["body"] == '{"x": 1}'


def test_an_iam_users_key_names_the_user(lbx: LocalLambdabox, api: dict[str, str]) -> None:
    iam = lbx.client("iam")
    user = iam.create_user(UserName="caller")["User"]
    key = iam.create_access_key(UserName="caller")["AccessKey"]
    status, body = call(
        lbx, api["host"], "POST", "/signed", key=key["AccessKeyId"], secret=key["SecretAccessKey"]
    )
    assert status == 200, body
    identity = json.loads(body)["requestContext"]["authorizer"]["iam"]
    assert identity["userArn"] == user["Arn"] and identity["userId"] == user["UserId"]
    assert identity["accessKey"] == key["AccessKeyId"]
    # payload 1.0: the caller in requestContext.identity
    status, body = call(lbx, api["host"], "GET", "/v1", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert status == 200, body
    ident = json.loads(body)["requestContext"]["identity"]
    assert (ident["userArn"], ident["user"], ident["accessKey"]) == (
        user["Arn"],
        user["UserId"],
        key["AccessKeyId"],
    )
    # a deleted key no longer signs
    iam.delete_access_key(UserName="caller", AccessKeyId=key["AccessKeyId"])
    status, body = call(
        lbx, api["host"], "POST", "/signed", key=key["AccessKeyId"], secret=key["SecretAccessKey"]
    )
    assert (status, body) == (403, b'{"message":"The security token included in the request is invalid."}')


def test_unsigned_and_badly_signed_requests_are_403(lbx: LocalLambdabox, api: dict[str, str]) -> None:
    host = api["host"]
    assert call(lbx, host, "POST", "/signed", key=None) == (
        403,
        b'{"message":"Missing Authentication Token"}',
    )
    assert call(lbx, host, "POST", "/signed", secret="wrong") == (403, MISMATCH)
    status, body = call(lbx, host, "POST", "/signed", service="lambda")
    assert status == 403 and b"Credential should be scoped to correct service: 'execute-api'" in body
    status, body = call(lbx, host, "POST", "/signed", key="nobody", secret="x")
    assert (status, body) == (403, b'{"message":"The security token included in the request is invalid."}')
    # a body changed after signing
    request = AWSRequest(method="POST", url=f"http://{host}/signed", data=b"signed")
    SigV4Auth(Credentials("test", "test"), "execute-api", lbx.settings.region).add_auth(request)
    u = urlsplit(lbx.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("POST", "/signed", body=b"tampered", headers={"Host": host, **dict(request.headers.items())})
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (403, MISMATCH)
    conn.close()
    # an Authorization header that is no SigV4 signature: IncompleteSignatureException's words
    for value, message in (
        ("Bearer sometoken",
         "'sometoken' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer sometoken'."),
        ("eyJ0eXAi.x.y",
         "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
         "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires "
         "existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=eyJ0eXAi.x.y"),
    ):  # fmt: skip
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.request("POST", "/signed", headers={"Host": host, "Authorization": value})
        resp = conn.getresponse()
        assert (resp.status, json.loads(resp.read())) == (403, {"message": message})
        conn.close()
    # a route without IAM authorization needs no signature
    assert call(lbx, host, "GET", "/open", key=None)[0] == 200
