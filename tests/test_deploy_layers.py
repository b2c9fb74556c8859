"""Layers deployed as a user deploys them (`lambdabox deploy`, the real CLI, into a running
server): a SAM AWS::Serverless::LayerVersion that a function names with `!Ref`, found again by the
next deploy (unchanged), published anew when its content changes (the old version deleted); a
serverless.yml `layers:` section that a function names with `{Ref: <Name>LambdaLayer}`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, start_server

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: shared-lib
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: layered-hello
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Layers: [!Ref Shared]
"""

APP = "import shared\n\ndef handler(event, context):\n    return shared.WHO\n"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("deploy-layers") / "data")
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


def actions(events: list[dict[str, Any]]) -> dict[str, str]:
    rows = next(e for e in events if e.get("event") == "plan")["resources"]
    return {r["logical_id"]: r["action"] for r in rows if r["type"] == "AWS::Lambda::LayerVersion"}


def invoke(lam: Any) -> Any:
    resp = lam.invoke(FunctionName="layered-hello", Payload=b"{}")
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body


def test_sam_layer_version_deploys_and_is_replaced_when_its_content_changes(
    srv: Server, tmp_path: Path
) -> None:
    project = tmp_path / "layered"
    (project / "src").mkdir(parents=True)
    (project / "src" / "app.py").write_text(APP)
    (project / "layer" / "python").mkdir(parents=True)
    (project / "layer" / "python" / "shared.py").write_text("WHO = 'v1'\n")
    template = project / "template.yaml"
    template.write_text(TEMPLATE)
    deploy = ("deploy", "-f", str(template), "--endpoint-url", srv.url)
    code, events, out = lambdabox(*deploy)
    assert code == 0, out
    assert not [e for e in events if e.get("event") == "problem" and "Layer" in e.get("message", "")], out
    lam = srv.client("lambda")
    assert invoke(lam) == "v1"
    layers = lam.get_function_configuration(FunctionName="layered-hello")["Layers"]
    assert [la["Arn"].rsplit(":", 2)[1:] for la in layers] == [["shared-lib", "1"]]

    code, events, out = lambdabox(*deploy)  # nothing changed
    assert code == 0, out
    assert set(actions(events).values()) == {"unchanged"}, out

    (project / "layer" / "python" / "shared.py").write_text("WHO = 'v2'\n")
    code, events, out = lambdabox(*deploy)
    assert code == 0, out
    assert invoke(lam) == "v2"
    versions = lam.list_layer_versions(LayerName="shared-lib")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2]  # the old version went with the update


SERVERLESS = """\
service: layered
frameworkVersion: "3"
provider:
  name: aws
  runtime: python3.12
package:
  patterns: ["!layer/**"]
layers:
  shared:
    path: layer
    description: shared code
    compatibleRuntimes: [python3.12]
functions:
  hello:
    name: sls-layered-hello
    handler: app.handler
    layers:
      - {Ref: SharedLambdaLayer}
  fromLayer:
    name: sls-handler-in-layer
    handler: in_layer.handler
    layers:
      - {Ref: SharedLambdaLayer}
"""


def test_serverless_layers_section_and_ref(srv: Server, tmp_path: Path) -> None:
    project = tmp_path / "sls"
    (project / "layer" / "python").mkdir(parents=True)
    (project / "layer" / "python" / "shared.py").write_text("WHO = 'from the layers section'\n")
    (project / "layer" / "python" / "in_layer.py").write_text(
        "def handler(event, context):\n    return 'layer'\n"
    )
    (project / "app.py").write_text(APP)
    yml = project / "serverless.yml"
    yml.write_text(SERVERLESS)
    code, events, out = lambdabox("deploy", "-f", str(yml), "--endpoint-url", srv.url)
    assert code == 0, out
    problems = [(e["level"], e["where"].split(":")[0]) for e in events if e.get("event") == "problem"]
    assert problems == [("warning", "serverless.yml")], out  # the handler a layer provides
    lam = srv.client("lambda")
    resp = lam.invoke(FunctionName="sls-layered-hello", Payload=b"{}")
    assert json.loads(resp["Payload"].read()) == "from the layers section"
    resp = lam.invoke(FunctionName="sls-handler-in-layer", Payload=b"{}")
    assert json.loads(resp["Payload"].read()) == "layer"
    layer = lam.get_layer_version(LayerName="shared", VersionNumber=1)
    assert layer["Description"] == "shared code" and layer["CompatibleRuntimes"] == ["python3.12"]
