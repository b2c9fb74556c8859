"""`lambdabox apis`: every stage of the server's HTTP and REST APIs with both of its URLs, and
each printed URL answers."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from conftest import Server, deploy, unique

HELLO = {
    "app.py": "def handler(e, c):\n"
    "    return {'statusCode': 200, 'body': 'hi from ' + (e.get('rawPath') or e['path'])}\n"
}


def _get(url: str) -> tuple[int, bytes]:
    """GET a printed URL; a host-form URL is sent to the server's address with its Host header."""
    u = urlsplit(url)
    req = urllib.request.Request(url.replace(u.netloc, f"127.0.0.1:{u.port}"), headers={"Host": u.netloc})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read()


def test_apis_lists_both_urls_of_every_stage(server: Server, lam: Any) -> None:
    name = deploy(lam, HELLO)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    v2 = server.client("apigatewayv2")
    http_id = v2.create_api(Name=unique("cli-http"), ProtocolType="HTTP", Target=arn)["ApiId"]
    v1 = server.client("apigateway")
    rest_name = unique("cli-rest")
    rest_id = v1.create_rest_api(name=rest_name)["id"]
    root = v1.get_resources(restApiId=rest_id)["items"][0]["id"]
    v1.put_method(restApiId=rest_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    region = server.client("sts").meta.region_name
    v1.put_integration(
        restApiId=rest_id, resourceId=root, httpMethod="GET", type="AWS_PROXY", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
    )  # fmt: skip
    v1.create_deployment(restApiId=rest_id, stageName="dev")
    out = subprocess.run(
        [sys.executable, "-m", "lambdabox", "apis", "--endpoint-url", server.url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    port = urlsplit(server.url).port
    http_head = next(i for i, line in enumerate(lines) if f"({http_id})" in line)
    assert lines[http_head].startswith("HTTP API ") and lines[http_head].endswith("stage $default")
    assert lines[http_head + 1].strip() == f"http://{http_id}.execute-api.localhost:{port}/"
    assert lines[http_head + 2].strip() == f"{server.url}/_apis/{http_id}/"
    rest_head = next(i for i, line in enumerate(lines) if f"({rest_id})" in line)
    assert lines[rest_head] == f"REST API {rest_name} ({rest_id}) stage dev"
    assert lines[rest_head + 1].strip() == f"http://{rest_id}.execute-api.localhost:{port}/dev/"
    assert lines[rest_head + 2].strip() == f"{server.url}/_apis/{rest_id}/dev/"
    for i in (http_head, rest_head):  # every printed URL answers, through the function
        for url in (lines[i + 1].strip(), lines[i + 2].strip()):
            status, body = _get(url)
            assert status == 200 and body.startswith(b"hi from /"), (url, body)
