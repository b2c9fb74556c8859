"""serverless.yml's function `url`, compiled as the Serverless Framework does (its
compile/functions.js):

- `url: true` or `url: {authorizer: aws_iam, cors: true | {...}, invokeMode}` -> an
  AWS::Lambda::Url `<Fn>LambdaFunctionUrl` of the function (of its `provisioned` alias when the
  function has provisionedConcurrency), AuthType NONE unless `authorizer: aws_iam`;
- for AuthType NONE, the public permissions a URL without auth needs:
  `<Fn>LambdaFnUrlPermission` (lambda:InvokeFunctionUrl, FunctionUrlAuthType NONE) and
  `<Fn>LambdaFnUrlInvokeFunctionPermission` (lambda:InvokeFunction, InvokedViaFunctionUrl), both
  for Principal `*`;
- `cors: true` is the Framework's default CORS (any origin and method, its five headers); a mapping
  sets allowedOrigins, allowedHeaders, allowedMethods, allowCredentials, exposedResponseHeaders and
  maxAge over those defaults (`null` removes one);
- the output `<Fn>LambdaFunctionUrl` with the URL.
"""

from __future__ import annotations

from typing import Any

from lambdabox.deploy.serverless_model import Context, lambda_logical_id, normalized_function_name
from lambdabox.deploy.yamlfile import KeyPath

URL_KEYS = {"authorizer", "cors", "invokeMode"}
_CORS_DEFAULTS: dict[str, Any] = {
    "AllowOrigins": ["*"],
    "AllowHeaders": ["Content-Type", "X-Amz-Date", "Authorization", "X-Api-Key", "X-Amz-Security-Token"],
    "AllowMethods": ["*"],
}
_CORS_KEYS = {
    "allowedOrigins": "AllowOrigins",
    "allowedHeaders": "AllowHeaders",
    "allowedMethods": "AllowMethods",
    "allowCredentials": "AllowCredentials",
    "exposedResponseHeaders": "ExposeHeaders",
    "maxAge": "MaxAge",
}


def _cors(ctx: Context, raw: Any, path: KeyPath) -> dict[str, Any] | None:
    if raw is None or raw is False:
        return None
    if raw is True:
        return dict(_CORS_DEFAULTS)
    if not isinstance(raw, dict):
        ctx.error(path, "cors is true or a mapping")
        return None
    ctx.check_keys(raw, path, set(_CORS_KEYS), frozenset())
    cors = dict(_CORS_DEFAULTS)
    for key, prop in _CORS_KEYS.items():
        if key not in raw:
            continue
        value = raw[key]
        if value is None:
            cors.pop(prop, None)
        elif prop in ("AllowCredentials", "MaxAge"):
            cors[prop] = value
        else:
            cors[prop] = value if isinstance(value, list) else [value]
    return cors


def compile_url(ctx: Context, key: str, raw: Any, path: KeyPath, alias: str | None) -> None:
    """Function `key`'s `url` (at `path`); `alias` the logical id of its provisioned alias, if any."""
    if raw is None or raw is False:
        return
    cfg: dict[str, Any] = {} if raw is True else ctx.mapping(raw, path)
    if raw is not True:
        ctx.check_keys(cfg, path, URL_KEYS, frozenset())
    auth = "NONE"
    if cfg.get("authorizer") is not None:
        if str(cfg["authorizer"]).lower() != "aws_iam":
            ctx.error((*path, "authorizer"), "authorizer must be aws_iam")
            return
        auth = "AWS_IAM"
    name = normalized_function_name(key)
    fn_ref: dict[str, Any] = {"Fn::GetAtt": [lambda_logical_id(key), "Arn"]}
    props: dict[str, Any] = {"AuthType": auth, "TargetFunctionArn": fn_ref}
    if alias is not None:
        props["Qualifier"] = "provisioned"
    cors = _cors(ctx, cfg.get("cors"), (*path, "cors"))
    if cors is not None:
        props["Cors"] = cors
    if cfg.get("invokeMode") is not None:
        props["InvokeMode"] = cfg["invokeMode"]
    url = f"{name}LambdaFunctionUrl"
    ctx.resources[url] = {
        "Type": "AWS::Lambda::Url",
        "Properties": props,
        **({"DependsOn": alias} if alias is not None else {}),
    }
    if auth == "NONE":
        target: Any = fn_ref if alias is None else {"Fn::Join": [":", [fn_ref, "provisioned"]]}
        depends = [alias] if alias is not None else [lambda_logical_id(key)]
        ctx.resources[f"{name}LambdaFnUrlPermission"] = {
            "Type": "AWS::Lambda::Permission",
            "DependsOn": depends,
            "Properties": {
                "FunctionName": target,
                "Action": "lambda:InvokeFunctionUrl",
                "Principal": "*",
                "FunctionUrlAuthType": "NONE",
            },
        }
        ctx.resources[f"{name}LambdaFnUrlInvokeFunctionPermission"] = {
            "Type": "AWS::Lambda::Permission",
            "DependsOn": depends,
            "Properties": {
                "FunctionName": target,
                "Action": "lambda:InvokeFunction",
                "Principal": "*",
                "InvokedViaFunctionUrl": True,
            },
        }
    ctx.outputs[url] = {
        "Description": "Lambda Function URL",
        "Value": {"Fn::GetAtt": [url, "FunctionUrl"]},
    }
