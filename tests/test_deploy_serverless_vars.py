"""serverless.yml variables: ${self:}, ${opt:}, ${sls:}, ${aws:}, ${env:}, ${file()}, fallbacks, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdabox.deploy.project import Project, ProjectError
from lambdabox.deploy.serverless import compile_serverless


def compile_yml(tmp_path: Path, body: str, **kw: Any) -> Project:
    yml = "service: svc\nprovider:\n  name: aws\n  runtime: nodejs20.x\n" + body
    if "functions:" not in body:
        yml += "functions:\n  hello:\n    handler: handler.main\n"
    (tmp_path / "serverless.yml").write_text(yml)
    (tmp_path / "handler.js").write_text("exports.main = async () => 1;")
    return compile_serverless(
        tmp_path / "serverless.yml",
        stage=kw.get("stage"),
        region=kw.get("region"),
        options=kw.get("options", {}),
        env=kw.get("env", {}),
    )


def env_of(p: Project) -> dict[str, Any]:
    variables: dict[str, Any] = p.template["Resources"]["HelloLambdaFunction"]["Properties"]["Environment"][
        "Variables"
    ]
    return variables


def test_sources(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "dev.yml").write_text("db: dev-db\nnested:\n  port: 5432\n")
    (tmp_path / "config" / "prod.yml").write_text("db: prod-db\n")
    (tmp_path / "settings.json").write_text(json.dumps({"color": "blue", "list": [1, 2]}))
    body = """\
  stage: ${opt:stage, 'dev'}
  region: ${opt:region, 'eu-central-1'}
  environment:
    STAGE: ${sls:stage}
    REGION: ${aws:region}
    SELF: ${self:custom.greeting}-${self:service}
    NESTED: ${self:custom.byStage.${sls:stage}}
    ENV: ${env:HOME_DIR}
    ENV_DEFAULT: ${env:NOPE, 'fallback'}
    ENV_CHAIN: ${env:NOPE, ${env:HOME_DIR}}
    NUMBER: ${env:NOPE, 42}
    FILE: ${file(./config/${sls:stage}.yml):db}
    FILE_DEEP: ${file(./config/dev.yml):nested.port}
    JSON: ${file(./settings.json):color}
    OPTION: ${opt:color, 'none'}
    INSTANCE: ${sls:instanceId}
    SUB_KEPT: arn:${AWS::Partition}:s3:::${Bucket}
custom:
  greeting: hi
  byStage:
    dev: dev-value
    prod: prod-value
  settings: ${file(./settings.json)}
  list: ${self:custom.settings.list}
"""
    p = compile_yml(tmp_path, body, env={"HOME_DIR": "/home/u"}, options={"color": "red"})
    env = env_of(p)
    assert env["STAGE"] == "dev" and env["REGION"] == "eu-central-1" and p.region == "eu-central-1"
    assert env["SELF"] == "hi-svc"
    assert env["NESTED"] == "dev-value"
    assert env["ENV"] == "/home/u" and env["ENV_DEFAULT"] == "fallback" and env["ENV_CHAIN"] == "/home/u"
    assert env["NUMBER"] == "42"
    assert env["FILE"] == "dev-db" and env["FILE_DEEP"] == "5432" and env["JSON"] == "blue"
    assert env["OPTION"] == "red"
    assert env["SUB_KEPT"] == "arn:${AWS::Partition}:s3:::${Bucket}"
    assert len(env["INSTANCE"]) >= 8
    again = compile_yml(tmp_path, body, env={"HOME_DIR": "/home/u"}, options={"color": "red"})
    assert env_of(again)["INSTANCE"] == env["INSTANCE"]  # stable: redeploys are no-ops
    prod = compile_yml(tmp_path, body, stage="prod", env={"HOME_DIR": "/x"})
    assert env_of(prod)["NESTED"] == "prod-value" and env_of(prod)["STAGE"] == "prod"
    assert env_of(prod)["FILE"] == "prod-db"
    assert prod.stack_name == "svc-prod"


def test_account_id_is_left_to_the_engine(tmp_path: Path) -> None:
    body = "  environment:\n    A: ${aws:accountId}\n    B: arn:aws:sqs:${aws:region}:${aws:accountId}:q\n"
    env = env_of(compile_yml(tmp_path, body))
    assert env["A"] == {"Ref": "AWS::AccountId"}
    assert env["B"] == {"Fn::Join": ["", ["arn:aws:sqs:us-east-1:", {"Ref": "AWS::AccountId"}, ":q"]]}


def test_whole_value_keeps_its_type(tmp_path: Path) -> None:
    body = "  memorySize: ${self:custom.mem}\n  timeout: ${env:T, 9}\ncustom:\n  mem: 256\n"
    props = compile_yml(tmp_path, body).template["Resources"]["HelloLambdaFunction"]["Properties"]
    assert props["MemorySize"] == 256 and props["Timeout"] == 9


def test_unresolvable_names_file_line_and_key(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as e:
        compile_yml(tmp_path, "  environment:\n    A: ${env:NOT_SET}\n")
    (problem,) = e.value.problems
    assert str(problem.where) == "serverless.yml:6: provider.environment.A"
    assert "cannot resolve ${env:NOT_SET}" in problem.message
    with pytest.raises(ProjectError, match=r"serverless.yml:6: provider.environment.A: .*self:custom.nope"):
        compile_yml(tmp_path, "  environment:\n    A: ${self:custom.nope}\n")
    with pytest.raises(ProjectError, match=r"unknown variable source 'bogus'"):
        compile_yml(tmp_path, "  environment:\n    A: ${bogus:x}\n")
    with pytest.raises(ProjectError, match=r"unterminated variable"):
        compile_yml(tmp_path, "  environment:\n    A: ${env:X\n")
    with pytest.raises(ProjectError, match=r"file\(./missing.yml\)"):
        compile_yml(tmp_path, "  environment:\n    A: ${file(./missing.yml):a}\n")


def test_circular_variables(tmp_path: Path) -> None:
    body = "custom:\n  a: ${self:custom.b}\n  b: x-${self:custom.a}\n"
    with pytest.raises(ProjectError) as e:
        compile_yml(tmp_path, body)
    message = str(e.value)
    assert "circular variable reference" in message
    assert "custom.a -> custom.b -> custom.a" in message
    assert e.value.problems[0].where.line is not None


def test_aws_only_sources(tmp_path: Path) -> None:
    p = compile_yml(tmp_path, "  environment:\n    A: ${ssm:/my/param, 'local'}\n")
    assert env_of(p)["A"] == "local"
    assert any("ssm:/my/param" in str(w) and w.where.line == 6 for w in p.problems)
    with pytest.raises(ProjectError, match=r"variables from ssm are not supported"):
        compile_yml(tmp_path, "  environment:\n    A: ${ssm:/my/param}\n")


def test_embedding_a_mapping_in_text_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"resolved to a dict, not text"):
        compile_yml(tmp_path, "  environment:\n    A: x-${self:custom}\ncustom:\n  k: v\n")
