"""Helpers of the REST API tests: plain HTTP to a data plane, and the usual proxy API."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

from lambdabox.testing import LocalLambdabox

ECHO = {
    "app.py": (
        "import base64, json\n"
        "def handler(event, context):\n"
        "    path = event['path']\n"
        "    if path == '/boom':\n"
        "        raise RuntimeError('boom')\n"
        "    if path == '/hang':\n"
        "        import time; time.sleep(30)\n"
        "    if path == '/bad':\n"
        "        return {'statusCode': 'not a number'}\n"
        "    if path == '/png':\n"
        "        return {'statusCode': 200, 'headers': {'Content-Type': 'image/png'},\n"
        "                'body': base64.b64encode(b'\\x89PNG\\x00\\xff').decode(), 'isBase64Encoded': True}\n"
        "    return {'statusCode': 201, 'headers': {'x-echo': 'yes'},\n"
        "            'multiValueHeaders': {'Set-Cookie': ['a=1', 'b=2']},\n"
        "            'body': json.dumps({'event': event, 'version': context.function_version})}\n"
    )
}


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


def lambda_uri(function_arn: str, region: str = "us-east-1") -> str:
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def proxy_api(gw: Any, function_arn: str, stage: str = "dev", **create: Any) -> tuple[str, str, str]:
    """A REST API with `ANY /{proxy+}` integrated with the function, deployed to `stage`:
    (api id, root resource id, proxy resource id)."""
    api_id = gw.create_rest_api(name=create.pop("name", "proxy"), **create)["id"]
    root = next(r["id"] for r in gw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    proxy = gw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    gw.put_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
    gw.put_integration(
        restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="AWS_PROXY",
        integrationHttpMethod="POST", uri=lambda_uri(function_arn),
    )  # fmt: skip
    gw.create_deployment(restApiId=api_id, stageName=stage)
    return api_id, root, proxy
