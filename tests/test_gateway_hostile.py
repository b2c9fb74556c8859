"""API Gateway against hostile and careless input: an issuer serving JSON nested past any parser,
absolute-form request targets, stage variables AWS refuses, APIs changed a thousand times, model
constraints answered in API Gateway's own error class; and the API key a REST method let through,
as the function sees it."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import aws_error, deploy
from lambdabox.testing import LocalLambdabox
from rest_helpers import host_of, lambda_uri, proxy_api, send

# answers any event, REST's or an HTTP API's, with 201 and the event
ECHO = {
    "app.py": "import json\ndef handler(event, context):\n    return {'statusCode': 201, 'body': json.dumps({'event': event})}\n"
}
NESTED = b"[" * 200_000 + b"]" * 200_000  # past Python's recursion limit


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("hostile") / "data", manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def fn(lbx: LocalLambdabox) -> str:
    lam = lbx.client("lambda")
    return str(lam.get_function(FunctionName=deploy(lam, ECHO))["Configuration"]["FunctionArn"])


class NestedIssuer:
    """An "identity provider" on 127.0.0.1 whose every document is JSON nested 200,000 deep."""

    def __init__(self) -> None:
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(NESTED)))
                self.end_headers()
                self.wfile.write(NESTED)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_an_issuer_serving_json_nested_too_deep_means_401_and_one_fetch(lbx: LocalLambdabox, fn: str) -> None:
    issuer = NestedIssuer()
    try:
        gw = lbx.client("apigatewayv2")
        api_id = gw.create_api(Name="nested", ProtocolType="HTTP")["ApiId"]
        integration = gw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=fn, PayloadFormatVersion="2.0"
        )["IntegrationId"]
        authorizer = gw.create_authorizer(
            ApiId=api_id, Name="idp", AuthorizerType="JWT", IdentitySource=["$request.header.Authorization"],
            JwtConfiguration={"Issuer": issuer.url, "Audience": ["a"]},
        )["AuthorizerId"]  # fmt: skip
        gw.create_route(
            ApiId=api_id, RouteKey="GET /p", Target=f"integrations/{integration}",
            AuthorizationType="JWT", AuthorizerId=authorizer,
        )  # fmt: skip
        gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(
            {"iss": issuer.url, "aud": "a", "sub": "x"}, key, algorithm="RS256", headers={"kid": "k"}
        )
        for _ in range(3):
            status, _, body = send(
                lbx, "GET", f"/_apis/{api_id}/p", headers={"Authorization": f"Bearer {token}"}
            )
            assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
        assert issuer.fetches == 1  # the failure is remembered like any answer (no refetch storm)
        # a token whose own header is nested too deep is malformed, not a crash
        nested = base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).decode().rstrip("=")
        head = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ"  # {"alg":"RS256","kid":"k"}
        for bad in ("eyJ" + "W" * 10, f"{nested}.e30.x", f"{head}.{nested}.x"):
            status, _, body = send(
                lbx, "GET", f"/_apis/{api_id}/p", headers={"Authorization": f"Bearer {bad}"}
            )
            assert status == 401
    finally:
        issuer.close()
    assert send(lbx, "GET", "/_apis/nope/x")[0] in (403, 404)  # still serving


def raw(lbx: LocalLambdabox, request: bytes) -> bytes:
    u = urlsplit(lbx.url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(request)
        out = b""
        while b"\r\n\r\n" not in out or len(out) < 12:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


V2_ECHO = {
    "app.py": "import json\ndef handler(event, context):\n    return {'statusCode': 201, 'body': json.dumps(event)}\n"
}


def test_an_absolute_form_target_is_served_by_its_own_host_and_path(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="abs", ProtocolType="HTTP", Target=fn)["ApiId"]
    port = urlsplit(lbx.url).port
    host = f"{api_id}.execute-api.localhost:{port}"
    # RFC 9112 3.2.2: the target's host wins over the Host field, and the path is the target's path
    answer = raw(
        lbx,
        f"GET http://{host}/abs/path?x=1 HTTP/1.1\r\nHost: elsewhere.invalid\r\nConnection: close\r\n\r\n".encode(),
    )
    status = int(answer.split(b" ", 2)[1])
    assert status == 201, answer[:300]
    event = json.loads(answer.split(b"\r\n\r\n", 1)[1])["event"]
    assert (event["rawPath"], event["rawQueryString"]) == ("/abs/path", "x=1")
    assert event["headers"]["host"] == host
    for target in (b"ftp://x/y", b"abs/path", b"http://user@x/y"):
        answer = raw(lbx, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), (target, answer[:100])


def test_stage_variables_aws_refuses_are_refused(lbx: LocalLambdabox, fn: str) -> None:
    gw2, gw1 = lbx.client("apigatewayv2"), lbx.client("apigateway")
    api_id = gw2.create_api(Name="vars", ProtocolType="HTTP")["ApiId"]
    with pytest.raises(ClientError) as exc:
        gw2.create_stage(ApiId=api_id, StageName="dev", StageVariables={"owner:app": "x"})
    assert aws_error(exc) == (
        "BadRequestException",
        "Invalid stage variable name: owner:app.  Please use names with only word characters.",
        400,
    )
    gw2.create_stage(ApiId=api_id, StageName="dev", StageVariables={"fn": "name-1.a_b:c/d"})
    for value in ("x$y", "", "a\nb", "x%2F"):
        with pytest.raises(ClientError) as exc:
            gw2.update_stage(ApiId=api_id, StageName="dev", StageVariables={"fn": value})
        code, message, status = aws_error(exc)
        assert (code, status) == ("BadRequestException", 400)
        assert message.startswith(f"Invalid stage variable value: {value}.  Please use values with")
    rest_id, _, _ = proxy_api(gw1, fn, stage="ok")
    with pytest.raises(ClientError) as exc:
        gw1.create_deployment(restApiId=rest_id, stageName="v", variables={"a b": "1"})
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as exc:
        gw1.update_stage(
            restApiId=rest_id,
            stageName="ok",
            patchOperations=[{"op": "replace", "path": "/variables/f", "value": "<x>"}],
        )
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    assert gw1.get_stage(restApiId=rest_id, stageName="ok").get("variables", {}) == {}


def test_an_api_changed_many_times_keeps_no_history_of_automatic_deployments(
    lbx: LocalLambdabox, fn: str
) -> None:
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="busy", ProtocolType="HTTP", Target=fn)["ApiId"]
    route = gw.create_route(
        ApiId=api_id, RouteKey="GET /r0", Target=gw.get_routes(ApiId=api_id)["Items"][0]["Target"]
    )
    for i in range(40):
        gw.update_route(ApiId=api_id, RouteId=route["RouteId"], RouteKey=f"GET /r{i + 1}")
    deployments = gw.get_deployments(ApiId=api_id)["Items"]
    stage = gw.get_stage(ApiId=api_id, StageName="$default")
    assert [d["DeploymentId"] for d in deployments] == [stage["DeploymentId"]]
    assert send(lbx, "GET", f"/_apis/{api_id}/r40")[0] == 201  # the latest is what is served
    # explicit deployments are the user's: kept
    gw.update_stage(ApiId=api_id, StageName="$default", AutoDeploy=False)
    made = [gw.create_deployment(ApiId=api_id)["DeploymentId"] for _ in range(3)]
    have = {d["DeploymentId"] for d in gw.get_deployments(ApiId=api_id)["Items"]}
    assert set(made) <= have


def test_model_constraints_are_bad_request_exceptions_in_api_gateway(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2", parameter_validation=False)  # as an SDK that checks nothing sends
    api_id = gw.create_api(Name="limits", ProtocolType="HTTP")["ApiId"]
    with pytest.raises(gw.exceptions.BadRequestException) as exc:
        gw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=fn, PayloadFormatVersion="2.0",
            TimeoutInMillis=10,
        )  # fmt: skip
    assert "failed to satisfy constraint" in str(exc.value)


def test_a_rest_method_s_api_key_reaches_the_function(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigateway")
    api_id = gw.create_rest_api(name="keyed")["id"]
    root = next(r["id"] for r in gw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    res = gw.create_resource(restApiId=api_id, parentId=root, pathPart="k")["id"]
    gw.put_method(
        restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE", apiKeyRequired=True
    )
    gw.put_integration(
        restApiId=api_id, resourceId=res, httpMethod="GET", type="AWS_PROXY",
        integrationHttpMethod="POST", uri=lambda_uri(fn),
    )  # fmt: skip
    gw.create_deployment(restApiId=api_id, stageName="prod")
    key = gw.create_api_key(name="k1", enabled=True)
    plan = gw.create_usage_plan(name="p", apiStages=[{"apiId": api_id, "stage": "prod"}])
    gw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    status, _, body = send(
        lbx, "GET", "/prod/k", host=host_of(lbx, api_id), headers={"x-api-key": key["value"]}
    )
    assert status == 201
    identity = json.loads(body)["event"]["requestContext"]["identity"]
    assert (identity["apiKey"], identity["apiKeyId"]) == (key["value"], key["id"])
    # a method that asks for no key leaves both null
    _, _, body = send(lbx, "GET", "/ok/x", host=host_of(lbx, proxy_api(gw, fn, stage="ok")[0]))
    identity = json.loads(body)["event"]["requestContext"]["identity"]
    assert (identity["apiKey"], identity["apiKeyId"]) == (None, None)


def test_an_openapi_body_with_yaml_aliases_is_refused_not_expanded(lbx: LocalLambdabox) -> None:
    levels = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    levels += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    bomb = 'openapi: "3.0.1"\ninfo: {title: bomb, version: "1"}\npaths: {}\n' + "\n".join(levels) + "\n"
    v2, v1 = lbx.client("apigatewayv2"), lbx.client("apigateway")
    with pytest.raises(ClientError) as exc:
        v2.import_api(Body=bomb)
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as exc:
        v1.import_rest_api(body=bomb.encode())
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    assert v2.get_apis()["Items"] is not None  # still serving
