"""The examples deployed as a user deploys them: `lambdabox deploy` (the real CLI, as a process) into
a running server, real HTTP to the APIs it made, an unchanged redeploy that changes nothing, a
code change that updates only what changed, `lambdabox remove`; and `lambdabox up --watch`, whose
reload serves the saved code."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import Server, start_server

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("deploy") / "data")
    yield s
    s.stop()


def copy_example(name: str, dest: Path) -> Path:
    src = EXAMPLES / name
    if name.startswith("express") and not (src / "node_modules" / "express").is_dir():
        pytest.fail("run `make tools` first: it installs the example's node_modules")
    shutil.copytree(src, dest / name, symlinks=True, ignore=shutil.ignore_patterns(".lambdabox"))
    return dest / name


def lambdabox(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> tuple[int, list[dict[str, Any]], str]:
    """Run the CLI with --json: (exit code, its JSON lines, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "lambdabox", *args, "--json"],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, events, proc.stderr + proc.stdout


def request(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def plan_of(events: list[dict[str, Any]]) -> dict[str, str]:
    """logical id -> planned action."""
    plan = next(e for e in events if e.get("event") == "plan")
    return {r["logical_id"]: r["action"] for r in plan["resources"]}


def endpoint(events: list[dict[str, Any]]) -> str:
    """The first API stage's URL by path (<server>/_apis/<id>/[<stage>/])."""
    return str(next(e["by_path"] for e in events if e.get("event") == "endpoint")).rstrip("/")


def test_the_express_example_deploys_serves_redeploys_and_is_removed(srv: Server, tmp_path: Path) -> None:
    project = copy_example("express-http-api", tmp_path)
    code, events, out = lambdabox("deploy", "-f", str(project / "serverless.yml"), "--endpoint-url", srv.url)
    assert code == 0, out
    assert set(plan_of(events).values()) == {"create"}
    api = endpoint(events)
    tries = [e["command"] for e in events if e.get("event") == "try"]
    assert f"curl -s {api}/hello" in tries and f"curl -s -X POST {api}/echo" in tries, tries
    status, _, body = request(f"{api}/hello")
    assert (status, json.loads(body)) == (200, {"message": "Hello from Express on lambdabox", "stage": "dev"})
    status, _, body = request(f"{api}/users/42?tab=posts")
    assert (status, json.loads(body)) == (200, {"id": "42", "query": {"tab": "posts"}})
    status, _, body = request(f"{api}/echo", "POST", b'{"a":1}', {"content-type": "application/json"})
    assert (status, json.loads(body)) == (201, {"received": {"a": 1}, "contentType": "application/json"})
    status, _, body = request(f"{api}/error")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    status, headers, _ = request(
        f"{api}/hello",
        "OPTIONS",
        headers={"Origin": "http://example.com", "Access-Control-Request-Method": "GET"},
    )
    assert status == 204 and headers.get("access-control-allow-origin") == "*"
    status, _, body = request(f"{api}/private")
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    lam = srv.client("lambda")
    fn = lam.get_function(FunctionName="express-http-api-dev-api")["Configuration"]
    assert (fn["Runtime"], fn["MemorySize"], fn["Timeout"]) == ("nodejs20.x", 256, 10)

    # the same project again: nothing to do
    code, events, out = lambdabox("deploy", "-f", str(project / "serverless.yml"), "--endpoint-url", srv.url)
    assert code == 0, out
    assert set(plan_of(events).values()) == {"unchanged"}, plan_of(events)

    # new code: the function (and its published version) change, nothing else
    app = project / "app.js"
    app.write_text(app.read_text().replace("Hello from Express on lambdabox", "Hello again"))
    code, events, out = lambdabox("deploy", "-f", str(project / "serverless.yml"), "--endpoint-url", srv.url)
    assert code == 0, out
    plan = next(e for e in events if e.get("event") == "plan")["resources"]
    changed = {(r["type"], r["action"]) for r in plan if r["action"] != "unchanged"}
    # the function's code, and the version published from it (the old one stays: Retain)
    assert changed == {("AWS::Lambda::Function", "update"), ("AWS::Lambda::Version", "create")}, plan
    versions = lam.list_versions_by_function(FunctionName="express-http-api-dev-api")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert json.loads(request(f"{api}/hello")[2])["message"] == "Hello again"

    # new configuration: the function is updated and a version of it published (the Framework
    # names its Version after the function's properties, so a new one is made)
    yml = project / "serverless.yml"
    yml.write_text(yml.read_text().replace("memorySize: 256", "memorySize: 512"))
    code, events, out = lambdabox("deploy", "-f", str(yml), "--endpoint-url", srv.url)
    assert code == 0, out
    plan = next(e for e in events if e.get("event") == "plan")["resources"]
    assert ("AWS::Lambda::Version", "create") in {(r["type"], r["action"]) for r in plan}, plan
    qualified = next(e["value"] for e in events if e.get("key") == "ApiLambdaFunctionQualifiedArn")
    assert lam.get_function_configuration(FunctionName=qualified)["MemorySize"] == 512

    code, events, out = lambdabox("remove", "-f", str(project / "serverless.yml"), "--endpoint-url", srv.url)
    assert code == 0, out
    assert request(f"{api}/hello")[0] in (403, 404)
    assert not [
        f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("express-http-api-")
    ]


def test_the_python_sam_example_deploys_and_serves(srv: Server, tmp_path: Path) -> None:
    project = copy_example("python-sam-http", tmp_path)
    code, events, out = lambdabox(
        "deploy", "-f", str(project / "template.yaml"), "--endpoint-url", srv.url, "--param", "Greeting=Hi"
    )
    assert code == 0, out
    api = endpoint(events)
    status, _, body = request(f"{api}/hello")
    assert status == 200 and "Hi" in body.decode(), body
    status, _, body = request(f"{api}/items", "POST", b'{"name":"x"}', {"content-type": "application/json"})
    assert status in (200, 201), body
    assert request(f"{api}/items/7")[0] == 200
    code, events, out = lambdabox(
        "deploy", "-f", str(project / "template.yaml"), "--endpoint-url", srv.url, "--param", "Greeting=Hi"
    )
    assert code == 0, out
    assert set(plan_of(events).values()) == {"unchanged"}, [
        r
        for r in next(e for e in events if e.get("event") == "plan")["resources"]
        if r["action"] != "unchanged"
    ]
    code, _, out = lambdabox("remove", "-f", str(project / "template.yaml"), "--endpoint-url", srv.url)
    assert code == 0, out
    code, events, out = lambdabox("remove", "--stack-name", "python-sam-http", "--endpoint-url", srv.url)
    assert code == 1 and "Stack with id python-sam-http does not exist" in out, out


def test_the_asgi_example_installs_its_requirements_once_and_serves(srv: Server, tmp_path: Path) -> None:
    project = copy_example("python-asgi", tmp_path)
    code, events, out = lambdabox("deploy", "-f", str(project / "template.yaml"), "--endpoint-url", srv.url)
    assert code == 0, out
    api = endpoint(events)
    status, _, body = request(f"{api}/hello/ada")
    assert (status, json.loads(body)) == (200, {"message": "Hello, ada!"})
    status, _, body = request(f"{api}/notes", "POST", b'{"text":"hi"}', {"content-type": "application/json"})
    assert (status, json.loads(body)) == (201, {"id": "1", "text": "hi"})
    installed = sorted((project / "src" / ".lambdabox" / "requirements").iterdir())
    code, events, out = lambdabox("deploy", "-f", str(project / "template.yaml"), "--endpoint-url", srv.url)
    assert code == 0, out
    assert set(plan_of(events).values()) == {"unchanged"}, out
    assert sorted((project / "src" / ".lambdabox" / "requirements").iterdir()) == installed  # reused
    code, _, out = lambdabox("remove", "-f", str(project / "template.yaml"), "--endpoint-url", srv.url)
    assert code == 0, out


REST_SAM = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      Events:
        Hello:
          Type: Api
          Properties: {Path: /hello, Method: get}
"""
REST_APP = "import json\ndef handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps({'path': event['path'], 'resource': event['resource']})}\n"


def test_a_sam_rest_api_is_imported_served_and_reimported(srv: Server, tmp_path: Path) -> None:
    (tmp_path / "rest" / "src").mkdir(parents=True)
    template = tmp_path / "rest" / "template.yaml"
    template.write_text(REST_SAM)
    (tmp_path / "rest" / "src" / "app.py").write_text(REST_APP)
    code, events, out = lambdabox("deploy", "-f", str(template), "--endpoint-url", srv.url)
    assert code == 0, out
    api = endpoint(events)
    assert api.endswith("/Prod"), api
    status, _, body = request(f"{api}/hello")
    assert (status, json.loads(body)) == (200, {"path": "/hello", "resource": "/hello"})
    code, events, out = lambdabox("deploy", "-f", str(template), "--endpoint-url", srv.url)
    assert code == 0, out
    assert set(plan_of(events).values()) == {"unchanged"}, out
    # a second route: the API is imported again and the stage serves a new deployment of it
    template.write_text(
        REST_SAM
        + '        Bye:\n          Type: Api\n          Properties: {Path: "/bye/{name}", Method: get}\n'
    )
    code, events, out = lambdabox("deploy", "-f", str(template), "--endpoint-url", srv.url)
    assert code == 0, out
    status, _, body = request(f"{api}/bye/x")
    assert (status, json.loads(body)) == (200, {"path": "/bye/x", "resource": "/bye/{name}"})
    assert request(f"{api}/hello")[0] == 200
    code, _, out = lambdabox("remove", "-f", str(template), "--endpoint-url", srv.url)
    assert code == 0, out
    assert request(f"{api}/hello")[0] in (403, 404)  # (no such API any more)


SLS_REST = """\
service: rest-demo
provider:
  name: aws
  runtime: python3.11
functions:
  hello:
    handler: handler.hello
    events:
      - http: GET hello
      - http:
          path: items/{id}
          method: post
          cors: true
"""
SLS_APP = "import json\ndef hello(event, context):\n    return {'statusCode': 200, 'body': json.dumps({'resource': event['resource'], 'stage': event['requestContext']['stage']})}\n"


def test_a_serverless_rest_api_deploys_and_serves(srv: Server, tmp_path: Path) -> None:
    (tmp_path / "sls").mkdir()
    (tmp_path / "sls" / "serverless.yml").write_text(SLS_REST)
    (tmp_path / "sls" / "handler.py").write_text(SLS_APP)
    path = str(tmp_path / "sls" / "serverless.yml")
    code, events, out = lambdabox("deploy", "-f", path, "--endpoint-url", srv.url)
    assert code == 0, out
    api = endpoint(events)
    assert api.endswith("/dev"), api
    status, _, body = request(f"{api}/hello")
    assert (status, json.loads(body)) == (200, {"resource": "/hello", "stage": "dev"})
    status, _, body = request(f"{api}/items/7", "POST", b"{}")
    assert (status, json.loads(body)) == (200, {"resource": "/items/{id}", "stage": "dev"})
    status, headers, _ = request(
        f"{api}/items/7",
        "OPTIONS",
        headers={"Origin": "http://x.example", "Access-Control-Request-Method": "POST"},
    )
    assert status == 200 and headers.get("access-control-allow-origin") == "*", headers
    code, events, out = lambdabox("deploy", "-f", path, "--endpoint-url", srv.url)
    assert code == 0, out
    assert set(plan_of(events).values()) == {"unchanged"}, out
    code, _, out = lambdabox("remove", "-f", path, "--endpoint-url", srv.url)
    assert code == 0, out


def test_up_watch_serves_saved_code(tmp_path: Path) -> None:
    project = copy_example("express-http-api", tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdabox", "up", "-f", str(project / "serverless.yml"), "--port", "0",
         "--data-dir", str(tmp_path / "data"), "--watch", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []

    def until(event: str, limit: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            seen.append(line)
            if line.startswith("{") and json.loads(line).get("event") == event:
                return dict(json.loads(line))
        raise AssertionError(f"no {event!r} event; output:\n{''.join(seen)}")

    try:
        ep = until("endpoint")
        until("deployed")
        api = str(ep["by_path"]).rstrip("/")
        assert json.loads(request(f"{api}/hello")[2])["message"] == "Hello from Express on lambdabox"
        until("watching")
        app = project / "app.js"
        app.write_text(app.read_text().replace("Hello from Express on lambdabox", "Saved and served"))
        reloaded = until("reloaded")
        assert reloaded["ok"] is True
        assert json.loads(request(f"{api}/hello")[2])["message"] == "Saved and served"
    finally:
        proc.terminate()
        proc.wait(60)


@pytest.mark.parametrize(
    ("example", "path", "answer"),
    [
        ("python-sam-http", "/hello", b"Hello"),
        ("python-asgi", "/hello/ann", b"Hello, ann!"),
    ],
)
def test_up_serves_each_sam_example(tmp_path: Path, example: str, path: str, answer: bytes) -> None:
    project = copy_example(example, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdabox", "up", "-f", str(project / "template.yaml"), "--port", "0",
         "--data-dir", str(tmp_path / "data"), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    api = None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "endpoint":
                api = str(event["by_path"]).rstrip("/")
            if event.get("event") in ("deployed", "failed"):
                assert event["event"] == "deployed", "".join(seen)
                break
        assert api is not None, "".join(seen)
        status, _, body = request(f"{api}{path}")
        assert status == 200 and answer in body, body
    finally:
        proc.terminate()
        proc.wait(60)
