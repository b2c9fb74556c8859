"""serverless.yml `httpApi` events -> an API Gateway v2 HTTP API, as the Serverless Framework compiles them.

One `HttpApi` (AWS::ApiGatewayV2::Api, named `<stage>-<service>`, CORS from `provider.httpApi.cors`),
its `HttpApiStage` (`$default`, auto-deploy), per function an `HttpApiIntegration<Fn>` (AWS_PROXY,
payload `provider.httpApi.payload` or 2.0, timeout the function's + 0.5 s up to 29 s) and a
`<Fn>LambdaPermissionHttpApi`, per route an `HttpApiRoute<normalized route key>` (`*` is
`HttpApiRouteDefault`, route `$default`), per authorizer an `HttpApiAuthorizer<Name>` (JWT or
REQUEST, the latter with `<Name>LambdaAuthorizerPermissionHttpApi`), and the Outputs HttpApiId and
HttpApiUrl.
"""

from __future__ import annotations

import re
from typing import Any

from lambdabox.deploy.serverless_model import (
    Context,
    api_permission,
    clean,
    function_arn,
    invocation_uri,
    normalize_path,
    normalized_function_name,
)
from lambdabox.deploy.yamlfile import KeyPath

METHODS = ("ANY", "GET", "POST", "PUT", "PATCH", "OPTIONS", "HEAD", "DELETE")
_METHOD_PATH = re.compile(r"^(?:\*|(" + "|".join(METHODS) + r") (/\S*))$", re.IGNORECASE)
DEFAULT_CORS_HEADERS = [
    "Content-Type",
    "X-Amz-Date",
    "Authorization",
    "X-Api-Key",
    "X-Amz-Security-Token",
    "X-Amz-User-Agent",
]
API = {"Ref": "HttpApi"}
PROVIDER_HTTP_API_KEYS = {
    "cors", "authorizers", "payload", "name", "metrics", "disableDefaultEndpoint",
    "shouldStartNameWithService", "useProviderTags",
}  # fmt: skip


def compile_http_api(ctx: Context) -> None:
    base: KeyPath = ("provider", "httpApi")
    config = ctx.mapping(ctx.provider.get("httpApi"), base)
    ctx.check_keys(config, base, PROVIDER_HTTP_API_KEYS, frozenset({"id"}))
    authorizers = _authorizers(ctx, config, base)
    cors = _cors(ctx, config.get("cors"), (*base, "cors"))
    routes: dict[str, tuple[str, dict[str, Any] | None]] = {}
    for key, fn in ctx.functions.items():
        events = fn.config.get("events") or []
        has_routes = False
        for i, event in enumerate(events if isinstance(events, list) else []):
            if not isinstance(event, dict) or "httpApi" not in event:
                continue
            path: KeyPath = ("functions", key, "events", i, "httpApi")
            route = _route(ctx, event["httpApi"], path, authorizers)
            if route is None:
                continue
            route_key, method, route_props = route
            if route_key in routes and route_key != "*":
                ctx.error(path, f"duplicate route {route_key!r} (also in function {routes[route_key][0]})")
                continue
            routes[route_key] = (key, route_props)
            has_routes = True
            if cors is not None and "__methods" in cors:  # no allowedMethods: the routes' ones
                methods = cors["__methods"]
                for m in METHODS[1:] if method == "ANY" else (method,):
                    if m not in methods:
                        methods.append(m)
        if has_routes:
            _integration(ctx, key, fn.timeout, ("functions", key))
    if not routes:
        if config.get("authorizers") or config.get("cors"):
            ctx.warn(base, "provider.httpApi is configured but no function has httpApi events: no HTTP API")
        return
    _api(ctx, config, cors)
    for route_key, (key, route_props) in routes.items():
        integration = f"HttpApiIntegration{normalized_function_name(key)}"
        logical = "HttpApiRouteDefault" if route_key == "*" else f"HttpApiRoute{normalize_path(route_key)}"
        props = {
            "ApiId": API,
            "RouteKey": "$default" if route_key == "*" else route_key,
            "Target": {"Fn::Join": ["/", ["integrations", {"Ref": integration}]]},
            **(route_props or {}),
        }
        ctx.resources[logical] = {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": props,
            "DependsOn": integration,
        }
    for name, auth in authorizers.items():
        ctx.resources[f"HttpApiAuthorizer{normalized_function_name(name)}"] = auth


def _route(
    ctx: Context, spec: Any, path: KeyPath, authorizers: dict[str, Any]
) -> tuple[str, str, dict[str, Any] | None] | None:
    method: Any = None
    authorizer: Any = None
    if isinstance(spec, dict):
        ctx.check_keys(spec, path, {"method", "path", "authorizer"})
        method, route_path, authorizer = spec.get("method"), spec.get("path"), spec.get("authorizer")
        if route_path is None:
            ctx.error(path, 'httpApi event needs a "path"')
            return None
        route_path = str(route_path)
        if route_path != "*" and not route_path.startswith("/"):
            ctx.error((*path, "path"), f"path {route_path!r} must start with / (or be *)")
            return None
    else:
        m = _METHOD_PATH.match(str(spec))
        if not m:
            ctx.error(
                path, f"httpApi event {spec!r} must be '*' or 'METHOD /path' (methods: {', '.join(METHODS)})"
            )
            return None
        method, route_path = (m.group(1), m.group(2)) if m.group(1) else (None, "*")
    if route_path == "*":
        if method not in (None, "*"):
            ctx.error((*path, "path"), 'path "*" takes no method')
            return None
        route_key, method = "*", "ANY"
    else:
        if method is None:
            ctx.error(path, 'httpApi event needs a "method"')
            return None
        method = "ANY" if str(method) == "*" else str(method).upper()
        if method not in METHODS:
            ctx.error((*path, "method"), f"method {method!r} is not one of {', '.join(METHODS)}")
            return None
        route_key = f"{method} {route_path}"
    props = _route_authorizer(ctx, authorizer, (*path, "authorizer"), authorizers) if authorizer else None
    return route_key, method, props


def _route_authorizer(
    ctx: Context, spec: Any, path: KeyPath, authorizers: dict[str, Any]
) -> dict[str, Any] | None:
    cfg = spec if isinstance(spec, dict) else {"name": spec}
    ctx.check_keys(cfg, path, {"name", "scopes", "type"}, frozenset({"id"}))
    if cfg.get("type") == "aws_iam":
        return {"AuthorizationType": "AWS_IAM"}
    name = cfg.get("name")
    if name not in authorizers:
        ctx.error(path, f"authorizer {name!r} is not configured in provider.httpApi.authorizers")
        return None
    kind = authorizers[name]["Properties"]["AuthorizerType"]
    scopes = cfg.get("scopes")
    return clean(
        {
            "AuthorizationType": "CUSTOM" if kind == "REQUEST" else "JWT",
            "AuthorizerId": {"Ref": f"HttpApiAuthorizer{normalized_function_name(str(name))}"},
            "AuthorizationScopes": (scopes if isinstance(scopes, list) else [scopes]) if scopes else None,
        }
    )


def _authorizers(ctx: Context, config: dict[str, Any], base: KeyPath) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in ctx.mapping(config.get("authorizers"), (*base, "authorizers")).items():
        path = (*base, "authorizers", name)
        cfg = ctx.mapping(raw, path)
        kind = cfg.get("type", "jwt")
        source = cfg.get("identitySource", [])
        props: dict[str, Any] = {
            "ApiId": API,
            "Name": cfg.get("name") or name,
            "IdentitySource": source if isinstance(source, list) else [source],
        }
        if kind == "request":
            ctx.check_keys(cfg, path, {"type", "name", "functionName", "functionArn", "identitySource",
                                       "enableSimpleResponses", "payloadVersion", "resultTtlInSeconds"},
                           frozenset({"managedExternally"}))  # fmt: skip
            fn_name, fn_arn = cfg.get("functionName"), cfg.get("functionArn")
            if bool(fn_name) == bool(fn_arn):
                ctx.error(path, 'a request authorizer needs one of "functionName" or "functionArn"')
                continue
            if fn_name and fn_name not in ctx.functions:
                ctx.error(
                    (*path, "functionName"),
                    f"function {fn_name!r} for authorizer {name!r} not found in service",
                )
                continue
            if cfg.get("resultTtlInSeconds") and not cfg.get("identitySource"):
                ctx.error(path, '"identitySource" is required when "resultTtlInSeconds" is set')
                continue
            target = fn_arn or function_arn(str(fn_name))
            props |= clean(
                {
                    "AuthorizerType": "REQUEST",
                    "EnableSimpleResponses": cfg.get("enableSimpleResponses"),
                    "AuthorizerResultTtlInSeconds": cfg.get("resultTtlInSeconds"),
                    "AuthorizerPayloadFormatVersion": str(cfg.get("payloadVersion") or "2.0"),
                    "AuthorizerUri": invocation_uri(target),
                }
            )
            if fn_name:
                permission = api_permission(str(fn_name), API, "/*")
            else:
                permission = api_permission("", API, "/*")
                permission["Properties"]["FunctionName"] = fn_arn
            ctx.resources[f"{normalized_function_name(name)}LambdaAuthorizerPermissionHttpApi"] = permission
        elif kind == "jwt":
            ctx.check_keys(cfg, path, {"type", "name", "identitySource", "issuerUrl", "audience"})
            if not cfg.get("issuerUrl") or not cfg.get("identitySource"):
                ctx.error(path, 'a JWT authorizer needs "identitySource" and "issuerUrl"')
                continue
            audience = cfg.get("audience") or []
            props |= {
                "AuthorizerType": "JWT",
                "JwtConfiguration": {
                    "Audience": list(dict.fromkeys(audience if isinstance(audience, list) else [audience])),
                    "Issuer": cfg["issuerUrl"],
                },
            }
        else:
            ctx.error((*path, "type"), f"authorizer type {kind!r} is not jwt or request")
            continue
        out[name] = {"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": props}
    return out


def _cors(ctx: Context, spec: Any, path: KeyPath) -> dict[str, Any] | None:
    """The CORS settings; "__methods" collects the routes' methods when none are given."""
    if not spec:
        return None
    if spec is True:
        return {"AllowHeaders": list(DEFAULT_CORS_HEADERS), "AllowOrigins": ["*"], "__methods": ["OPTIONS"]}
    if not isinstance(spec, dict):
        ctx.error(path, "cors must be true or a mapping")
        return None
    ctx.check_keys(spec, path, {"allowedOrigins", "allowedHeaders", "allowedMethods", "allowCredentials",
                                "exposedResponseHeaders", "maxAge"})  # fmt: skip

    def as_list(v: Any) -> list[Any]:
        return list(dict.fromkeys(v if isinstance(v, list) else [v]))

    out: dict[str, Any] = {
        "AllowOrigins": as_list(spec["allowedOrigins"]) if spec.get("allowedOrigins") else ["*"],
        "AllowHeaders": as_list(spec["allowedHeaders"])
        if spec.get("allowedHeaders")
        else list(DEFAULT_CORS_HEADERS),
    }
    if spec.get("allowedMethods"):
        out["AllowMethods"] = as_list(spec["allowedMethods"])
    else:
        out["__methods"] = ["OPTIONS"]
    if spec.get("allowCredentials"):
        out["AllowCredentials"] = True
    if spec.get("exposedResponseHeaders"):
        out["ExposeHeaders"] = as_list(spec["exposedResponseHeaders"])
    if spec.get("maxAge") is not None:
        out["MaxAge"] = spec["maxAge"]
    return out


def _api(ctx: Context, config: dict[str, Any], cors: dict[str, Any] | None) -> None:
    if config.get("name"):
        name = str(config["name"])
    elif config.get("shouldStartNameWithService"):
        name = f"{ctx.service}-{ctx.stage}"
    else:
        name = f"{ctx.stage}-{ctx.service}"
    props: dict[str, Any] = {"Name": name, "ProtocolType": "HTTP"}
    if config.get("disableDefaultEndpoint") is not None:
        props["DisableExecuteApiEndpoint"] = bool(config["disableDefaultEndpoint"])
    if config.get("useProviderTags") and ctx.provider.get("tags"):
        props["Tags"] = dict(ctx.provider["tags"])
    if cors is not None:
        methods = cors.pop("__methods", None)
        if methods is not None:
            cors["AllowMethods"] = methods
        props["CorsConfiguration"] = {
            k: cors[k]
            for k in (
                "AllowCredentials",
                "AllowHeaders",
                "AllowMethods",
                "AllowOrigins",
                "ExposeHeaders",
                "MaxAge",
            )
            if k in cors
        }
    ctx.resources["HttpApi"] = {"Type": "AWS::ApiGatewayV2::Api", "Properties": props}
    ctx.resources["HttpApiStage"] = {
        "Type": "AWS::ApiGatewayV2::Stage",
        "Properties": {
            "ApiId": API,
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {"DetailedMetricsEnabled": bool(config.get("metrics", False))},
        },
    }
    ctx.outputs["HttpApiId"] = {"Description": "Id of the HTTP API", "Value": API}
    ctx.outputs["HttpApiUrl"] = {
        "Description": "URL of the HTTP API",
        "Value": {
            "Fn::Join": [
                "",
                ["https://", API, ".execute-api.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}],
            ]
        },
    }


def _integration(ctx: Context, key: str, timeout: float, path: KeyPath) -> None:
    if timeout > 29:
        ctx.warn(
            (*path, "timeout"), f"timeout {timeout:g}s is more than an HTTP API's 29s: requests may end first"
        )
    fn_http = ctx.functions[key].config.get("httpApi")
    payload = (fn_http or {}).get("payload") if isinstance(fn_http, dict) else None
    payload = payload or (ctx.provider.get("httpApi") or {}).get("payload") or "2.0"
    normalized = normalized_function_name(key)
    ctx.resources[f"{normalized}LambdaPermissionHttpApi"] = api_permission(key, API, "/*")
    ctx.resources[f"HttpApiIntegration{normalized}"] = {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {
            "ApiId": API,
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": function_arn(key),
            "PayloadFormatVersion": str(payload),
            "TimeoutInMillis": round(min(timeout + 0.5, 29) * 1000),
        },
    }
