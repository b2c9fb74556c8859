"""serverless.yml (Serverless Framework v3/v4) -> Project: the CloudFormation template the Framework makes.

`compile_serverless(path, stage=, region=, options=, env=)` loads the file (yamlfile), resolves its
variables (serverless_vars), then compiles as the Framework does: per function a
`<Fn>LambdaFunction` named `<service>-<stage>-<function>` with its `<Fn>LogGroup`
(`/aws/lambda/<name>`) and `<Fn>LambdaVersion<hash>`, one `IamRoleLambdaExecution` role
(`<service>-<stage>-<region>-lambdaRole`) with the logs statements and `iam.role.statements`, the
httpApi and http events (serverless_apis), the sqs and sns events (serverless_queues), then `resources:` merged in (Resources, Conditions,
Outputs, and `extensions` of generated resources). The stack is `<service>-<stage>`.

Code is packaged by package.build_artifact from the service directory with `package.patterns`
(per function when `package.individually`), or taken from `package.artifact`.

Whatever is not supported (a key, an event type later work adds, a plugin) is a warning in
`Project.problems` naming file, line and key; errors raise ProjectError with all that were found.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lambdabox.deploy import yamlfile
from lambdabox.deploy.package import artifact_from_zip, build_artifact, handler_problem
from lambdabox.deploy.project import (
    ARTIFACT_BUCKET,
    Artifact,
    Problem,
    Project,
    ProjectError,
    Where,
    source_lines,
)
from lambdabox.deploy.serverless_httpapi import compile_http_api
from lambdabox.deploy.serverless_layers import compile_layers
from lambdabox.deploy.serverless_model import Context, Function, lambda_logical_id, normalized_function_name
from lambdabox.deploy.serverless_queues import compile_sns, compile_sqs
from lambdabox.deploy.serverless_resources import iam_role, merge_resources
from lambdabox.deploy.serverless_restapi import compile_rest_api
from lambdabox.deploy.serverless_urls import compile_url
from lambdabox.deploy.serverless_vars import Resolver
from lambdabox.deploy.yamlfile import KeyPath

TOP_KEYS = {"service", "provider", "functions", "package", "custom", "plugins", "resources", "layers"}
TOP_QUIET = {  # settings of the Framework itself or its dashboard: nothing to deploy
    "frameworkVersion", "org", "app", "configValidationMode", "variablesResolutionMode",
    "deprecationNotificationMode", "disabledDeprecations", "unresolvedVariablesNotificationMode",
}  # fmt: skip
TOP_IGNORED = frozenset({"stepFunctions", "outputs", "params", "stages", "useDotenv", "build", "console"})
PROVIDER_KEYS = {
    "name", "runtime", "memorySize", "timeout", "environment", "stage", "region", "httpApi", "apiGateway",
    "iam", "iamRoleStatements", "iamManagedPolicies", "role", "logRetentionInDays", "tags", "stackName",
    "deploymentBucket", "profile", "versionFunctions", "architecture", "layers", "apiName", "stackTags",
    "deploymentMethod", "runtimeManagement", "description",
}  # fmt: skip
PROVIDER_IGNORED = frozenset(
    {"vpc", "tracing", "logs", "kmsKeyArn", "endpointType", "alb", "websocketsApiName", "eventBridge",
     "ecr", "cfnRole", "rolePermissionsBoundary", "stackPolicy", "notificationArns", "s3", "cloudFront",
     "lambdaHashingVersion", "apiKeys", "usagePlan", "resourcePolicy", "logDataProtectionPolicy"}
)  # fmt: skip
FUNCTION_KEYS = {
    "handler", "runtime", "memorySize", "timeout", "environment", "layers", "name", "description",
    "reservedConcurrency", "events", "package", "role", "tags", "architecture", "logRetentionInDays",
    "disableLogs", "httpApi", "provisionedConcurrency", "url",
}  # fmt: skip
FUNCTION_IGNORED = frozenset(
    {"image", "destinations", "vpc", "onError", "kmsKeyArn", "tracing",
     "maximumRetryAttempts", "maximumEventAge", "fileSystemConfig", "ephemeralStorageSize",
     "snapStart", "condition", "dependsOn", "runtimeManagement", "logDataProtectionPolicy"}
)  # fmt: skip
LATER_EVENTS = frozenset(
    {"s3", "schedule", "eventBridge", "stream", "alb", "websocket", "cloudwatchLog",
     "cloudwatchEvent", "iot", "iotFleetProvisioning", "cognitoUserPool", "alexaSkill", "alexaSmartHome",
     "msk", "kafka", "activemq", "rabbitmq", "cloudFront"}
)  # fmt: skip
ROLE = "IamRoleLambdaExecution"


def compile_serverless(
    path: Path,
    *,
    stage: str | None = None,
    region: str | None = None,
    options: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Project:
    """Compiles a serverless.yml; `env` is what `${env:...}` reads (pass os.environ)."""
    path = Path(path)
    doc = yamlfile.load(path)
    if not isinstance(doc.data, dict):
        raise ProjectError([Problem("error", Where(doc.name, 1), "serverless.yml must be a mapping")])
    early: list[Problem] = []
    resolver = Resolver(
        doc, stage=stage, region=region, options=options or {}, env=env or {},
        warn=lambda where, message: early.append(Problem("warning", where, message)),
    )  # fmt: skip
    config = resolver.resolve_all()
    service = config.get("service")
    if isinstance(service, dict):
        service = service.get("name")
    if not isinstance(service, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", service):
        raise ProjectError(
            [Problem("error", doc.where(("service",)), "service must be a name (letters, digits, -)")]
        )
    ctx = Context(doc, config, service, resolver.stage(), resolver.region(), warnings=early)
    _top_level(ctx)
    root = path.resolve().parent
    artifacts = _functions(ctx, root)
    artifacts.update(compile_layers(ctx, root))
    compile_http_api(ctx)
    compile_rest_api(ctx)
    merge_resources(ctx)
    if ctx.errors:
        raise ProjectError(ctx.errors)
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": ctx.provider.get("description")
        or "The AWS CloudFormation template for this Serverless application",
        "Resources": ctx.resources,
        "Outputs": ctx.outputs,
    }
    if ctx.conditions:
        template["Conditions"] = ctx.conditions
    stack = ctx.provider.get("stackName")
    known = {
        name: line
        for section in (("functions",), ("resources", "Resources"))
        for name in _mapping(ctx.config, section)
        if (line := ctx.doc.line((*section, name)))
    }
    return Project(
        stack_name=stack if isinstance(stack, str) else f"{service}-{ctx.stage}",
        template=template,
        artifacts=artifacts,
        problems=sorted(ctx.warnings, key=lambda w: (w.where.file != ctx.doc.name, w.where.line or 0)),
        source=path,
        watch=[root],
        region=ctx.region,
        lines=source_lines(list(template.get("Resources") or {}), known),
    )


def _mapping(config: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The mapping at `path` in the configuration ({} when there is none)."""
    node: Any = config
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _top_level(ctx: Context) -> None:
    ctx.check_keys(ctx.config, (), TOP_KEYS | TOP_QUIET, TOP_IGNORED)
    provider = ctx.config.get("provider")
    if not isinstance(provider, dict):
        raise ctx.fail(("provider",), "provider is required (a mapping with name: aws)")
    if provider.get("name") != "aws":
        raise ctx.fail(("provider", "name"), f"provider {provider.get('name')!r} is not supported (aws is)")
    ctx.check_keys(provider, ("provider",), PROVIDER_KEYS, PROVIDER_IGNORED)
    plugins = ctx.config.get("plugins") or []
    if isinstance(plugins, dict):  # the { localPath, modules } form
        plugins = plugins.get("modules") or []
    for i, plugin in enumerate(plugins if isinstance(plugins, list) else []):
        ctx.warn(("plugins", i), f"plugin {plugin} is not run by lambdabox: ignored")


def _functions(ctx: Context, root: Path) -> dict[str, Artifact]:
    provider = ctx.provider
    functions = ctx.mapping(ctx.config.get("functions"), ("functions",))
    service_pkg = ctx.mapping(ctx.config.get("package"), ("package",))
    ctx.check_keys(service_pkg, ("package",), {"patterns", "individually", "artifact", "include", "exclude"},
                   frozenset({"excludeDevDependencies"}))  # fmt: skip
    artifacts: dict[str, Artifact] = {}
    built: dict[tuple[str, ...], Artifact] = {}
    needs_role = False
    for key, raw in functions.items():
        path: KeyPath = ("functions", key)
        fn = ctx.mapping(raw, path)
        ctx.check_keys(fn, path, FUNCTION_KEYS, FUNCTION_IGNORED)
        if "image" in fn:
            ctx.warn(path, "container image functions are not supported by lambdabox: skipped")
            continue
        handler = fn.get("handler")
        if not isinstance(handler, str) or not handler:
            ctx.error((*path, "handler"), "handler is required (file.export)")
            continue
        runtime = str(fn.get("runtime") or provider.get("runtime") or "nodejs20.x")
        artifact = _artifact(ctx, root, key, fn, service_pkg, runtime, built)
        if artifact is None:
            continue
        layers = fn.get("layers", provider.get("layers"))
        _check_handler(ctx, root, handler, runtime, artifact, (*path, "handler"), layers)
        artifacts[artifact.key] = artifact
        name = str(fn.get("name") or f"{ctx.service}-{ctx.stage}-{key}")
        timeout = fn.get("timeout", provider.get("timeout", 6))
        role = fn.get("role", provider.get("role"))
        provider_role = (
            (provider.get("iam") or {}).get("role") if isinstance(provider.get("iam"), dict) else None
        )
        if role is None and isinstance(provider_role, str):
            role = provider_role
        if role is None:
            needs_role = True
        props: dict[str, Any] = {
            "Code": {"S3Bucket": ARTIFACT_BUCKET, "S3Key": artifact.key},
            "Handler": handler,
            "Runtime": runtime,
            "FunctionName": name,
            "MemorySize": fn.get("memorySize", provider.get("memorySize", 1024)),
            "Timeout": timeout,
            "Role": _role_value(role) if role is not None else {"Fn::GetAtt": [ROLE, "Arn"]},
        }
        if fn.get("description") is not None:
            props["Description"] = str(fn["description"])
        arch = fn.get("architecture", provider.get("architecture"))
        if arch:
            props["Architectures"] = [arch]
        environment = _environment(ctx, path, provider.get("environment"), fn.get("environment"))
        if environment:
            props["Environment"] = {"Variables": environment}
        if layers:
            props["Layers"] = layers if isinstance(layers, list) else [layers]
        if fn.get("reservedConcurrency") is not None:
            props["ReservedConcurrentExecutions"] = fn["reservedConcurrency"]
        tags = {**(provider.get("tags") or {}), **(fn.get("tags") or {})}
        if tags:
            props["Tags"] = [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
        logical = lambda_logical_id(key)
        depends = []
        if not fn.get("disableLogs"):
            log_group = f"{normalized_function_name(key)}LogGroup"
            group: dict[str, Any] = {"LogGroupName": f"/aws/lambda/{name}"}
            retention = fn.get("logRetentionInDays", provider.get("logRetentionInDays"))
            if retention is not None:
                group["RetentionInDays"] = retention
            ctx.resources[log_group] = {"Type": "AWS::Logs::LogGroup", "Properties": group}
            depends.append(log_group)
        if role is None:
            depends.append(ROLE)
        ctx.resources[logical] = {"Type": "AWS::Lambda::Function", "Properties": props, "DependsOn": depends}
        alias = None
        if provider.get("versionFunctions", True):
            version = _version(ctx, key, props, artifact)
            if fn.get("provisionedConcurrency"):
                alias = _provisioned_alias(ctx, key, version, fn["provisionedConcurrency"])
        elif fn.get("provisionedConcurrency"):
            ctx.warn((*path, "provisionedConcurrency"), "needs versionFunctions: not deployed")
        compile_url(ctx, key, fn.get("url"), (*path, "url"), alias)
        ctx.functions[key] = Function(
            key, name, float(timeout) if isinstance(timeout, int | float) else 6.0, fn
        )
        _events(ctx, key, fn, path, default_role=role is None)
    if needs_role:
        iam_role(ctx, ROLE)
    return artifacts


def _role_value(role: Any) -> Any:
    if isinstance(role, str) and not role.startswith("arn:"):
        return {"Fn::GetAtt": [role, "Arn"]}  # the logical id of a role in resources:
    return role


def _environment(ctx: Context, path: KeyPath, *layers: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        for k, v in (layer or {}).items() if isinstance(layer, dict) else ():
            if v is None:
                ctx.warn((*path, "environment", k), f"environment variable {k} is null: left out")
                out.pop(k, None)
            elif isinstance(v, bool):
                out[k] = "true" if v else "false"
            elif isinstance(v, int | float):
                out[k] = str(v)
            else:
                out[k] = v
    return out


def _artifact(
    ctx: Context, root: Path, key: str, fn: dict[str, Any], service_pkg: dict[str, Any], runtime: str,
    built: dict[tuple[str, ...], Artifact],
) -> Artifact | None:  # fmt: skip
    fn_pkg = ctx.mapping(fn.get("package"), ("functions", key, "package"))
    ctx.check_keys(
        fn_pkg, ("functions", key, "package"), {"patterns", "individually", "artifact", "include", "exclude"}
    )
    for pkg, base in ((fn_pkg, ("functions", key, "package")), (service_pkg, ("package",))):
        if pkg.get("artifact"):
            try:
                return artifact_from_zip(root / str(pkg["artifact"]))
            except ProjectError as e:
                ctx.error((*base, "artifact"), e.problems[0].message)
                return None
    patterns = _patterns(service_pkg)
    if service_pkg.get("individually") or fn_pkg.get("individually"):
        patterns += _patterns(fn_pkg)
    elif _patterns(fn_pkg):
        ctx.warn(
            ("functions", key, "package", "patterns"),
            "function patterns apply only with package.individually: ignored",
        )
    cache_key = (runtime, *patterns)
    if cache_key not in built:
        try:
            where = ctx.doc.where(("functions", key, "handler"))  # where a package too big is reported
            built[cache_key] = build_artifact(
                root, patterns, runtime, exclude=[ctx.doc.file.name], where=where
            )
        except ProjectError as e:
            ctx.errors.extend(e.problems)
            return None
    return built[cache_key]


def _patterns(pkg: dict[str, Any]) -> list[str]:
    out = [f"!{p}" for p in pkg.get("exclude") or []] + [str(p) for p in pkg.get("include") or []]
    return out + [str(p) for p in pkg.get("patterns") or []]


def _check_handler(
    ctx: Context,
    root: Path,
    handler: str,
    runtime: str,
    artifact: Artifact,
    path: KeyPath,
    layers: Any = None,
) -> None:
    """An error if the handler's file is not in the package (a warning when the function has
    layers, one of which may provide it, as SAM functions get)."""
    problem = handler_problem(handler, runtime, artifact, root, left_out_hint=" (see package.patterns)")
    if problem is not None and layers:
        ctx.warn(path, f"{problem}: deployed all the same, as one of its layers may provide it")
    elif problem is not None:
        ctx.error(path, problem)


def _version(ctx: Context, key: str, props: dict[str, Any], artifact: Artifact) -> str:
    digest = hashlib.sha256(json.dumps(props, sort_keys=True, default=str).encode()).digest()
    suffix = re.sub(r"[^0-9A-Za-z]", "", base64.b64encode(digest).decode())
    logical = f"{normalized_function_name(key)}LambdaVersion{suffix}"
    code_sha = base64.b64encode(bytes.fromhex(artifact.sha256)).decode()
    ctx.resources[logical] = {
        "Type": "AWS::Lambda::Version",
        "DeletionPolicy": "Retain",
        "Properties": {"FunctionName": {"Ref": lambda_logical_id(key)}, "CodeSha256": code_sha},
    }
    ctx.outputs[f"{lambda_logical_id(key)}QualifiedArn"] = {
        "Description": "Current Lambda function version",
        "Value": {"Ref": logical},
    }
    return logical


def _provisioned_alias(ctx: Context, key: str, version: str, count: Any) -> str:
    """`provisionedConcurrency: N`: the alias `provisioned` of the function's version, with N
    provisioned environments, as the Framework compiles it (its events still invoke $LATEST).
    Returns the alias's logical id."""
    logical = f"{normalized_function_name(key)}ProvConcLambdaAlias"
    ctx.resources[logical] = {
        "Type": "AWS::Lambda::Alias",
        "DependsOn": lambda_logical_id(key),
        "Properties": {
            "FunctionName": {"Ref": lambda_logical_id(key)},
            "FunctionVersion": {"Fn::GetAtt": [version, "Version"]},
            "Name": "provisioned",
            "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": count},
        },
    }
    return logical


def _events(ctx: Context, key: str, fn: dict[str, Any], path: KeyPath, *, default_role: bool) -> None:
    events = fn.get("events") or []
    if not isinstance(events, list):
        ctx.error((*path, "events"), "events must be a list")
        return
    for i, event in enumerate(events):
        epath = (*path, "events", i)
        if not isinstance(event, dict) or len(event) != 1:
            ctx.error(epath, "an event is a mapping with one key, its type (httpApi, http, sqs, ...)")
            continue
        ((kind, value),) = event.items()
        if kind in ("httpApi", "http"):
            continue  # compiled by serverless_apis, which reads them from the function
        if kind == "sqs":
            compile_sqs(ctx, key, value, (*epath, kind), default_role)
        elif kind == "sns":
            compile_sns(ctx, key, value, (*epath, kind))
        elif kind in LATER_EVENTS:
            ctx.warn((*epath, kind), f"{kind} events are not yet supported by lambdabox: skipped")
        else:
            ctx.warn((*epath, kind), f"unknown event type {kind!r}: skipped")
