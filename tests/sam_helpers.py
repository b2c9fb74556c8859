"""Helpers of the SAM front end's tests: a template written into a project directory, compiled."""

from __future__ import annotations

import io
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lambdabox.deploy.project import Project, ProjectError
from lambdabox.deploy.sam import compile_sam

HEADER = "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n"


def write(root: Path, template: str, *, code: dict[str, str] | None = None, header: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in (
        code if code is not None else {"src/app.py": "def handler(e, c):\n    return {}\n"}
    ).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    path = root / "template.yaml"
    path.write_text((HEADER if header else "") + textwrap.dedent(template))
    return path


def compile_(path: Path, **kw: Any) -> Project:
    kw.setdefault("stack_name", None)
    kw.setdefault("parameters", {})
    kw.setdefault("region", "us-east-1")
    return compile_sam(path, **kw)


def resources(project: Project, kind: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = project.template["Resources"]
    return {k: v for k, v in res.items() if kind is None or v["Type"] == kind}


def names(artifact_zip: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(artifact_zip)).namelist()


def errors(excinfo: pytest.ExceptionInfo[ProjectError]) -> list[str]:
    return [str(p) for p in excinfo.value.problems]


FUNCTION = """
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    MemorySize: 256
    Timeout: 7
    Environment:
      Variables: {STAGE: dev}
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: /hello, Method: GET}
        Post:
          Type: HttpApi
          Properties: {Path: "/items/{id}", Method: post}
"""
