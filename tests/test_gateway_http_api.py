"""HTTP APIs (API Gateway v2) end to end: created through boto3's apigatewayv2 client, served by
host and by path, events as AWS sends them to Lambda, API Gateway's answers when things fail."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, deploy, unique, wait_until
from lambdabox.testing import LocalLambdabox

ECHO = {
    "app.py": (
        "import json\n"
        "def handler(event, context):\n"
        "    if event.get('rawPath', event.get('path')) == '/boom':\n"
        "        raise RuntimeError('boom')\n"
        "    if event.get('rawPath') == '/hang':\n"
        "        import time; time.sleep(30)\n"
        "    if event.get('rawPath') == '/bad':\n"
        "        return {'statusCode': 'not a number'}\n"
        "    if event.get('rawPath') == '/interim':\n"
        "        return {'statusCode': 100, 'body': 'HTTP/1.1 200 OK\\r\\nX-Injected: yes\\r\\n\\r\\n'}\n"
        "    if event.get('rawPath') == '/nocontent':\n"
        "        return {'statusCode': 204, 'body': 'HTTP/1.1 200 OK\\r\\n\\r\\n'}\n"
        "    return {'statusCode': 201, 'headers': {'x-echo': 'yes'}, 'cookies': ['a=1', 'b=2'],\n"
        "            'body': json.dumps({'event': event, 'version': context.function_version})}\n"
    )
}


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("gw") / "data", manual_clock=True) as server:
        yield server


@pytest.fixture(scope="module")
def fn(lbx: LocalLambdabox) -> str:
    lam = lbx.client("lambda")
    name = deploy(lam, ECHO, Timeout=60, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return str(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def send(
    lbx: LocalLambdabox, method: str, target: str, *, host: str | None = None, body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:  # fmt: skip
    u = urlsplit(lbx.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request(
            method, target, body=body, headers={**({"Host": host} if host else {}), **(headers or {})}
        )
        resp = conn.getresponse()
        return resp.status, resp.msg, resp.read()
    finally:
        conn.close()


def host_of(lbx: LocalLambdabox, api_id: str) -> str:
    return f"{api_id}.execute-api.localhost:{urlsplit(lbx.url).port}"


def test_quick_create_serves_payload_2_by_host_and_by_path(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2")
    api = gw.create_api(Name="quick", ProtocolType="HTTP", Target=fn)
    assert api["ResponseMetadata"]["HTTPStatusCode"] == 201
    api_id = api["ApiId"]
    assert api["ApiEndpoint"] == f"http://{host_of(lbx, api_id)}"
    assert [r["RouteKey"] for r in gw.get_routes(ApiId=api_id)["Items"]] == ["$default"]
    (integration,) = gw.get_integrations(ApiId=api_id)["Items"]
    assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == ("AWS_PROXY", "2.0")
    (stage,) = gw.get_stages(ApiId=api_id)["Items"]
    assert (stage["StageName"], stage["AutoDeploy"]) == ("$default", True)
    for target, host in (
        ("/items/7?a=1&a=2&b=x", host_of(lbx, api_id)),
        (f"/_apis/{api_id}/items/7?a=1&a=2&b=x", None),
    ):
        status, headers, body = send(
            lbx, "POST", target, host=host, body=b"hello",
            headers={"Content-Type": "text/plain", "Cookie": "c1=v1; c2=v2", "X-Multi": "one"},
        )  # fmt: skip
        assert status == 201, body
        assert headers["x-echo"] == "yes" and headers.get_all("Set-Cookie") == ["a=1", "b=2"]
        assert headers["Apigw-Requestid"]
        event = json.loads(body)["event"]
        assert event["version"] == "2.0" and event["routeKey"] == "$default"
        assert event["rawPath"] == "/items/7" and event["rawQueryString"] == "a=1&a=2&b=x"
        assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
        assert event["cookies"] == ["c1=v1", "c2=v2"]
        assert event["headers"]["x-multi"] == "one" and event["headers"]["content-type"] == "text/plain"
        assert event["body"] == "hello" and event["isBase64Encoded"] is False
        ctx = event["requestContext"]
        assert (ctx["apiId"], ctx["accountId"], ctx["stage"]) == (api_id, "000000000000", "$default")
        assert ctx["http"]["method"] == "POST" and ctx["http"]["path"] == "/items/7"
        assert ctx["requestId"] == headers["Apigw-Requestid"]


def test_routes_stages_and_qualified_integrations(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="routes", ProtocolType="HTTP")["ApiId"]
    v1 = gw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=f"{fn}:live", PayloadFormatVersion="1.0"
    )["IntegrationId"]
    v2 = gw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
        IntegrationUri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn}/invocations",
    )["IntegrationId"]  # fmt: skip
    gw.create_route(ApiId=api_id, RouteKey="GET /pets/{id}", Target=f"integrations/{v1}")
    gw.create_route(ApiId=api_id, RouteKey="ANY /files/{path+}", Target=f"integrations/{v2}")
    with pytest.raises(ClientError) as exc:
        gw.create_route(ApiId=api_id, RouteKey="GET /pets/{id}", Target=f"integrations/{v1}")
    assert aws_error(exc)[0::2] == ("ConflictException", 409)
    gw.create_stage(ApiId=api_id, StageName="prod", StageVariables={"color": "blue"})
    host = host_of(lbx, api_id)
    # not deployed yet
    assert send(lbx, "GET", "/prod/pets/1", host=host)[0:3:2] == (404, b'{"message":"Not Found"}')
    deployment = gw.create_deployment(ApiId=api_id, StageName="prod")
    assert gw.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"] == deployment["DeploymentId"]

    status, _, body = send(lbx, "GET", "/prod/pets/42?x=1&x=2", host=host)
    assert status == 201, body
    answer = json.loads(body)
    event = answer["event"]
    assert answer["version"] == "1"  # the alias's version ran
    assert (
        event["version"] == "1.0" and event["resource"] == "/pets/{id}" and event["path"] == "/prod/pets/42"
    )
    assert event["httpMethod"] == "GET" and event["pathParameters"] == {"id": "42"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["stageVariables"] == {"color": "blue"} and event["requestContext"]["stage"] == "prod"

    status, _, body = send(lbx, "DELETE", "/prod/files/a/b/c.txt", host=host)
    event = json.loads(body)["event"]
    assert status == 201 and event["routeKey"] == "ANY /files/{path+}"
    assert event["pathParameters"] == {"path": "a/b/c.txt"}
    # a route made after the deployment is not served until the next one
    gw.create_route(ApiId=api_id, RouteKey="GET /later", Target=f"integrations/{v2}")
    assert send(lbx, "GET", "/prod/later", host=host)[0] == 404
    gw.create_deployment(ApiId=api_id, StageName="prod")
    assert send(lbx, "GET", "/prod/later", host=host)[0] == 201
    # unknown routes, stages and APIs
    for target, h in (
        ("/prod/nothing", host),
        ("/nostage/pets/1", host),
        ("/prod/pets/1", "zzzzzzzzzz.execute-api.localhost"),
    ):
        assert send(lbx, "GET", target, host=h)[0:3:2] == (404, b'{"message":"Not Found"}'), target


def test_failures_get_api_gateways_answers(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="fails", ProtocolType="HTTP", Target=fn)["ApiId"]
    integration = gw.get_integrations(ApiId=api_id)["Items"][0]["IntegrationId"]
    gw.update_integration(ApiId=api_id, IntegrationId=integration, TimeoutInMillis=1000)
    host = host_of(lbx, api_id)
    error = (500, b'{"message":"Internal Server Error"}')
    assert send(lbx, "GET", "/boom", host=host)[0:3:2] == error  # function error
    assert send(lbx, "GET", "/bad", host=host)[0:3:2] == error  # malformed response
    big = b"x" * (10 * 1024 * 1024 + 1)
    assert send(lbx, "POST", "/x", host=host, body=big)[0:3:2] == (
        413,
        b'{"message":"Request Entity Too Large"}',
    )
    # no answer within the integration's timeout (on the server's clock): 503
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(r=send(lbx, "GET", "/hang", host=host)))
    worker.start()
    wait_until(lambda: lbx.call(_inflight(lbx)) > 0)
    lbx.advance(1.5)
    worker.join(30)
    assert result["r"][0:3:2] == (503, b'{"message":"Service Unavailable"}')
    # the server still serves
    assert send(lbx, "GET", "/fine", host=host)[0] == 201


def test_a_function_timing_out_before_the_integration_gets_500(lbx: LocalLambdabox) -> None:
    # the function's own timeout (2 s) ends the invocation long before the integration's 30 s: the
    # invocation is a timed-out function error, which an HTTP API answers with 500
    lam = lbx.client("lambda")
    name = deploy(lam, ECHO, Timeout=2)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api_id = lbx.client("apigatewayv2").create_api(Name="short", ProtocolType="HTTP", Target=arn)["ApiId"]
    host = host_of(lbx, api_id)
    assert send(lbx, "GET", "/fine", host=host)[0] == 201  # warm
    before = lbx.call(_inflight(lbx))  # (an earlier test's hanging invocation may still run)
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(r=send(lbx, "GET", "/hang", host=host)))
    worker.start()
    wait_until(lambda: lbx.call(_inflight(lbx)) > before)
    lbx.advance(2.5)
    worker.join(30)
    assert result["r"][0:3:2] == (500, b'{"message":"Internal Server Error"}')
    assert send(lbx, "GET", "/fine", host=host)[0] == 201


def _inflight(lbx: LocalLambdabox) -> Any:
    async def count() -> int:
        parts = lbx.app._parts
        assert parts is not None
        return parts.invoker.inflight

    return count


def test_control_plane_errors_and_lifecycle(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2")
    with pytest.raises(ClientError) as exc:
        gw.get_api(ApiId="nonexisten")
    assert aws_error(exc) == (
        "NotFoundException",
        "Invalid API identifier specified 000000000000:nonexisten",
        404,
    )
    api_id = gw.create_api(Name="life", ProtocolType="HTTP", Target=fn)["ApiId"]
    for call in (
        lambda: gw.create_route(ApiId=api_id, RouteKey="GET /{a+}/b"),
        lambda: gw.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri="http://x"),
        lambda: gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri="nonsense"),
        lambda: gw.create_route(ApiId=api_id, RouteKey="GET /x", Target="integrations/nope"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as exc:
        gw.create_route(ApiId=api_id, RouteKey="FETCH /x")
    assert aws_error(exc) == (
        "BadRequestException",
        'The provided route key is not formatted properly for HTTP protocol. Format should be "<HTTP METHOD> '
        '/<RESOURCE PATH>" or "$default"',
        400,
    )
    with pytest.raises(ClientError) as exc:  # required for HTTP APIs: AWS defaults nothing
        gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=fn)
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as exc:
        gw.create_deployment(ApiId=api_id, StageName="nope")
    assert aws_error(exc) == (
        "BadRequestException",
        "Stage nope does not exist. StageName specified on a CreateDeployment request must exist so the stage "
        "can be updated with the new deployment.",
        400,
    )
    # what quick create made is API Gateway's
    assert gw.get_routes(ApiId=api_id)["Items"][0]["ApiGatewayManaged"] is True
    stage = gw.get_stage(ApiId=api_id, StageName="$default")
    assert stage["ApiGatewayManaged"] is True and stage["DeploymentId"]
    assert (
        stage["LastDeploymentStatusMessage"]
        == f"Successfully deployed stage with deployment ID '{stage['DeploymentId']}'"
    )
    with pytest.raises(ClientError) as exc:
        gw.create_stage(ApiId=api_id, StageName="$default")
    assert aws_error(exc)[0::2] == ("ConflictException", 409)
    gw.update_api(ApiId=api_id, Name="renamed")
    assert gw.get_api(ApiId=api_id)["Name"] == "renamed"
    assert api_id in [a["ApiId"] for a in gw.get_apis()["Items"]]
    gw.delete_api(ApiId=api_id)
    assert send(lbx, "GET", "/", host=host_of(lbx, api_id))[0] == 404
    with pytest.raises(ClientError) as exc:
        gw.get_api(ApiId=api_id)
    assert aws_error(exc)[0::2] == ("NotFoundException", 404)


def test_apis_survive_a_restart(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data") as server:
        lam = server.client("lambda")
        arn = lam.get_function(FunctionName=deploy(lam, ECHO))["Configuration"]["FunctionArn"]
        api_id = server.client("apigatewayv2").create_api(Name="kept", ProtocolType="HTTP", Target=arn)[
            "ApiId"
        ]
    with LocalLambdabox(tmp_path / "data") as server:
        assert server.client("apigatewayv2").get_api(ApiId=api_id)["Name"] == "kept"
        status, _, body = send(server, "GET", f"/_apis/{api_id}/again")
        assert status == 201 and json.loads(body)["event"]["rawPath"] == "/again"


def test_an_api_cannot_invoke_another_accounts_function(tmp_path: Path) -> None:
    """An API runs functions of its own account only: an integration naming another tenant's
    function answers 500 and that function never runs."""
    with LocalLambdabox(tmp_path / "data", root_keys="test:test,other:other:222222222222") as server:
        victim_lam = server.client("lambda", key="other", secret="other")
        marker = "ran-" + Path(tmp_path).name
        victim = deploy(
            victim_lam,
            {"app.py": f"def handler(e, c):\n    print({marker!r})\n    return {{'secret': 'victim'}}\n"},
            role="arn:aws:iam::222222222222:role/victim",
        )
        victim_arn = victim_lam.get_function(FunctionName=victim)["Configuration"]["FunctionArn"]
        gw = server.client("apigatewayv2")
        api_id = gw.create_api(Name="steal", ProtocolType="HTTP", Target=victim_arn)["ApiId"]
        status, _, body = send(server, "GET", f"/_apis/{api_id}/x")
        assert (status, body) == (500, b'{"message":"Internal Server Error"}')
        logs = server.client("logs", key="other", secret="other")
        groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{victim}")["logGroups"]
        assert groups == [], "the other account's function ran"
        # another account sees nothing of the API
        with pytest.raises(ClientError) as exc:
            server.client("apigatewayv2", key="other", secret="other").get_api(ApiId=api_id)
        assert aws_error(exc)[0::2] == ("NotFoundException", 404)


def test_a_function_cannot_change_the_http_framing(lbx: LocalLambdabox, fn: str) -> None:
    """An interim status is no answer (500); a 204 carries no body, so a body the function returns
    cannot become the next response on the connection (found by review)."""
    import socket

    api_id = lbx.client("apigatewayv2").create_api(Name="framing", ProtocolType="HTTP", Target=fn)["ApiId"]
    assert send(lbx, "GET", f"/_apis/{api_id}/interim")[0:3:2] == (
        500,
        b'{"message":"Internal Server Error"}',
    )
    u = urlsplit(lbx.url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(
            f"GET /_apis/{api_id}/nocontent HTTP/1.1\r\nHost: x\r\n\r\n"
            f"GET /_apis/{api_id}/fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 204 ") and b"content-length" not in first.lower()
    assert rest.startswith(b"HTTP/1.1 201 "), rest[:100]  # the next response, not the function's bytes


def test_what_api_gateway_adds_to_the_event(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="adds", ProtocolType="HTTP")["ApiId"]
    assert gw.get_routes(ApiId=api_id)["Items"] == [] and gw.get_stages(ApiId=api_id)["Items"] == []
    assert (
        gw.get_integrations(ApiId=api_id)["Items"] == [] and gw.get_deployments(ApiId=api_id)["Items"] == []
    )
    integration = gw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=fn, PayloadFormatVersion="2.0"
    )["IntegrationId"]
    gw.create_route(ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration}")
    gw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True)
    status, _, body = send(lbx, "GET", f"/_apis/{api_id}/prod", headers={"X-Forwarded-For": "203.0.113.9"})
    event = json.loads(body)["event"]
    assert status == 201 and event["rawPath"] == "/prod"
    assert event["requestContext"]["domainName"] == f"{api_id}.execute-api.localhost"
    assert event["requestContext"]["domainPrefix"] == api_id
    headers = event["headers"]
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http" and headers["x-forwarded-port"] == str(
        urlsplit(lbx.url).port
    )
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"  # not the header's claim
    # trailing whitespace is not part of a header's value; two Host headers are refused
    status, _, _ = send(lbx, "GET", "/prod", host=f"{api_id}.execute-api.localhost:{urlsplit(lbx.url).port} ")
    assert status == 201


def test_two_host_headers_are_refused(lbx: LocalLambdabox, fn: str) -> None:
    import socket

    api_id = lbx.client("apigatewayv2").create_api(Name="hosts", ProtocolType="HTTP", Target=fn)["ApiId"]
    u = urlsplit(lbx.url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(
            f"GET / HTTP/1.1\r\nHost: {api_id}.execute-api.localhost\r\nHost: localhost\r\n\r\n".encode()
        )
        assert s.recv(65536).startswith(b"HTTP/1.1 400 ")


def test_cors_preflight_and_headers(lbx: LocalLambdabox, fn: str) -> None:
    """API Gateway answers preflights itself and puts the configured headers on responses to an
    allowed origin, dropping the function's own (http-api-cors.html)."""
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(
        Name="cors", ProtocolType="HTTP", Target=fn,
        CorsConfiguration={
            "AllowOrigins": ["https://app.example.com", "http://*"], "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["authorization", "content-type"], "ExposeHeaders": ["x-echo"],
            "MaxAge": 300, "AllowCredentials": True,
        },
    )["ApiId"]  # fmt: skip
    target = f"/_apis/{api_id}/anything"
    status, headers, body = send(
        lbx, "OPTIONS", target,
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
    )  # fmt: skip
    assert (status, body) == (204, b"")
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    assert (
        headers["Access-Control-Max-Age"] == "300" and headers["Access-Control-Allow-Credentials"] == "true"
    )
    # a method or an origin not allowed: no CORS headers, and the function is not called either
    for origin, method in (("https://app.example.com", "DELETE"), ("https://evil.example", "GET")):
        status, headers, _ = send(
            lbx, "OPTIONS", target, headers={"Origin": origin, "Access-Control-Request-Method": method}
        )
        assert status == 204 and "Access-Control-Allow-Origin" not in headers
    # an actual request from an allowed origin ("http://*"): the configured headers
    status, headers, _ = send(lbx, "GET", target, headers={"Origin": "http://localhost:3000"})
    assert status == 201 and headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert headers["Access-Control-Expose-Headers"] == "x-echo"
    status, headers, _ = send(lbx, "GET", target, headers={"Origin": "https://evil.example"})
    assert status == 201 and "Access-Control-Allow-Origin" not in headers


def test_throttling_per_stage_and_route(lbx: LocalLambdabox, fn: str) -> None:
    """Token buckets on the server's clock: the stage's default, a route's own over it; 429 when empty."""
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="throttle", ProtocolType="HTTP")["ApiId"]
    integration = gw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=fn, PayloadFormatVersion="2.0"
    )["IntegrationId"]
    for key in ("GET /open", "GET /closed"):
        gw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}")
    with pytest.raises(ClientError) as exc:
        gw.create_stage(ApiId=api_id, StageName="s", RouteSettings={"GET /nope": {"ThrottlingBurstLimit": 1}})
    assert aws_error(exc) == (
        "NotFoundException",
        "Unable to find Route by key GET /nope within the provided RouteSettings",
        404,
    )
    gw.create_stage(
        ApiId=api_id, StageName="s", AutoDeploy=True,
        DefaultRouteSettings={"ThrottlingBurstLimit": 2, "ThrottlingRateLimit": 1.0},
        RouteSettings={"GET /closed": {"ThrottlingBurstLimit": 0, "ThrottlingRateLimit": 0.0}},
    )  # fmt: skip
    stage = gw.get_stage(ApiId=api_id, StageName="s")
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 2
    assert stage["RouteSettings"]["GET /closed"]["ThrottlingBurstLimit"] == 0
    too_many = (429, b'{"message":"Too Many Requests"}')
    statuses = [send(lbx, "GET", f"/_apis/{api_id}/s/open")[0] for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert send(lbx, "GET", f"/_apis/{api_id}/s/closed")[0:3:2] == too_many
    lbx.advance(1.0)  # one token back
    assert send(lbx, "GET", f"/_apis/{api_id}/s/open")[0] == 201
    assert send(lbx, "GET", f"/_apis/{api_id}/s/open")[0:3:2] == too_many


def test_stage_variables_choose_the_alias(lbx: LocalLambdabox, fn: str) -> None:
    """`${stageVariables.alias}` in an integration URI: each stage runs the version its variable names."""
    lam = lbx.client("lambda")
    name = fn.rsplit(":", 1)[-1]
    lam.create_alias(FunctionName=name, Name="beta", FunctionVersion="$LATEST")
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="vars", ProtocolType="HTTP")["ApiId"]
    integration = gw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
        IntegrationUri=f"{fn}:${{stageVariables.alias}}",
    )["IntegrationId"]  # fmt: skip
    gw.create_route(ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration}")
    for stage, alias in (("prod", "live"), ("beta", "beta"), ("broken", "nope")):
        gw.create_stage(ApiId=api_id, StageName=stage, AutoDeploy=True, StageVariables={"alias": alias})
    answers = {s: send(lbx, "GET", f"/_apis/{api_id}/{s}/x") for s in ("prod", "beta", "broken")}
    assert json.loads(answers["prod"][2])["version"] == "1"
    assert json.loads(answers["beta"][2])["version"] == "$LATEST"
    assert answers["broken"][0:3:2] == (500, b'{"message":"Internal Server Error"}')  # no such alias


AUTHORIZER = {
    "app.py": (
        "import itertools\n"
        "CALLS = itertools.count(1)\n"
        "def handler(event, context):\n"
        "    token = event['identitySource'][0]\n"
        "    n = next(CALLS)\n"
        "    if token == 'crash':\n"
        "        raise RuntimeError('authorizer down')\n"
        "    if 'routeArn' in event and event.get('headers', {}).get('x-policy'):\n"
        "        effect = 'Allow' if token == 'allow' else 'Deny'\n"
        "        return {'principalId': 'u', 'context': {'calls': n, 'arn': event['routeArn']},\n"
        "                'policyDocument': {'Version': '2012-10-17', 'Statement': [\n"
        "                    {'Action': 'execute-api:Invoke', 'Effect': effect, 'Resource': event['routeArn']}]}}\n"
        "    return {'isAuthorized': token == 'allow', 'context': {'user': 'u1', 'calls': n}}\n"
    )
}


def test_lambda_authorizers(lbx: LocalLambdabox, fn: str) -> None:
    """REQUEST authorizers, simple and IAM-policy answers, identity sources and cached verdicts
    (http-api-lambda-authorizer.html): 401 without the identity, 403 refused, 500 when it fails."""
    lam = lbx.client("lambda")
    auth_arn = lam.get_function(FunctionName=deploy(lam, AUTHORIZER))["Configuration"]["FunctionArn"]
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="auth", ProtocolType="HTTP")["ApiId"]
    integration = gw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=fn, PayloadFormatVersion="2.0"
    )["IntegrationId"]
    simple = gw.create_authorizer(
        ApiId=api_id, Name="simple", AuthorizerType="REQUEST", AuthorizerUri=auth_arn,
        AuthorizerPayloadFormatVersion="2.0", EnableSimpleResponses=True,
        IdentitySource=["$request.header.Authorization"],
    )  # fmt: skip
    assert (simple["AuthorizerType"], simple["EnableSimpleResponses"]) == ("REQUEST", True)
    policy = gw.create_authorizer(
        ApiId=api_id, Name="policy", AuthorizerType="REQUEST", AuthorizerUri=auth_arn,
        AuthorizerPayloadFormatVersion="2.0", IdentitySource=["$request.header.Authorization"],
        AuthorizerResultTtlInSeconds=300,
    )["AuthorizerId"]  # fmt: skip
    routes = (("GET /simple", simple["AuthorizerId"]), ("GET /policy", policy), ("GET /other", policy))
    for key, authorizer_id in routes:
        gw.create_route(
            ApiId=api_id, RouteKey=key, Target=f"integrations/{integration}",
            AuthorizationType="CUSTOM", AuthorizerId=authorizer_id,
        )  # fmt: skip
    with pytest.raises(ClientError) as exc:
        gw.create_route(ApiId=api_id, RouteKey="GET /x", AuthorizationType="CUSTOM", AuthorizerId="nope")
    assert aws_error(exc)[0::2] == ("BadRequestException", 400)
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    def get(path: str, token: str | None, **headers: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        auth = {"Authorization": token} if token is not None else {}
        return send(lbx, "GET", f"/_apis/{api_id}{path}", headers={**auth, **headers})

    status, _, body = get("/simple", "allow")
    assert status == 201
    assert json.loads(body)["event"]["requestContext"]["authorizer"]["lambda"]["user"] == "u1"
    assert get("/simple", "nope")[0:3:2] == (403, b'{"message":"Forbidden"}')
    assert get("/simple", None)[0:3:2] == (401, b'{"message":"Unauthorized"}')
    assert get("/simple", "crash")[0:3:2] == (500, b'{"message":"Internal Server Error"}')
    # an IAM policy answer, cached for its TTL (on the server's clock) per identity
    status, _, body = get("/policy", "allow", **{"X-Policy": "1"})
    granted = json.loads(body)["event"]["requestContext"]["authorizer"]["lambda"]
    assert (
        status == 201
        and granted["arn"] == f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/$default/GET/policy"
    )
    again = json.loads(get("/policy", "allow", **{"X-Policy": "1"})[2])["event"]["requestContext"][
        "authorizer"
    ]
    assert again["lambda"]["calls"] == granted["calls"], "the cached verdict was not used"
    assert get("/policy", "deny", **{"X-Policy": "1"})[0] == 403
    # the cached policy allows /policy's ARN only: judged again for another route (found by review)
    assert get("/other", "allow", **{"X-Policy": "1"})[0:3:2] == (403, b'{"message":"Forbidden"}')
    lbx.advance(301)
    later = json.loads(get("/policy", "allow", **{"X-Policy": "1"})[2])["event"]["requestContext"][
        "authorizer"
    ]
    assert later["lambda"]["calls"] > granted["calls"], "the verdict outlived its TTL"


def test_a_disabled_default_endpoint_answers_403(lbx: LocalLambdabox, fn: str) -> None:
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name="off", ProtocolType="HTTP", Target=fn)["ApiId"]
    assert send(lbx, "GET", f"/_apis/{api_id}/x")[0] == 201
    gw.update_api(ApiId=api_id, DisableExecuteApiEndpoint=True)
    assert send(lbx, "GET", f"/_apis/{api_id}/x")[0:3:2] == (403, b'{"message":"Forbidden"}')


EXPRESS_APP = Path(__file__).parent / "apps" / "express-http"


def _zip_dir(root: Path) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not path.is_symlink() and ".bin" not in rel.parts:
                zf.write(path, str(rel))
    return buf.getvalue()


@pytest.mark.parametrize("payload_version", ["2.0", "1.0"])
def test_an_express_app_behind_serverless_http(lbx: LocalLambdabox, payload_version: str) -> None:
    """An unmodified Express 5 app wrapped by serverless-http (its own package with node_modules),
    behind an HTTP API with either payload format."""
    assert (EXPRESS_APP / "node_modules" / "express").is_dir(), (
        "run scripts/install-test-tools.sh (make test does)"
    )
    lam = lbx.client("lambda")
    name = unique(f"express-{payload_version.replace('.', '')}")
    arn = lam.create_function(
        FunctionName=name, Runtime="nodejs20.x", Role="arn:aws:iam::000000000000:role/x", Handler="app.handler",
        Code={"ZipFile": _zip_dir(EXPRESS_APP)}, Timeout=30, MemorySize=256,
    )["FunctionArn"]  # fmt: skip
    gw = lbx.client("apigatewayv2")
    api_id = gw.create_api(Name=name, ProtocolType="HTTP")["ApiId"]
    integration = gw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn, PayloadFormatVersion=payload_version
    )["IntegrationId"]
    gw.create_route(ApiId=api_id, RouteKey="ANY /{proxy+}", Target=f"integrations/{integration}")
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    host = host_of(lbx, api_id)
    status, headers, body = send(lbx, "GET", "/hello/world?x=1&y=2", host=host)
    assert status == 200, body
    assert json.loads(body) == {
        "hello": "world",
        "query": {"x": "1", "y": "2"},
        "path": "/hello/world",
        "method": "GET",
    }
    assert headers["x-app"] == "express" and headers["Content-Type"].startswith("application/json")
    assert sorted(c.split(";")[0] for c in headers.get_all("Set-Cookie") or []) == ["lang=en", "seen=1"]
    status, _, body = send(
        lbx, "POST", "/echo", host=host, body=b"hi there", headers={"Content-Type": "text/plain"}
    )
    assert (status, body) == (200, b"echo:hi there")
    status, _, body = send(lbx, "GET", "/nowhere", host=host)
    assert status == 404 and json.loads(body) == {"missing": "/nowhere"}
