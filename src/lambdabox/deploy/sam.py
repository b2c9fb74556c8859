"""A SAM or plain CloudFormation template -> `Project`, as `sam deploy` hands CloudFormation its template.

`compile_sam` loads the template (yamlfile: short tags, lines), checks the Parameters against the
given values, packages local code (sam_code: CodeUri -> s3://lambdabox-deploy-artifacts/<sha256>.zip),
keeps out what lambdabox does not serve yet (event sources other than Api/HttpApi/SQS/SNS, nested
Serverless applications) as warnings naming file, line and key, and runs the
AWS::Serverless-2016-10-31 Transform with AWS's own translator (sam_transform). What comes out is
plain CloudFormation: Parameters, Conditions, Resources and Outputs for the engine.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from lambdabox.config import Settings
from lambdabox.deploy import yamlfile
from lambdabox.deploy.project import Problem, Project, ProjectError, Where, source_lines
from lambdabox.deploy.sam_code import CodePackager

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"

# Function event sources lambdabox's deploy serves; the rest (SQS, SNS, S3, Schedule, EventBridgeRule,
# Kinesis, DynamoDB ...) come with later work and are reported, not deployed.
SUPPORTED_EVENTS = frozenset({"Api", "HttpApi", "SQS", "SNS"})
SUPPORTED_SAM_TYPES = frozenset(
    {
        "AWS::Serverless::Function",
        "AWS::Serverless::Api",
        "AWS::Serverless::HttpApi",
        "AWS::Serverless::LayerVersion",
    }
)


def compile_sam(
    path: Path,
    *,
    stack_name: str | None = None,
    parameters: dict[str, str] | None = None,
    region: str | None = None,
    account_id: str = Settings.account_id,
) -> Project:
    """Compiles `path` (template.yaml / .json); raises ProjectError naming file, line and key."""
    doc = yamlfile.load(path)
    if not isinstance(doc.data, dict):
        raise ProjectError([Problem("error", doc.where(()), "a template must be a mapping")])
    template: dict[str, Any] = copy.deepcopy(doc.data)
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    stack = stack_name or default_stack_name(path)
    values = parameter_values(doc, template, parameters or {})
    problems = _keep_out_unsupported(doc, template)

    packager = CodePackager(doc, values)
    packager.rewrite(template)
    if _is_sam(doc, template):
        template = _transform(doc, template, values=values, region=region, account_id=account_id, stack=stack)
    else:
        template.pop("Transform", None)
    known = {lid: line for lid in doc.data.get("Resources") or {} if (line := doc.line(("Resources", lid)))}
    return Project(
        stack_name=stack,
        template=template,
        parameters=values,
        artifacts=packager.artifacts,
        problems=problems + packager.warnings,
        source=path,
        watch=packager.watch,
        region=region,
        lines=source_lines(list(template.get("Resources") or {}), known),
    )


def default_stack_name(path: Path) -> str:
    """The project directory's name, made a valid stack name ([A-Za-z][-A-Za-z0-9]*, 128 at most)."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", path.resolve().parent.name).strip("-")
    if not name or not name[0].isalpha():
        name = f"sam-{name}".rstrip("-")
    return name[:128]


def parameter_values(
    doc: yamlfile.Document, template: dict[str, Any], given: dict[str, str]
) -> dict[str, str]:
    """Given values and the Defaults, checked as CloudFormation checks them before the Transform."""
    declared = template.get("Parameters") or {}
    if not isinstance(declared, dict):
        raise ProjectError([Problem("error", doc.where(("Parameters",)), "Parameters must be a mapping")])
    problems: list[Problem] = []
    unknown = sorted(set(given) - set(declared))
    if unknown:
        problems.append(
            Problem(
                "error", doc.where(("Parameters",)), f"Parameters: {unknown} do not exist in the template"
            )
        )
    values: dict[str, str] = {}
    missing: list[str] = []
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = _as_string(spec["Default"])
        else:
            missing.append(name)
            continue
        allowed = spec.get("AllowedValues")
        if isinstance(allowed, list) and value not in [_as_string(a) for a in allowed]:
            problems.append(
                Problem(
                    "error",
                    doc.where(("Parameters", name)),
                    f"Parameter '{name}' must be one of AllowedValues",
                )
            )
        values[name] = value
    if missing:
        problems.append(
            Problem("error", doc.where(("Parameters",)), f"Parameters: {missing} must have values")
        )
    if problems:
        raise ProjectError(problems)
    return values


def _as_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_as_string(v) for v in value)
    return str(value)


def _is_sam(doc: yamlfile.Document, template: dict[str, Any]) -> bool:
    transform = template.get("Transform")
    names = transform if isinstance(transform, list) else [] if transform is None else [transform]
    others = [n for n in names if n != SAM_TRANSFORM]
    if others:
        raise ProjectError(
            [Problem("error", doc.where(("Transform",)), f"Transform {others[0]!r} is not supported")]
        )
    return SAM_TRANSFORM in names


def _keep_out_unsupported(doc: yamlfile.Document, template: dict[str, Any]) -> list[Problem]:
    """Removes (in place) what lambdabox cannot serve yet, each removal a warning; returns them."""
    warnings: list[Problem] = []
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        return warnings
    for logical_id in list(resources):
        resource = resources[logical_id]
        kind = resource.get("Type") if isinstance(resource, dict) else None
        if not isinstance(kind, str) or not kind.startswith("AWS::Serverless::"):
            continue
        if kind == "AWS::Serverless::Application":  # its template comes from S3 or the app repository
            del resources[logical_id]
            warnings.append(
                _warning(doc, ("Resources", logical_id), f"{kind} is not yet supported: not deployed")
            )
        elif kind not in SUPPORTED_SAM_TYPES:
            warnings.append(
                _warning(
                    doc,
                    ("Resources", logical_id),
                    f"{kind} is not yet supported: its resources may not deploy",
                )
            )
        build_method = _dict(resource.get("Metadata")).get("BuildMethod")
        if build_method is not None:
            where = ("Resources", logical_id, "Metadata", "BuildMethod")
            message = f"BuildMethod {build_method} is not supported: the code directory is packaged as it is"
            warnings.append(_warning(doc, where, message))
        props = resource.get("Properties")
        events = props.get("Events") if isinstance(props, dict) else None
        if kind != "AWS::Serverless::Function" or not isinstance(events, dict):
            continue
        for name in list(events):
            event = events[name]
            event_type = event.get("Type") if isinstance(event, dict) else None
            if isinstance(event_type, str) and event_type not in SUPPORTED_EVENTS:
                del events[name]
                event_path = ("Resources", logical_id, "Properties", "Events", name)
                message = f"event type {event_type} is not yet supported: not deployed"
                warnings.append(_warning(doc, event_path, message))
        if not events:
            del props["Events"]
    return warnings


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _warning(doc: yamlfile.Document, path: tuple[str | int, ...], message: str) -> Problem:
    return Problem("warning", doc.where(path), message)


def _transform(
    doc: yamlfile.Document,
    template: dict[str, Any],
    *,
    values: dict[str, str],
    region: str,
    account_id: str,
    stack: str,
) -> dict[str, Any]:
    from lambdabox.deploy.sam_transform import TransformFailed, transform

    try:
        return transform(template, parameters=values, region=region, account_id=account_id, stack_name=stack)
    except TransformFailed as e:
        problems = []
        for error in e.errors:
            if error.logical_id == "Globals":
                path: tuple[str, ...] = ("Globals",)
            elif error.logical_id:
                path = ("Resources", error.logical_id, *(error.key.split(".") if error.key else ()))
            else:
                path = ()
            where = doc.where(path)
            if error.logical_id is None:
                where = Where(where.file, None)
            problems.append(Problem("error", where, error.message))
        raise ProjectError(problems) from None
