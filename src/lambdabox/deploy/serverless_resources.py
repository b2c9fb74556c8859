"""serverless.yml's IAM role and `resources:`, as the Serverless Framework adds them to the template."""

from __future__ import annotations

from typing import Any

from lambdabox.deploy.serverless_model import Context
from lambdabox.deploy.serverless_queues import role_statement
from lambdabox.deploy.yamlfile import KeyPath


def iam_role(ctx: Context, logical: str) -> None:
    """The Framework's default execution role: logs statements, then iam.role.statements."""
    provider = ctx.provider
    iam: dict[str, Any] = provider["iam"] if isinstance(provider.get("iam"), dict) else {}
    role_cfg: dict[str, Any] = iam["role"] if isinstance(iam.get("role"), dict) else {}
    statements = list(role_cfg.get("statements") or provider.get("iamRoleStatements") or [])
    managed = list(role_cfg.get("managedPolicies") or provider.get("iamManagedPolicies") or [])
    logs = f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/{ctx.service}-{ctx.stage}*"
    props: dict[str, Any] = {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["lambda.amazonaws.com"]},
                    "Action": ["sts:AssumeRole"],
                }
            ],
        },
        "Policies": [
            {
                "PolicyName": {"Fn::Join": ["-", [ctx.service, ctx.stage, "lambda"]]},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:CreateLogGroup", "logs:TagResource"],
                            "Resource": [{"Fn::Sub": f"{logs}:*"}],
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["logs:PutLogEvents"],
                            "Resource": [{"Fn::Sub": f"{logs}:*:*"}],
                        },
                        *role_statement(ctx),
                        *statements,
                    ],
                },
            }
        ],
        "Path": role_cfg.get("path", "/"),
        "RoleName": role_cfg.get("name")
        or {"Fn::Join": ["-", [ctx.service, ctx.stage, {"Ref": "AWS::Region"}, "lambdaRole"]]},
    }
    if managed:
        props["ManagedPolicyArns"] = managed
    if role_cfg.get("permissionsBoundary"):
        props["PermissionsBoundary"] = role_cfg["permissionsBoundary"]
    ctx.resources[logical] = {"Type": "AWS::IAM::Role", "Properties": props}


def merge_resources(ctx: Context) -> None:
    """`resources:` (one block or a list): Resources deep-merged over the generated ones, Outputs,
    Conditions, and `extensions` (Properties merged, DependsOn appended) of generated resources."""
    raw = ctx.config.get("resources")
    blocks = raw if isinstance(raw, list) else [raw] if raw else []
    for i, block in enumerate(blocks):
        base: KeyPath = ("resources", i) if isinstance(raw, list) else ("resources",)
        block = ctx.mapping(block, base)
        ctx.check_keys(block, base, {"Resources", "Outputs", "Conditions", "extensions", "Description"},
                       frozenset({"Parameters", "Mappings", "Transform", "Metadata", "Rules"}))  # fmt: skip
        for name, resource in ctx.mapping(block.get("Resources"), (*base, "Resources")).items():
            if isinstance(resource, dict) and isinstance(ctx.resources.get(name), dict):
                _deep_merge(ctx.resources[name], resource)  # the Framework merges into its own
            else:
                ctx.resources[name] = resource
        ctx.outputs.update(ctx.mapping(block.get("Outputs"), (*base, "Outputs")))
        ctx.conditions.update(ctx.mapping(block.get("Conditions"), (*base, "Conditions")))
        for name, ext in ctx.mapping(block.get("extensions"), (*base, "extensions")).items():
            target = ctx.resources.get(name)
            if not isinstance(target, dict) or not isinstance(ext, dict):
                ctx.error((*base, "extensions", name), f"extensions.{name}: no such generated resource")
                continue
            for attr, value in ext.items():
                if attr == "Properties" and isinstance(value, dict):
                    _deep_merge(target.setdefault("Properties", {}), value)
                elif attr == "DependsOn":
                    have = target.get("DependsOn") or []
                    have = have if isinstance(have, list) else [have]
                    target["DependsOn"] = have + (value if isinstance(value, list) else [value])
                elif attr in ("Metadata", "DeletionPolicy", "UpdateReplacePolicy", "Condition"):
                    target[attr] = value
                else:
                    ctx.error((*base, "extensions", name, attr), f"{attr} cannot be extended")


def _deep_merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for k, v in other.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _deep_merge(into[k], v)
        else:
            into[k] = v
