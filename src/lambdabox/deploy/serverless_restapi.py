"""serverless.yml `http` events -> an API Gateway REST API, as the Serverless Framework compiles them.

`ApiGatewayRestApi` (named `<stage>-<service>`), an `ApiGatewayResource<NormalizedPath>` per path
segment, an `ApiGatewayMethod<NormalizedPath><Method>` per event (Lambda proxy; `private: true`
requires an API key; `cors` adds the OPTIONS mock method), `<Fn>ApiGatewayAuthorizer` for Lambda
(TOKEN/REQUEST) and Cognito authorizers, `<Fn>LambdaPermissionApiGateway`, one deployment to the
stage `<stage>`, `provider.apiGateway.apiKeys` / `usagePlan`, and the ServiceEndpoint output.

One difference: the Framework names the deployment `ApiGatewayDeployment<instanceId>`, new on every
deploy; here the suffix is a hash of the API's methods, so an unchanged API redeploys as a no-op and
a changed one gets a new deployment.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lambdabox.deploy.serverless_model import (
    Context,
    api_permission,
    clean,
    function_arn,
    invocation_uri,
    normalize_name,
    normalize_path,
    normalized_function_name,
)
from lambdabox.deploy.yamlfile import KeyPath

API = {"Ref": "ApiGatewayRestApi"}
ROOT = {"Fn::GetAtt": ["ApiGatewayRestApi", "RootResourceId"]}
METHODS = ("ANY", "GET", "POST", "PUT", "PATCH", "OPTIONS", "HEAD", "DELETE")
CORS_HEADERS = [
    "Content-Type", "X-Amz-Date", "Authorization", "X-Api-Key", "X-Amz-Security-Token", "X-Amz-User-Agent",
    "X-Amzn-Trace-Id",
]  # fmt: skip
EVENT_KEYS = {"path", "method", "cors", "authorizer", "private", "integration", "async"}
EVENT_IGNORED = frozenset(
    {"request", "response", "operationId", "documentation", "connectionType", "connectionId"}
)
APIGW_KEYS = {"apiKeys", "usagePlan", "binaryMediaTypes", "minimumCompressionSize", "description",
              "shouldStartNameWithService", "apiKeySourceType", "disableDefaultEndpoint"}  # fmt: skip
APIGW_IGNORED = frozenset({"restApiId", "restApiRootResourceId", "restApiResources", "metrics",
                           "resourcePolicy", "websocketApiId", "timeoutInMillis", "stage", "request"})  # fmt: skip


def compile_rest_api(ctx: Context) -> None:
    base: KeyPath = ("provider", "apiGateway")
    config = ctx.mapping(ctx.provider.get("apiGateway"), base)
    methods: dict[str, dict[str, Any]] = {}
    cors_by_path: dict[str, tuple[dict[str, Any], list[str]]] = {}
    permissions: set[str] = set()
    for key, fn in ctx.functions.items():
        events = fn.config.get("events") or []
        for i, event in enumerate(events if isinstance(events, list) else []):
            if not isinstance(event, dict) or "http" not in event:
                continue
            path: KeyPath = ("functions", key, "events", i, "http")
            spec = _event(ctx, event["http"], path)
            if spec is None:
                continue
            http_path, method = spec["path"], spec["method"]
            logical = f"ApiGatewayMethod{normalize_path(http_path)}{normalize_name(method.lower())}"
            if logical in methods:
                ctx.error(path, f"duplicate http event {method} /{http_path}")
                continue
            props: dict[str, Any] = {
                "HttpMethod": method,
                "RequestParameters": {},
                "ResourceId": _resource(ctx, http_path),
                "RestApiId": API,
                "ApiKeyRequired": bool(spec.get("private", False)),
                "AuthorizationType": "NONE",
                "Integration": {
                    "IntegrationHttpMethod": "POST",
                    "Type": "AWS_PROXY",
                    "Uri": invocation_uri(function_arn(key)),
                },
                "MethodResponses": [],
            }
            depends = [f"{normalized_function_name(key)}LambdaPermissionApiGateway"]
            permissions.add(key)
            if spec.get("authorizer"):
                depends += _authorizer(ctx, spec["authorizer"], (*path, "authorizer"), props, permissions)
            methods[logical] = {"Type": "AWS::ApiGateway::Method", "Properties": props, "DependsOn": depends}
            if spec.get("cors"):
                cors, verbs = cors_by_path.setdefault(
                    http_path, (_cors(ctx, spec["cors"], (*path, "cors")), [])
                )
                verbs.append(method)
    if not methods:
        if config:
            ctx.warn(base, "provider.apiGateway is configured but no function has http events: no REST API")
        return
    ctx.check_keys(config, base, APIGW_KEYS, APIGW_IGNORED)
    for http_path, (cors, verbs) in cors_by_path.items():
        methods[f"ApiGatewayMethod{normalize_path(http_path)}Options"] = _options(ctx, http_path, cors, verbs)
    ctx.resources.update(methods)
    for key in sorted(permissions):
        ctx.resources[f"{normalized_function_name(key)}LambdaPermissionApiGateway"] = api_permission(
            key, API, "/*/*"
        )
    _api(ctx, config)
    digest = hashlib.sha256(json.dumps(methods, sort_keys=True, default=str).encode()).hexdigest()[:12]
    deployment = f"ApiGatewayDeployment{digest}"
    ctx.resources[deployment] = {
        "Type": "AWS::ApiGateway::Deployment",
        "Properties": {"RestApiId": API, "StageName": ctx.stage},
        "DependsOn": sorted(methods),
    }
    _api_keys(ctx, config, base, deployment)
    ctx.outputs["ServiceEndpoint"] = {
        "Description": "URL of the service endpoint",
        "Value": {
            "Fn::Join": [
                "",
                [
                    "https://",
                    API,
                    ".execute-api.",
                    {"Ref": "AWS::Region"},
                    ".",
                    {"Ref": "AWS::URLSuffix"},
                    f"/{ctx.stage}",
                ],
            ]
        },
    }


def _event(ctx: Context, raw: Any, path: KeyPath) -> dict[str, Any] | None:
    if isinstance(raw, str):
        method, _, http_path = raw.strip().partition(" ")
        spec: dict[str, Any] = {"method": method, "path": http_path.strip()}
    elif isinstance(raw, dict):
        spec = dict(raw)
        ctx.check_keys(spec, path, EVENT_KEYS, EVENT_IGNORED)
    else:
        ctx.error(path, "an http event is 'METHOD path' or a mapping with path and method")
        return None
    if spec.get("path") is None or not spec.get("method"):
        ctx.error(path, 'an http event needs "path" and "method"')
        return None
    integration = str(spec.get("integration", "lambda-proxy")).lower()
    if integration not in ("lambda-proxy", "aws_proxy", "aws-proxy"):
        ctx.warn(
            (*path, "integration"),
            f"integration {integration!r} is not supported by lambdabox: lambda-proxy is used",
        )
    if spec.get("async"):
        ctx.warn((*path, "async"), "async http events are not supported by lambdabox: invoked synchronously")
    method = str(spec["method"]).upper()
    if method not in METHODS:
        ctx.error((*path, "method"), f"method {method!r} is not one of {', '.join(METHODS)}")
        return None
    spec["method"] = method
    spec["path"] = str(spec["path"]).strip("/")
    return spec


def _resource(ctx: Context, http_path: str) -> Any:
    """The ResourceId of a path, making an ApiGatewayResource for each segment not made yet."""
    if not http_path:
        return ROOT
    parts = http_path.split("/")
    parent: Any = ROOT
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        logical = f"ApiGatewayResource{normalize_path(sub)}"
        ctx.resources.setdefault(
            logical,
            {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {"ParentId": parent, "PathPart": parts[i - 1], "RestApiId": API},
            },
        )
        parent = {"Ref": logical}
    return parent


def _authorizer(
    ctx: Context, raw: Any, path: KeyPath, props: dict[str, Any], permissions: set[str]
) -> list[str]:
    """Sets the method's authorization; returns what the method must depend on."""
    cfg: dict[str, Any] = (
        raw if isinstance(raw, dict) else {"name": raw} if not str(raw).startswith("arn:") else {"arn": raw}
    )
    ctx.check_keys(cfg, path, {"name", "arn", "type", "resultTtlInSeconds", "identitySource",
                               "identityValidationExpression", "scopes"}, frozenset({"authorizerId", "claims"}))  # fmt: skip
    kind = str(cfg.get("type") or ("aws_iam" if cfg.get("name") == "aws_iam" else "")).lower()
    if kind == "aws_iam":
        props["AuthorizationType"] = "AWS_IAM"
        return []
    arn = cfg.get("arn")
    name = cfg.get("name")
    cognito = kind == "cognito_user_pools" or (isinstance(arn, str) and ":cognito-idp:" in arn)
    if arn is None and name not in ctx.functions:
        ctx.error(path, f"authorizer function {name!r} not found in service (or give its arn)")
        return []
    if not name:
        name = str(arn).rsplit(":", 1)[-1].rsplit("/", 1)[-1].split("-")[-1]
    logical = f"{normalized_function_name(str(name))}ApiGatewayAuthorizer"
    auth: dict[str, Any] = {
        "AuthorizerResultTtlInSeconds": cfg.get("resultTtlInSeconds", 300),
        "IdentitySource": cfg.get("identitySource", "method.request.header.Authorization"),
        "Name": name,
        "RestApiId": API,
        "IdentityValidationExpression": cfg.get("identityValidationExpression"),
    }
    if cognito:
        auth |= {"Type": "COGNITO_USER_POOLS", "ProviderARNs": [arn]}
        props["AuthorizationType"] = "COGNITO_USER_POOLS"
        if cfg.get("scopes"):
            props["AuthorizationScopes"] = list(cfg["scopes"])
    else:
        auth |= {"Type": "REQUEST" if kind == "request" else "TOKEN",
                 "AuthorizerUri": invocation_uri(arn or function_arn(str(name)))}  # fmt: skip
        props["AuthorizationType"] = "CUSTOM"
        if arn is None:
            permissions.add(str(name))
    ctx.resources[logical] = {"Type": "AWS::ApiGateway::Authorizer", "Properties": clean(auth)}
    props["AuthorizerId"] = {"Ref": logical}
    return [logical]


def _cors(ctx: Context, raw: Any, path: KeyPath) -> dict[str, Any]:
    cfg = raw if isinstance(raw, dict) else {}
    ctx.check_keys(cfg, path, {"origin", "origins", "headers", "allowCredentials", "maxAge", "cacheControl"})
    origins = cfg.get("origins") or [cfg.get("origin") or "*"]
    if len(origins) > 1:
        ctx.warn(path, f"several CORS origins: lambdabox answers OPTIONS with the first, {origins[0]}")
    return {"origin": origins[0], "headers": cfg.get("headers") or CORS_HEADERS,
            "credentials": bool(cfg.get("allowCredentials")), "maxAge": cfg.get("maxAge")}  # fmt: skip


def _options(ctx: Context, http_path: str, cors: dict[str, Any], verbs: list[str]) -> dict[str, Any]:
    allowed = ["OPTIONS", *(v for v in dict.fromkeys(verbs) if v != "OPTIONS")]
    headers = {
        "Access-Control-Allow-Origin": f"'{cors['origin']}'",
        "Access-Control-Allow-Headers": f"'{','.join(cors['headers'])}'",
        "Access-Control-Allow-Methods": f"'{','.join(allowed)}'",
    }
    if cors["credentials"]:
        headers["Access-Control-Allow-Credentials"] = "'true'"
    if cors["maxAge"] is not None:
        headers["Access-Control-Max-Age"] = f"'{cors['maxAge']}'"
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "AuthorizationType": "NONE",
            "HttpMethod": "OPTIONS",
            "MethodResponses": [
                {
                    "StatusCode": "200",
                    "ResponseParameters": {f"method.response.header.{h}": True for h in headers},
                    "ResponseModels": {},
                }
            ],
            "RequestParameters": {},
            "Integration": {
                "Type": "MOCK",
                "RequestTemplates": {"application/json": "{statusCode:200}"},
                "ContentHandling": "CONVERT_TO_TEXT",
                "IntegrationResponses": [
                    {
                        "StatusCode": "200",
                        "ResponseParameters": {f"method.response.header.{h}": v for h, v in headers.items()},
                        "ResponseTemplates": {"application/json": ""},
                    }
                ],
            },
            "ResourceId": _resource(ctx, http_path),
            "RestApiId": API,
        },
    }


def _api(ctx: Context, config: dict[str, Any]) -> None:
    if ctx.provider.get("apiName"):
        name = str(ctx.provider["apiName"])
    elif config.get("shouldStartNameWithService"):
        name = f"{ctx.service}-{ctx.stage}"
    else:
        name = f"{ctx.stage}-{ctx.service}"
    source = config.get("apiKeySourceType")
    props = clean(
        {
            "Name": name,
            "EndpointConfiguration": {"Types": [str(ctx.provider.get("endpointType") or "EDGE").upper()]},
            "Policy": "",
            "BinaryMediaTypes": config.get("binaryMediaTypes"),
            "MinimumCompressionSize": config.get("minimumCompressionSize"),
            "ApiKeySourceType": str(source).upper() if source else None,
            "Description": config.get("description"),
            "DisableExecuteApiEndpoint": config.get("disableDefaultEndpoint"),
        }
    )
    ctx.resources["ApiGatewayRestApi"] = {"Type": "AWS::ApiGateway::RestApi", "Properties": props}


def _api_keys(ctx: Context, config: dict[str, Any], base: KeyPath, deployment: str) -> None:
    keys = config.get("apiKeys") or []
    plan = config.get("usagePlan")
    if not keys and not plan:
        return
    if isinstance(plan, list):
        ctx.warn(
            (*base, "usagePlan"), "several usage plans are not supported by lambdabox: the first is used"
        )
        first = plan[0] if plan and isinstance(plan[0], dict) else {}
        plan = next(iter(first.values()), {}) if first else {}
    plan = plan if isinstance(plan, dict) else {}
    quota, throttle = plan.get("quota") or {}, plan.get("throttle") or {}
    ctx.resources["ApiGatewayUsagePlan"] = {
        "Type": "AWS::ApiGateway::UsagePlan",
        "DependsOn": deployment,
        "Properties": clean(
            {
                "ApiStages": [{"ApiId": API, "Stage": ctx.stage}],
                "Description": f"Usage plan for {ctx.service} {ctx.stage} stage",
                "UsagePlanName": f"{ctx.service}-{ctx.stage}",
                "Quota": clean(
                    {
                        "Limit": quota.get("limit"),
                        "Offset": quota.get("offset"),
                        "Period": quota.get("period"),
                    }
                )
                or None,
                "Throttle": clean(
                    {"BurstLimit": throttle.get("burstLimit"), "RateLimit": throttle.get("rateLimit")}
                )
                or None,
            }
        ),
    }
    for i, key in enumerate(keys if isinstance(keys, list) else [], start=1):
        cfg = key if isinstance(key, dict) else {"name": key}
        ctx.check_keys(
            cfg, (*base, "apiKeys", i - 1), {"name", "value", "description", "customerId", "enabled"}
        )
        ctx.resources[f"ApiGatewayApiKey{i}"] = {
            "Type": "AWS::ApiGateway::ApiKey",
            "DependsOn": deployment,
            "Properties": clean(
                {
                    "Enabled": cfg.get("enabled", True),
                    "Name": cfg.get("name"),
                    "Value": cfg.get("value"),
                    "Description": cfg.get("description"),
                    "CustomerId": cfg.get("customerId"),
                    "StageKeys": [{"RestApiId": API, "StageName": ctx.stage}],
                }
            ),
        }
        ctx.resources[f"ApiGatewayUsagePlanKey{i}"] = {
            "Type": "AWS::ApiGateway::UsagePlanKey",
            "Properties": {
                "KeyId": {"Ref": f"ApiGatewayApiKey{i}"},
                "KeyType": "API_KEY",
                "UsagePlanId": {"Ref": "ApiGatewayUsagePlan"},
            },
        }
