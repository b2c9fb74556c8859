"""The Python SAM examples compile to what they say: routes, handler, runtime, code artifacts.

examples/python-sam-http (a plain handler) and examples/python-asgi (Starlette through Mangum, its
requirements.txt installed into the package) are compiled as `lambdabox deploy` compiles them;
the HTTP example's handler is also called with HTTP API events. Deploying them against a server is
the engine's and the CLI's test.
"""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambdabox.deploy.project import ARTIFACT_BUCKET, Project
from lambdabox.deploy.sam import compile_sam

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def compile_example(path: Path) -> Project:
    return compile_sam(path, stack_name=None, parameters={}, region="us-east-1")


def routes(project: Project) -> set[str]:
    paths = project.template["Resources"]["ServerlessHttpApi"]["Properties"]["Body"]["paths"]
    return {f"{method.upper()} {path}" for path, methods in paths.items() for method in methods}


def zip_names(project: Project, key: str) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(project.artifacts[key].zip_bytes)).namelist()


def test_python_sam_http_compiles() -> None:
    project = compile_example(EXAMPLES / "python-sam-http" / "template.yaml")
    assert project.stack_name == "python-sam-http"
    assert project.problems == []
    res = project.template["Resources"]
    assert {k: v["Type"] for k, v in res.items()} == {
        "ItemsFunction": "AWS::Lambda::Function",
        "ItemsFunctionRole": "AWS::IAM::Role",
        "ItemsFunctionHelloPermission": "AWS::Lambda::Permission",
        "ItemsFunctionGetItemPermission": "AWS::Lambda::Permission",
        "ItemsFunctionCreateItemPermission": "AWS::Lambda::Permission",
        "ServerlessHttpApi": "AWS::ApiGatewayV2::Api",
        "ServerlessHttpApiApiGatewayDefaultStage": "AWS::ApiGatewayV2::Stage",
    }
    assert routes(project) == {"GET /hello", "GET /items/{id}", "POST /items"}
    props = res["ItemsFunction"]["Properties"]
    assert props["Handler"] == "app.handler" and props["Runtime"] == "python3.12"
    assert props["Environment"] == {"Variables": {"GREETING": {"Ref": "Greeting"}}}
    assert project.parameters == {"Greeting": "Hello"}
    assert props["Code"]["S3Bucket"] == ARTIFACT_BUCKET
    assert zip_names(project, props["Code"]["S3Key"]) == ["app.py"]
    assert set(project.template["Outputs"]) == {"ApiUrl", "ItemsFunctionName"}


def _load_app(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("sam_http_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _event(route: str, path: str, **extra: Any) -> dict[str, Any]:
    method = route.split()[0]
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "requestContext": {"http": {"method": method}},
        **extra,
    }


def test_python_sam_http_handler_answers_its_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _load_app(EXAMPLES / "python-sam-http" / "src" / "app.py")
    monkeypatch.setenv("GREETING", "Hi")
    hello = app.handler(_event("GET /hello", "/hello", queryStringParameters={"name": "sam"}), None)
    assert hello["statusCode"] == 200 and json.loads(hello["body"]) == {"message": "Hi, sam!"}
    item = app.handler(_event("GET /items/{id}", "/items/7", pathParameters={"id": "7"}), None)
    assert json.loads(item["body"]) == {"id": "7", "name": "item 7"}
    created = app.handler(_event("POST /items", "/items", body='{"name": "pen"}'), None)
    assert created["statusCode"] == 201 and json.loads(created["body"])["name"] == "pen"
    assert app.handler(_event("POST /items", "/items", body="nope"), None)["statusCode"] == 400


def test_python_asgi_compiles_with_its_requirements_installed(tmp_path: Path) -> None:
    root = tmp_path / "python-asgi"  # a copy: the requirements install lands in src/.lambdabox/
    shutil.copytree(EXAMPLES / "python-asgi", root, ignore=shutil.ignore_patterns(".lambdabox"))
    project = compile_example(root / "template.yaml")
    assert project.stack_name == "python-asgi"
    assert project.problems == []
    res = project.template["Resources"]
    assert sorted(v["Type"] for v in res.values()) == sorted(
        [
            "AWS::Lambda::Function",
            "AWS::IAM::Role",
            "AWS::Lambda::Permission",
            "AWS::Lambda::Permission",
            "AWS::ApiGatewayV2::Api",
            "AWS::ApiGatewayV2::Stage",
        ]
    )
    # Method ANY is OpenAPI's x-amazon-apigateway-any-method
    assert routes(project) == {"X-AMAZON-APIGATEWAY-ANY-METHOD /", "X-AMAZON-APIGATEWAY-ANY-METHOD /{proxy+}"}
    props = res["AsgiFunction"]["Properties"]
    assert props["Handler"] == "app.handler" and props["Runtime"] == "python3.11"
    assert props["MemorySize"] == 256 and props["Timeout"] == 10
    files = zip_names(project, props["Code"]["S3Key"])
    assert "app.py" in files and "requirements.txt" in files
    assert "mangum/__init__.py" in files and "starlette/applications.py" in files
    assert not [f for f in files if f.startswith(".lambdabox/")]
    assert project.watch == [(root / "src").resolve()]

    again = compile_example(root / "template.yaml")  # the install is reused; the zip is the same
    assert again.template == project.template and list(again.artifacts) == list(project.artifacts)
