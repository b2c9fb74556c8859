"""What the serverless.yml compiler's parts share: the resolved config, problems, and the Framework's names.

Names are those the Serverless Framework gives (its naming.js, and the "AWS CloudFormation Resource
Reference" of its resources guide): function `<service>-<stage>-<function>`, logical ids
`<Fn>LambdaFunction`, `<Fn>LogGroup`, `HttpApiRouteGetUsersIdVar`, `ApiGatewayMethodUsersGet`, where
`<Fn>` is the function's key with `-` as `Dash`, `_` as `Underscore` and the first letter upper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lambdabox.deploy.project import Problem, ProjectError
from lambdabox.deploy.yamlfile import Document, KeyPath


def clean(d: dict[str, Any]) -> dict[str, Any]:
    """`d` without its None values (the Framework's `undefined`, which JSON leaves out)."""
    return {k: v for k, v in d.items() if v is not None}


def normalize_name(name: str) -> str:
    return name[:1].upper() + name[1:]


def normalized_function_name(name: str) -> str:
    return normalize_name(name.replace("-", "Dash").replace("_", "Underscore"))


def normalize_path_part(part: str) -> str:
    # lodash capitalize (first upper, rest lower), then - as Dash, {x} as xVar, only [0-9A-Za-z]
    s = part[:1].upper() + part[1:].lower()
    s = s.replace("-", "Dash")
    s = re.sub(r"\{(.*)\}", r"\1Var", s)
    return normalize_name(re.sub(r"[^0-9A-Za-z]", "", s))


def normalize_path(path: str) -> str:
    return "".join(normalize_path_part(p) for p in path.split("/"))


def lambda_logical_id(fn: str) -> str:
    return f"{normalized_function_name(fn)}LambdaFunction"


def function_arn(fn: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [lambda_logical_id(fn), "Arn"]}


def invocation_uri(target: Any) -> dict[str, Any]:
    """API Gateway's URI for invoking a Lambda function (its ARN as a template value)."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":apigateway:",
                {"Ref": "AWS::Region"},
                ":lambda:path/2015-03-31/functions/",
                target,
                "/invocations",
            ],
        ]
    }


def execute_api_arn(api: Any, suffix: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":execute-api:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":",
                api,
                suffix,
            ],
        ]
    }


def api_permission(fn: str, api: Any, suffix: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "FunctionName": function_arn(fn),
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": execute_api_arn(api, suffix),
        },
    }


@dataclass
class Function:
    """A compiled function, for the event compilers."""

    key: str  # its key under `functions:`
    name: str  # the Lambda function name
    timeout: float
    config: dict[str, Any]


@dataclass
class Context:
    doc: Document
    config: dict[str, Any]
    service: str
    stage: str
    region: str
    resources: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    #: the queues `sqs` events consume (for the execution role's statement)
    queue_arns: list[Any] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)

    @property
    def provider(self) -> dict[str, Any]:
        p = self.config.get("provider")
        return p if isinstance(p, dict) else {}

    def warn(self, path: KeyPath, message: str) -> None:
        self.warnings.append(Problem("warning", self.doc.where(path), message))

    def error(self, path: KeyPath, message: str) -> None:
        self.errors.append(Problem("error", self.doc.where(path), message))

    def fail(self, path: KeyPath, message: str) -> ProjectError:
        return ProjectError([*self.errors, Problem("error", self.doc.where(path), message)])

    def check_keys(
        self, node: dict[str, Any], path: KeyPath, known: set[str], ignored: frozenset[str] = frozenset()
    ) -> None:
        """Warns of each key not in `known`: 'ignored' for the ones lambdabox knows it skips."""
        for key in node:
            if key in known:
                continue
            if key in ignored:
                self.warn((*path, key), f"{key} is not supported by lambdabox and is ignored")
            else:
                self.warn((*path, key), f"unknown key {key!r} is ignored")

    def mapping(self, node: Any, path: KeyPath) -> dict[str, Any]:
        """`node` if it is a mapping (None: empty), else an error and an empty one."""
        if node is None:
            return {}
        if isinstance(node, dict):
            return node
        self.error(path, f"expected a mapping, got {type(node).__name__}")
        return {}
