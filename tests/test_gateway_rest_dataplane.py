"""The REST API data plane end to end: resource selection, API Gateway's answers when things fail,
binary media types, Lambda authorizers (TOKEN and REQUEST), throttling, stage variables, MOCK
integrations and the API key check, all over real HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import deploy, wait_until
from lambdabox.testing import LocalLambdabox
from rest_helpers import ECHO, host_of, lambda_uri, proxy_api, send

MISSING = (403, b'{"message":"Missing Authentication Token"}')
FORBIDDEN = (403, b'{"message":"Forbidden"}')
INTERNAL = b'{"message":"Internal server error"}'


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("restdp") / "data", manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def fn(lbx: LocalLambdabox) -> str:
    lam = lbx.client("lambda")
    name = deploy(lam, ECHO, Timeout=60, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return str(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def _method(gw: Any, api_id: str, resource: str, method: str, uri: str, **kw: Any) -> None:
    gw.put_method(
        restApiId=api_id,
        resourceId=resource,
        httpMethod=method,
        authorizationType=kw.pop("auth", "NONE"),
        **kw,
    )
    gw.put_integration(
        restApiId=api_id, resourceId=resource, httpMethod=method, type="AWS_PROXY",
        integrationHttpMethod="POST", uri=uri,
    )  # fmt: skip


def _event(answer: tuple[int, http.client.HTTPMessage, bytes]) -> dict[str, Any]:
    assert answer[0] == 201, answer[2]
    return json.loads(answer[2])["event"]  # type: ignore[no-any-return]


def test_the_most_specific_resource_wins(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigateway")
    api_id = gw.create_rest_api(name="routing")["id"]
    root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
    pets = gw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    pet = gw.create_resource(restApiId=api_id, parentId=pets, pathPart="{petId}")["id"]
    proxy = gw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    uri = lambda_uri(fn)
    _method(gw, api_id, root, "GET", uri)
    _method(gw, api_id, pets, "GET", uri)
    _method(gw, api_id, pet, "POST", uri)
    _method(gw, api_id, proxy, "ANY", uri)
    gw.create_deployment(restApiId=api_id, stageName="v1")
    host = host_of(lbx, api_id)
    for method, path, resource, params in (
        ("GET", "/v1", "/", None),
        ("GET", "/v1/", "/", None),
        ("GET", "/v1/pets", "/pets", None),
        ("GET", "/v1/pets/", "/pets", None),
        ("POST", "/v1/pets/7", "/pets/{petId}", {"petId": "7"}),
        ("GET", "/v1/pets/7", "/{proxy+}", {"proxy": "pets/7"}),  # no GET on /pets/{petId}
        ("DELETE", "/v1/a/b%20c/d", "/{proxy+}", {"proxy": "a/b c/d"}),
    ):
        event = _event(send(lbx, method, path, host=host))
        assert (event["resource"], event["pathParameters"], event["httpMethod"]) == (resource, params, method)
        assert event["requestContext"]["path"] == "/v1" + event["path"]
        assert event["path"] == (path.removeprefix("/v1").replace("%20", " ") or "/")
    # nothing deployed there, or nothing of that method: AWS's 403s
    bare = gw.create_rest_api(name="bare")["id"]
    bare_root = gw.get_resources(restApiId=bare)["items"][0]["id"]
    items = gw.create_resource(restApiId=bare, parentId=bare_root, pathPart="items")["id"]
    _method(gw, bare, items, "GET", uri)
    gw.create_deployment(restApiId=bare, stageName="prod")
    assert send(lbx, "POST", f"/_apis/{bare}/prod/items")[0:3:2] == MISSING
    assert send(lbx, "GET", f"/_apis/{bare}/prod/other")[0:3:2] == MISSING
    assert send(lbx, "GET", f"/_apis/{bare}/prod")[0:3:2] == MISSING
    status, headers, _ = send(lbx, "GET", f"/_apis/{bare}/nostage/items")
    assert (status, headers["x-amzn-ErrorType"]) == (403, "ForbiddenException")
    assert send(lbx, "GET", f"/_apis/{bare}/")[0:3:2] == FORBIDDEN
    # changes reach a stage only with a new deployment
    other = gw.create_resource(restApiId=bare, parentId=bare_root, pathPart="other")["id"]
    _method(gw, bare, other, "GET", uri)
    assert send(lbx, "GET", f"/_apis/{bare}/prod/other")[0:3:2] == MISSING
    gw.create_deployment(restApiId=bare, stageName="prod")
    assert send(lbx, "GET", f"/_apis/{bare}/prod/other")[0] == 201


def _inflight(lbx: LocalLambdabox) -> Any:
    async def count() -> int:
        parts = lbx.app._parts
        assert parts is not None
        return parts.invoker.inflight

    return count


def test_failures_get_api_gateways_answers(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigateway")
    api_id, _, proxy = proxy_api(gw, fn)
    gw.put_integration(
        restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="AWS_PROXY",
        integrationHttpMethod="POST", uri=lambda_uri(fn), timeoutInMillis=1000,
    )  # fmt: skip
    gw.create_deployment(restApiId=api_id, stageName="dev")
    base = f"/_apis/{api_id}/dev"
    status, headers, body = send(lbx, "GET", f"{base}/boom")  # the function fails
    assert (status, body, headers["x-amzn-ErrorType"]) == (502, INTERNAL, "InternalServerErrorException")
    assert send(lbx, "GET", f"{base}/bad")[0:3:2] == (502, INTERNAL)  # a malformed result
    status, _, body = send(lbx, "POST", f"{base}/x", body=b"x" * (10 * 1024 * 1024 + 1))
    assert (status, body) == (413, b"HTTP content length exceeded 10485760 bytes.")
    # no answer within the integration's timeout (on the server's clock): 504
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(r=send(lbx, "GET", f"{base}/hang")))
    worker.start()
    wait_until(lambda: lbx.call(_inflight(lbx)) > 0)
    lbx.advance(1.5)
    worker.join(30)
    assert result["r"][0:3:2] == (504, b'{"message":"Endpoint request timed out"}')
    assert send(lbx, "GET", f"{base}/fine")[0] == 201
    # a refused invoke (the function is gone): 500
    gone = fn.rsplit(":", 1)[0] + ":nosuchfunction"
    api2, _, _ = proxy_api(gw, gone)
    assert send(lbx, "GET", f"/_apis/{api2}/dev/x")[0:3:2] == (500, INTERNAL)
    # the default endpoint turned off
    gw.update_rest_api(
        restApiId=api2,
        patchOperations=[{"op": "replace", "path": "/disableExecuteApiEndpoint", "value": "true"}],
    )
    assert send(lbx, "GET", f"/_apis/{api2}/dev/x")[0:3:2] == FORBIDDEN


def test_binary_media_types(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigateway")
    api_id, _, _ = proxy_api(gw, fn, binaryMediaTypes=["image/*"])
    base = f"/_apis/{api_id}/dev"
    png = b"\x89PNG\r\n\x1a\n\x00\xff\xfe"
    event = _event(send(lbx, "POST", f"{base}/up", body=png, headers={"Content-Type": "image/png"}))
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == png
    event = _event(send(lbx, "POST", f"{base}/up", body=b"plain", headers={"Content-Type": "text/plain"}))
    assert (event["body"], event["isBase64Encoded"]) == ("plain", False)
    # a base64 result: decoded for a binary Accept, else sent as the base64 text
    status, headers, body = send(lbx, "GET", f"{base}/png", headers={"Accept": "image/png"})
    assert (status, headers["Content-Type"], body) == (200, "image/png", b"\x89PNG\x00\xff")
    status, _, body = send(lbx, "GET", f"{base}/png", headers={"Accept": "application/json"})
    assert (status, body) == (200, base64.b64encode(b"\x89PNG\x00\xff"))


AUTHORIZER = {
    "app.py": (
        "import itertools\n"
        "CALLS = itertools.count(1)\n"
        "def handler(event, context):\n"
        "    n = next(CALLS)\n"
        "    if event['type'] == 'TOKEN':\n"
        "        token = event['authorizationToken'].removeprefix('Bearer ')\n"
        "    else:\n"
        "        token = event['headers']['X-User'] + ':' + event['queryStringParameters']['k']\n"
        "    if token == 'crash':\n"
        "        raise RuntimeError('authorizer down')\n"
        "    if token == 'expired':\n"
        "        raise Exception('Unauthorized')\n"
        "    if token == 'garbage':\n"
        "        return {'hello': 'world'}\n"
        "    effect = 'Deny' if token == 'deny' else 'Allow'\n"
        "    return {'principalId': 'user-' + token, 'context': {'calls': n, 'admin': False},\n"
        "            'policyDocument': {'Version': '2012-10-17', 'Statement': [\n"
        "                {'Action': 'execute-api:Invoke', 'Effect': effect, 'Resource': event['methodArn']}]}}\n"
    )
}


def test_lambda_authorizers(lbx: LocalLambdabox, fn: str) -> None:
    """TOKEN and REQUEST authorizers: 401 without (or with a refused) identity, 403 on Deny and for
    a cached policy that does not cover another method, 500 when the authorizer fails; its grant
    in requestContext.authorizer; answers cached per token for the TTL on the server's clock."""
    lam = lbx.client("lambda")
    auth_arn = lam.get_function(FunctionName=deploy(lam, AUTHORIZER))["Configuration"]["FunctionArn"]
    gw = lbx.client("apigateway")
    api_id = gw.create_rest_api(name="authorized")["id"]
    root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
    token = gw.create_authorizer(
        restApiId=api_id, name="token", type="TOKEN", authorizerUri=lambda_uri(auth_arn),
        identitySource="method.request.header.Authorization", identityValidationExpression="Bearer [a-z]+",
    )["id"]  # fmt: skip
    request = gw.create_authorizer(
        restApiId=api_id, name="request", type="REQUEST", authorizerUri=lambda_uri(auth_arn),
        identitySource="method.request.header.X-User,method.request.querystring.k",
        authorizerResultTtlInSeconds=0,
    )["id"]  # fmt: skip
    uri = lambda_uri(fn)
    for part, authorizer in (("a", token), ("b", token), ("r", request)):
        resource = gw.create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        _method(gw, api_id, resource, "GET", uri, auth="CUSTOM", authorizerId=authorizer)
    gw.create_deployment(restApiId=api_id, stageName="dev")
    base = f"/_apis/{api_id}/dev"

    def get(path: str, **headers: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        return send(lbx, "GET", f"{base}{path}", headers=headers)

    granted = _event(get("/a", Authorization="Bearer good"))["requestContext"]["authorizer"]
    assert granted["principalId"] == "user-good" and granted["admin"] == "false"
    again = _event(get("/a", Authorization="Bearer good"))["requestContext"]["authorizer"]
    assert again["calls"] == granted["calls"], "the cached answer was not used"
    unauthorized = (401, b'{"message":"Unauthorized"}')
    assert get("/a")[0:3:2] == unauthorized
    assert get("/a", Authorization="Basic good")[0:3:2] == unauthorized  # fails the validation expression
    assert get("/a", Authorization="Bearer expired")[0:3:2] == unauthorized
    explicit = b'{"Message":"User is not authorized to access this resource with an explicit deny"}'
    assert get("/a", Authorization="Bearer deny")[0:3:2] == (403, explicit)
    # the answer cached for /a allows /a only: judged again for /b, as API Gateway applies it
    implicit = b'{"Message":"User is not authorized to access this resource"}'
    assert get("/b", Authorization="Bearer good")[0:3:2] == (403, implicit)
    status, headers, body = get("/a", Authorization="Bearer crash")
    assert (status, body, headers["x-amzn-ErrorType"]) == (
        500,
        b'{"message":null}',
        "AuthorizerConfigurationException",
    )
    assert get("/a", Authorization="Bearer garbage")[0:3:2] == (500, b'{"message":null}')
    lbx.advance(301)
    later = _event(get("/a", Authorization="Bearer good"))["requestContext"]["authorizer"]
    assert int(later["calls"]) > int(granted["calls"]), "the answer outlived its TTL"
    # REQUEST: every identity source needed; no caching with a TTL of 0
    assert get("/r", **{"X-User": "u"})[0:3:2] == unauthorized
    first = _event(send(lbx, "GET", f"{base}/r?k=1", headers={"X-User": "u"}))["requestContext"]["authorizer"]
    second = _event(send(lbx, "GET", f"{base}/r?k=1", headers={"X-User": "u"}))["requestContext"][
        "authorizer"
    ]
    assert first["principalId"] == "user-u:1" and int(second["calls"]) > int(first["calls"])


def test_throttling_per_stage_and_method(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigateway")
    api_id, _, _ = proxy_api(gw, fn)
    gw.update_stage(
        restApiId=api_id, stageName="dev",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "2"},
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "1"},
        ],
    )  # fmt: skip
    too_many = (429, b'{"message":"Too Many Requests"}')
    statuses = [send(lbx, "GET", f"/_apis/{api_id}/dev/x")[0] for _ in range(3)]
    assert statuses == [201, 201, 429]
    lbx.advance(1.0)  # one token back
    assert send(lbx, "GET", f"/_apis/{api_id}/dev/x")[0] == 201
    assert send(lbx, "GET", f"/_apis/{api_id}/dev/x")[0:3:2] == too_many
    # a method's own settings over the stage's
    gw.update_stage(
        restApiId=api_id, stageName="dev",
        patchOperations=[{"op": "replace", "path": "/~1{proxy+}/ANY/throttling/burstLimit", "value": "0"}],
    )  # fmt: skip
    lbx.advance(10.0)
    assert send(lbx, "GET", f"/_apis/{api_id}/dev/x")[0:3:2] == too_many


def test_stage_variables_and_qualified_functions(lbx: LocalLambdabox, fn: str) -> None:
    lam = lbx.client("lambda")
    name = fn.rsplit(":", 1)[-1]
    lam.create_alias(FunctionName=name, Name="beta", FunctionVersion="$LATEST")
    gw = lbx.client("apigateway")
    api_id, _, _ = proxy_api(gw, f"{fn}:${{stageVariables.alias}}", stage="prod")
    deployment = gw.get_stage(restApiId=api_id, stageName="prod")["deploymentId"]
    gw.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[{"op": "replace", "path": "/variables/alias", "value": "live"}],
    )
    gw.create_stage(restApiId=api_id, stageName="beta", deploymentId=deployment, variables={"alias": "beta"})
    gw.create_stage(
        restApiId=api_id, stageName="broken", deploymentId=deployment, variables={"alias": "nope"}
    )
    prod = send(lbx, "GET", f"/_apis/{api_id}/prod/x")
    assert json.loads(prod[2])["version"] == "1"
    assert _event(prod)["stageVariables"] == {"alias": "live"}
    assert json.loads(send(lbx, "GET", f"/_apis/{api_id}/beta/x")[2])["version"] == "$LATEST"
    assert send(lbx, "GET", f"/_apis/{api_id}/broken/x")[0:3:2] == (500, INTERNAL)  # no such alias
    pinned, _, _ = proxy_api(gw, f"{fn}:live")
    assert json.loads(send(lbx, "GET", f"/_apis/{pinned}/dev/x")[2])["version"] == "1"


def test_mock_integrations_api_keys_and_iam(lbx: LocalLambdabox, fn: str) -> None:
    """An OPTIONS method on a MOCK integration (the CORS preflight CloudFormation templates make);
    a method that requires an API key refuses a key no usage plan holds (403); an AWS_IAM method
    refuses unsigned requests with 403 Missing Authentication Token."""
    gw = lbx.client("apigateway")
    api_id, _, proxy = proxy_api(gw, fn)
    gw.put_method(restApiId=api_id, resourceId=proxy, httpMethod="OPTIONS", authorizationType="NONE")
    gw.put_integration(
        restApiId=api_id, resourceId=proxy, httpMethod="OPTIONS", type="MOCK",
        requestTemplates={"application/json": '{"statusCode": 200}'},
    )  # fmt: skip
    gw.put_method_response(
        restApiId=api_id, resourceId=proxy, httpMethod="OPTIONS", statusCode="200",
        responseParameters={"method.response.header.Access-Control-Allow-Origin": False},
    )  # fmt: skip
    gw.put_integration_response(
        restApiId=api_id, resourceId=proxy, httpMethod="OPTIONS", statusCode="200",
        responseParameters={"method.response.header.Access-Control-Allow-Origin": "'*'"},
    )  # fmt: skip
    root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
    keyed = gw.create_resource(restApiId=api_id, parentId=root, pathPart="keyed")["id"]
    _method(gw, api_id, keyed, "GET", lambda_uri(fn), apiKeyRequired=True)
    signed = gw.create_resource(restApiId=api_id, parentId=root, pathPart="signed")["id"]
    _method(gw, api_id, signed, "GET", lambda_uri(fn), auth="AWS_IAM")
    gw.create_deployment(restApiId=api_id, stageName="dev")
    status, headers, _ = send(lbx, "OPTIONS", f"/_apis/{api_id}/dev/anything")
    assert (status, headers["Access-Control-Allow-Origin"]) == (200, "*")
    assert send(lbx, "GET", f"/_apis/{api_id}/dev/keyed", headers={"x-api-key": "k"})[0:3:2] == FORBIDDEN
    assert send(lbx, "GET", f"/_apis/{api_id}/dev/signed")[0:3:2] == MISSING
    signature = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0"
    # a signature that signs nothing is refused (tests/test_gateway_rest_keys_iam.py signs for real)
    assert send(lbx, "GET", f"/_apis/{api_id}/dev/signed", headers={"Authorization": signature})[0] == 403
