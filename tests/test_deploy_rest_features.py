"""A serverless.yml's REST API features deployed as a user deploys them (`lambdabox deploy`, the real
CLI, into a running server) and called over real HTTP: an `http` event behind a Lambda TOKEN
authorizer (401 without a token, 403 for a denied one, 200 for an allowed one), a `private: true`
event with `provider.apiGateway.apiKeys` (403 without the key, 200 with its value),
curl lines for the REST API's methods, and the plan's readable names for what a
redeploy deletes."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import Server, start_server
from lambdabox.deploy.try_lines import try_lines
from lambdabox.target import Target

SERVERLESS = """\
service: restfeat
frameworkVersion: "3"
provider:
  name: aws
  runtime: python3.11
  apiGateway:
    apiKeys:
      - restfeat-key-${sls:stage}
functions:
  authz:
    handler: auth.handler
  hello:
    handler: app.handler
    events:
      - http:
          path: guarded
          method: get
          authorizer: authz
      - http:
          path: private
          method: get
          private: true
"""

APP = """\
import json

def handler(event, context):
    auth = (event.get("requestContext") or {}).get("authorizer") or {}
    body = {"path": event["path"], "principal": auth.get("principalId")}
    return {"statusCode": 200, "body": json.dumps(body)}
"""

AUTH = """\
def handler(event, context):
    token = event.get("authorizationToken")
    if token not in ("good", "bad"):
        raise Exception("Unauthorized")  # API Gateway answers 401
    effect = "Allow" if token == "good" else "Deny"
    return {
        "principalId": "user-" + token,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}],
        },
    }
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("rest-features") / "data")
    yield s
    s.stop()


def lambdabox(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run the CLI with --json: (exit code, its JSON lines, everything it printed)."""
    proc = subprocess.run(
        [sys.executable, "-m", "lambdabox", *args, "--json"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, events, proc.stderr + proc.stdout


def request(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(str(u.hostname), u.port, timeout=60)
    try:
        conn.request("GET", u.path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def plan_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(next(e for e in events if e.get("event") == "plan")["resources"])


def test_authorizer_api_keys_and_readable_deletes(srv: Server, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "auth.py").write_text(AUTH)
    yml = tmp_path / "serverless.yml"
    yml.write_text(SERVERLESS)
    deploy = ("deploy", "-f", str(yml), "--endpoint-url", srv.url)
    code, events, out = lambdabox(*deploy)
    assert code == 0, out
    problems = [e for e in events if e.get("event") == "problem"]
    assert not [p for p in problems if "not supported: not deployed" in p["message"]], problems
    api = str(next(e["by_path"] for e in events if e.get("event") == "endpoint")).rstrip("/")
    assert api.endswith("/dev")

    # the TOKEN authorizer: no token 401, a denied one 403, an allowed one 200 (with its context)
    assert request(f"{api}/guarded") == (401, b'{"message":"Unauthorized"}')
    status, body = request(f"{api}/guarded", {"Authorization": "bad"})
    assert status == 403, body
    status, body = request(f"{api}/guarded", {"Authorization": "good"})
    assert (status, json.loads(body)) == (200, {"path": "/guarded", "principal": "user-good"})

    # the private method: 403 without the key or with a wrong one, 200 with the key's value
    gw = srv.client("apigateway")
    keys = [k for k in gw.get_api_keys(includeValues=True)["items"] if k["name"] == "restfeat-key-dev"]
    assert len(keys) == 1 and keys[0]["enabled"], keys
    assert request(f"{api}/private")[0] == 403
    assert request(f"{api}/private", {"x-api-key": "not-the-key-not-the-key"})[0] == 403
    status, body = request(f"{api}/private", {"x-api-key": keys[0]["value"]})
    assert (status, json.loads(body)["path"]) == (200, "/private")

    # curl lines for the REST API's methods, with the headers each needs
    target = Target(srv.url, "us-east-1")
    assert try_lines(target, api + "/") == [
        f"curl -s -H 'Authorization: <token>' {api}/guarded",
        f"curl -s -H 'x-api-key: <api key>' {api}/private",
    ]

    # the same project again: nothing changes (every new resource type is found again)
    code, events, out = lambdabox(*deploy)
    assert code == 0, out
    assert {r["action"] for r in plan_rows(events)} == {"unchanged"}, [
        r for r in plan_rows(events) if r["action"] != "unchanged"
    ]
    assert [k["value"] for k in gw.get_api_keys(includeValues=True)["items"]] == [keys[0]["value"]]

    # no authorizer, no private event, no keys: the deleted parts are named so a person knows them
    yml.write_text(
        SERVERLESS.replace("          authorizer: authz\n", "")
        .replace(
            "      - http:\n          path: private\n          method: get\n          private: true\n", ""
        )
        .replace("  apiGateway:\n    apiKeys:\n      - restfeat-key-${sls:stage}\n", "")
    )
    code, events, out = lambdabox(*deploy)
    assert code == 0, out
    deleted = {r["logical_id"] for r in plan_rows(events) if r["action"] == "delete"}
    assert {
        "Method GET /private",
        "Resource /private",
        "Authorizer authz",
        "Key restfeat-key-dev in usage plan restfeat-dev",
        "ApiGatewayApiKey1",
        "ApiGatewayUsagePlan",
    } <= deleted, deleted
    assert not [d for d in deleted if "|" in d or d.startswith("arn:")], deleted
    assert request(f"{api}/guarded")[0] == 200
    assert gw.get_api_keys()["items"] == [] and gw.get_usage_plans()["items"] == []
    code, events, out = lambdabox("remove", "-f", str(yml), "--endpoint-url", srv.url)
    assert code == 0, out
