"""Function URLs over plain HTTP: both URL forms (host and `/_urls/<url-id>/`), AuthType NONE and
AWS_IAM (SigV4 for `lambda`, forged and unsigned requests refused), the function URL event
(tests/events/lambda-function-url.json), responses, CORS, Lambda's own answers (unknown url-ids,
function errors, bodies too large), and policies under `--enforce-resource-policies`."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from conftest import Server, deploy
from lambdabox.lambda_.url_event import UrlRequest, url_event
from lambdabox.testing import LocalLambdabox

EVENTS = Path(__file__).parent / "events"
ECHO = {
    "app.py": (
        "import json\n"
        "def handler(event, context):\n"
        "    if event['rawPath'] == '/fail':\n"
        "        raise RuntimeError('no')\n"
        "    if event['rawPath'] == '/plain':\n"
        "        return {'plain': True}\n"
        "    if event['rawPath'] == '/bad':\n"
        "        return {'statusCode': 'x'}\n"
        "    return {'statusCode': 201, 'headers': {'X-Seen': 'yes', 'Content-Type': 'application/json'},\n"
        "            'cookies': ['a=1'], 'body': json.dumps(event)}\n"
    )
}


def send(
    base: str, method: str, path: str, *, host: str | None = None, headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes, list[tuple[str, str]]]:  # fmt: skip
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        all_headers = {**({"Host": host} if host else {}), **(headers or {})}
        conn.request(method, path, body=body or None, headers=all_headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read(), resp.getheaders()
    finally:
        conn.close()


def url_id(function_url: str) -> str:
    return function_url.split("//", 1)[1].split(".", 1)[0]


def test_the_event_is_the_function_url_event_aws_documents() -> None:
    fixture = json.loads((EVENTS / "lambda-function-url.json").read_text())
    ctx = fixture["requestContext"]
    headers = [(k, v) for k, v in fixture["headers"].items()]
    headers.append(("Cookie", "cookie1=a; cookie2=b"))
    event = url_event(
        UrlRequest(
            method="POST", raw_path="/my/path", raw_query=fixture["rawQueryString"], headers=headers,
            body=b"Hello from client!", source_ip="123.123.123.123", url_id=ctx["apiId"], region="us-west-2",
            account_id="123456789012", request_id="id", time_epoch_ms=ctx["timeEpoch"],
            iam=ctx["authorizer"]["iam"],
        )
    )  # fmt: skip
    assert event == fixture


def test_anonymous_callers_are_named_so() -> None:
    event = url_event(
        UrlRequest("GET", "/a%20b", "", [], b"", "127.0.0.1", "x" * 32, "us-east-1", "1", "r", 0)
    )
    ctx = event["requestContext"]
    assert (ctx["accountId"], event["rawPath"], "authorizer" in ctx, "body" in event) == (
        "anonymous",
        "/a%20b",
        False,
        False,
    )


@pytest.fixture(scope="module")
def echo(server: Server) -> Iterator[tuple[str, str]]:
    lam = server.client("lambda")
    name = deploy(lam, ECHO)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    yield name, url
    lam.delete_function(FunctionName=name)


def test_both_url_forms_invoke_the_function(server: Server, echo: tuple[str, str]) -> None:
    _name, url = echo
    host = urlsplit(url).netloc
    for path, kw in ((f"/_urls/{url_id(url)}/hi/there?a=1&a=2", {}), ("/hi/there?a=1&a=2", {"host": host})):
        status, headers, body, raw = send(
            server.url,
            "POST",
            path,
            body=b"payload",
            headers={"Cookie": "c=1", "Content-Type": "text/plain"},
            **kw,
        )
        assert status == 201, body
        assert headers["X-Seen"] == "yes" and ("Set-Cookie", "a=1") in raw and headers["x-amzn-RequestId"]
        event = json.loads(body)
        assert (event["rawPath"], event["rawQueryString"], event["body"]) == (
            "/hi/there",
            "a=1&a=2",
            "payload",
        )
        assert event["queryStringParameters"] == {"a": "1,2"} and event["cookies"] == ["c=1"]
        ctx = event["requestContext"]
        assert (ctx["apiId"], ctx["domainPrefix"], ctx["routeKey"], ctx["stage"]) == (
            url_id(url),
            url_id(url),
            "$default",
            "$default",
        )
        assert ctx["domainName"] == f"{url_id(url)}.lambda-url.us-east-1.localhost"
        assert ctx["accountId"] == "anonymous" and ctx["http"]["method"] == "POST"


def test_lambda_s_own_answers(server: Server, echo: tuple[str, str]) -> None:
    _name, url = echo
    base = f"/_urls/{url_id(url)}"
    status, _, body, _ = send(server.url, "GET", base + "/plain")
    assert (status, json.loads(body)) == (200, {"plain": True})
    for path in ("/fail", "/bad"):
        status, _headers, body, _ = send(server.url, "GET", base + path)
        assert (status, json.loads(body)) == (502, {"Message": "Internal Server Error"}), path
    for path, host in (("/_urls/" + "0" * 32 + "/", None), ("/_urls/../2015-03-31/functions/", None),
                       ("/", "0" * 32 + ".lambda-url.us-east-1.localhost"),
                       ("/", url_id(url) + ".lambda-url.eu-west-1.localhost")):  # fmt: skip
        status, _, body, _ = send(server.url, "GET", path, host=host)
        assert (status, json.loads(body)) == (403, {"Message": "Forbidden"}), (path, host)
    status, _, body, _ = send(server.url, "POST", base + "/", body=b"x" * (6 * 1024 * 1024 + 1))
    assert status == 413


def test_cors_preflights_and_headers(server: Server, echo: tuple[str, str]) -> None:
    name, url = echo
    lam = server.client("lambda")
    cors = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["POST"], "AllowHeaders": ["x-custom"],
            "ExposeHeaders": ["x-seen"], "MaxAge": 60}  # fmt: skip
    lam.update_function_url_config(FunctionName=name, Cors=cors)
    try:
        base = f"/_urls/{url_id(url)}/"
        ask = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        status, headers, _, _ = send(server.url, "OPTIONS", base, headers=ask)
        assert status in (200, 204)
        assert headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert headers["Access-Control-Allow-Methods"] == "POST" and headers["Access-Control-Max-Age"] == "60"
        for wrong in (
            {**ask, "Origin": "https://evil.example"},
            {**ask, "Access-Control-Request-Method": "DELETE"},
        ):
            _, headers, _, _ = send(server.url, "OPTIONS", base, headers=wrong)
            assert not any(h.lower().startswith("access-control-allow") for h in headers), wrong
        status, headers, _, _ = send(server.url, "POST", base, headers={"Origin": "https://app.example"})
        assert status == 201 and headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert headers["Access-Control-Expose-Headers"] == "x-seen"
    finally:
        lam.update_function_url_config(FunctionName=name, Cors={})


def _signed(
    url: str, method: str, body: bytes, key: str, secret: str, service: str = "lambda"
) -> dict[str, str]:
    request = botocore.awsrequest.AWSRequest(method, url, data=body)
    creds = botocore.credentials.Credentials(key, secret)
    botocore.auth.SigV4Auth(creds, service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def test_aws_iam_urls_need_a_valid_signature(server: Server, create_fn: Callable[..., str]) -> None:
    lam = server.client("lambda")
    name = create_fn(ECHO)
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    port = urlsplit(server.url).port
    full = f"http://127.0.0.1:{port}/_urls/{url_id(url)}/me?x=1"
    headers = _signed(full, "POST", b"hi", "test", "test")
    status, _, body, _ = send(server.url, "POST", f"/_urls/{url_id(url)}/me?x=1", headers=headers, body=b"hi")
    assert status == 201, body
    iam = json.loads(body)["requestContext"]["authorizer"]["iam"]
    assert (iam["accessKey"], iam["accountId"]) == ("test", "000000000000")
    # the same signature over another body, a wrong secret, the wrong service, or none at all
    for forged, data in ((headers, b"changed"), (_signed(full, "POST", b"hi", "test", "wrong"), b"hi"),
                         (_signed(full, "POST", b"hi", "test", "test", "execute-api"), b"hi"), ({}, b"hi")):  # fmt: skip
        status, _, body, _ = send(
            server.url, "POST", f"/_urls/{url_id(url)}/me?x=1", headers=forged, body=data
        )
        assert status == 403 and "Message" in json.loads(body), body


@pytest.fixture(scope="module")
def enforced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path_factory.mktemp("urls") / "data", enforce_resource_policies=True) as lbx:
        yield lbx


def test_with_policies_enforced_a_public_url_needs_both_permissions(enforced: LocalLambdabox) -> None:
    lam = enforced.client("lambda")
    name = deploy(lam, ECHO)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    path = f"/_urls/{url_id(url)}/"
    assert send(enforced.url, "GET", path)[:1] == (403,)
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")  # fmt: skip
    assert send(enforced.url, "GET", path)[:1] == (403,)  # since October 2025: InvokeFunction too
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)  # fmt: skip
    assert send(enforced.url, "GET", path)[:1] == (201,)
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    conditions = {st["Sid"]: st["Condition"] for st in policy["Statement"]}
    assert conditions == {
        "url": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}},
        "invoke": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}},
    }
    # a statement for AWS_IAM URLs does not open a public one
    lam.remove_permission(FunctionName=name, StatementId="url")
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="AWS_IAM")  # fmt: skip
    assert send(enforced.url, "GET", path)[:1] == (403,)


def test_without_enforcement_a_public_url_needs_no_policy(server: Server, echo: tuple[str, str]) -> None:
    _name, url = echo
    assert send(server.url, "GET", f"/_urls/{url_id(url)}/")[:1] == (201,)


def test_a_url_of_one_function_never_runs_another(server: Server, create_fn: Callable[..., str]) -> None:
    lam = server.client("lambda")
    mine = create_fn({"app.py": "def handler(e, c):\n    return 'mine'\n"})
    theirs = create_fn({"app.py": "def handler(e, c):\n    return 'theirs'\n"})
    url = lam.create_function_url_config(FunctionName=mine, AuthType="NONE")["FunctionUrl"]
    lam.create_function_url_config(FunctionName=theirs, AuthType="NONE")
    for path in (f"/_urls/{url_id(url)}/../{theirs}", f"/_urls/{url_id(url)}/%2e%2e/{theirs}"):
        status, _, body, _ = send(server.url, "GET", path)
        assert (status, body) == (200, b'"mine"'), path
