"""An OpenAPI 3.0 definition as the HTTP API ImportApi / ReimportApi make of it: a plain description
of the API's routes, integrations and authorizers in the shapes of CreateRoute, CreateIntegration
and CreateAuthorizer, which the service then checks as those operations do.

What AWS documents (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-open-api.html
and the extension pages under api-gateway-swagger-extensions-*.html):

- HTTP APIs import OpenAPI 3.0 only: a Swagger 2.0 document is an error.
- `info.title` is the Name, `info.version` the Version, `info.description` the Description; root
  `tags` are the API's tags (`x-amazon-apigateway-tag-value`, "" without one);
  `x-amazon-apigateway-cors` its CorsConfiguration.
- Each operation of `paths` is a route `<METHOD> <path>`; `x-amazon-apigateway-any-method` is ANY;
  the `$default` path (SAM writes `$default`, AWS's examples `/$default`) or `isDefaultRoute: true`
  is the `$default` route.
- `x-amazon-apigateway-integration` (inline, or a `$ref` to
  `components.x-amazon-apigateway-integrations`) is the route's integration; identical integrations
  are one integration the routes share. Types AWS, HTTP and MOCK are warnings (HTTP APIs take only
  proxy integrations): the route is imported without one. Without `payloadFormatVersion` an
  integration gets 1.0, the format of the REST API export AWS suggests importing (an inference).
- `security` (the operation's, else the document's) names one scheme of
  `components.securitySchemes`: its `x-amazon-apigateway-authorizer` of type `jwt` (issuer from
  `jwtConfiguration` or the scheme's `openIdConnectUrl`) or `request` is an authorizer named after
  the scheme; `x-amazon-apigateway-authtype: awsSigv4` is AWS_IAM. An empty requirement, or one
  naming `NONE` (as SAM writes), is no authorization. Several requirements are an error, as AWS
  documents; a scheme that is not defined is one too (lambdabox: a route meant to be protected is
  never served open).
- Other `x-amazon-apigateway-*` extensions are warnings (ignored).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lambdabox.gateway.openapi_doc import (
    OpenApiError,
    base_path,
    extension_warnings,
    info,
    is_openapi3,
    load,
    operations,
    requirement_names,
    resolve,
    text,
    with_base,
)

INTEGRATION = "x-amazon-apigateway-integration"
AUTHORIZER = "x-amazon-apigateway-authorizer"
_ROOT_EXTENSIONS = {
    "x-amazon-apigateway-cors",
    "x-amazon-apigateway-importexport-version",
    "x-amazon-apigateway-endpoint-configuration",
}
_CORS = {
    "allowOrigins": ("AllowOrigins", list),
    "allowMethods": ("AllowMethods", list),
    "allowHeaders": ("AllowHeaders", list),
    "exposeHeaders": ("ExposeHeaders", list),
    "allowCredentials": ("AllowCredentials", bool),
    "maxAge": ("MaxAge", int),
}
_WELL_KNOWN = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class RouteSpec:
    """A route to create: its key, the integration it targets (a key of `ApiSpec.integrations`)
    and its authorization (an authorizer named by a key of `ApiSpec.authorizers`)."""

    route_key: str
    integration: str | None = None
    authorization_type: str = "NONE"
    authorizer: str | None = None
    scopes: tuple[str, ...] = ()
    operation_name: str | None = None


@dataclass(frozen=True)
class ApiSpec:
    """What an OpenAPI definition says of an HTTP API."""

    name: str
    version: str | None
    description: str | None
    cors: dict[str, Any] | None
    tags: dict[str, str]
    disable_execute_api_endpoint: bool | None
    #: integration key -> CreateIntegration params
    integrations: dict[str, dict[str, Any]]
    #: scheme name -> CreateAuthorizer params
    authorizers: dict[str, dict[str, Any]]
    routes: tuple[RouteSpec, ...]
    warnings: tuple[str, ...]


def read(body: str | bytes, basepath: str | None = None) -> ApiSpec:
    """The HTTP API an OpenAPI 3.0 body defines; raises OpenApiError."""
    doc = load(body)
    if not is_openapi3(doc):
        raise OpenApiError("HTTP APIs support only the OpenAPI 3.0 specification")
    about = info(doc)
    warnings: list[str] = extension_warnings(doc, _ROOT_EXTENSIONS, "the document root")
    version = doc.get("x-amazon-apigateway-importexport-version")
    if version is not None and text(version) != "1.0":
        warnings.append(f"Unsupported x-amazon-apigateway-importexport-version {version}: 1.0 is used")
    base = base_path(doc)
    integrations: dict[str, dict[str, Any]] = {}
    authorizers: dict[str, dict[str, Any]] = {}
    routes: dict[str, RouteSpec] = {}
    for path, method, op in operations(doc, warnings):
        if method == "ANY" and (op.get("isDefaultRoute") is True or path.strip("/") == "$default"):
            key = "$default"
        else:
            key = f"{method} {with_base(path, base, basepath)}"
        where = f"route {key}"
        if key in routes:
            raise OpenApiError(f"Duplicate route {key} in the definition")
        warnings += extension_warnings(op, {INTEGRATION}, where)
        target = None
        if INTEGRATION in op:
            params = _integration(doc, op[INTEGRATION], where, warnings)
            if params is not None:
                target = json.dumps(params, sort_keys=True)
                integrations[target] = params
        auth_type, authorizer, scopes = _authorization(doc, op, where, authorizers, warnings)
        routes[key] = RouteSpec(key, target, auth_type, authorizer, scopes, text(op.get("operationId")))
    endpoint = doc.get("x-amazon-apigateway-endpoint-configuration")
    disable = endpoint.get("disableExecuteApiEndpoint") if isinstance(endpoint, dict) else None
    return ApiSpec(
        name=str(text(about["title"])),
        version=text(about.get("version")),
        description=text(about.get("description")),
        cors=_cors(doc.get("x-amazon-apigateway-cors")),
        tags=_tags(doc.get("tags")),
        disable_execute_api_endpoint=disable if isinstance(disable, bool) else None,
        integrations=integrations,
        authorizers=authorizers,
        routes=tuple(routes.values()),
        warnings=tuple(warnings),
    )


def _integration(doc: dict[str, Any], raw: Any, where: str, warnings: list[str]) -> dict[str, Any] | None:
    raw = resolve(doc, raw)
    if not isinstance(raw, dict):
        raise OpenApiError(f"Invalid {INTEGRATION} specified for {where}")
    kind = (text(raw.get("type")) or "").upper()
    if kind in ("AWS", "HTTP", "MOCK"):
        warnings.append(
            f"Unsupported integration type {kind} for {where}: HTTP APIs support only Lambda proxy "
            "and HTTP proxy integrations. The route is imported without an integration"
        )
        return None
    connection = (text(raw.get("connectionType")) or "INTERNET").upper()
    if connection != "INTERNET":
        raise OpenApiError(
            f"lambdabox serves integrations over the internet only, not {connection} ({where})"
        )
    params: dict[str, Any] = {
        "IntegrationType": kind,
        "IntegrationUri": text(raw.get("uri")),
        "PayloadFormatVersion": text(raw.get("payloadFormatVersion")) or "1.0",
        "IntegrationMethod": (text(raw.get("httpMethod")) or "POST").upper(),
        "ConnectionType": connection,
        "Description": text(raw.get("description")),
    }
    timeout = raw.get("timeoutInMillis")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | str) or not str(timeout).isdigit():
            raise OpenApiError(f"Invalid timeoutInMillis specified for {where}: {timeout}")
        params["TimeoutInMillis"] = int(timeout)
    return {k: v for k, v in params.items() if v is not None}


def _authorization(
    doc: dict[str, Any],
    op: dict[str, Any],
    where: str,
    authorizers: dict[str, dict[str, Any]],
    warnings: list[str],
) -> tuple[str, str | None, tuple[str, ...]]:
    names = requirement_names(op.get("security"), where)
    if names is None:
        names = requirement_names(doc.get("security"), "the document") or []
    names = [(n, s) for n, s in names if n != "NONE"]
    if not names:
        return "NONE", None, ()
    if len(names) > 1:
        raise OpenApiError(
            f"Multiple security requirements are not supported ({where}): each operation can have only "
            "one of IAM authorization, a Lambda authorizer, or a JWT authorizer"
        )
    name, scopes = names[0]
    components = doc.get("components")
    schemes = components.get("securitySchemes") if isinstance(components, dict) else None
    scheme = resolve(doc, schemes.get(name)) if isinstance(schemes, dict) else None
    if not isinstance(scheme, dict):
        raise OpenApiError(f"Security scheme {name} of {where} is not defined in components.securitySchemes")
    ext = resolve(doc, scheme.get(AUTHORIZER))
    if ext is None:
        if str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4":
            return "AWS_IAM", None, ()
        warnings.append(
            f"Security scheme {name} has no {AUTHORIZER}: {where} is imported without authorization"
        )
        return "NONE", None, ()
    if not isinstance(ext, dict):
        raise OpenApiError(f"Invalid {AUTHORIZER} specified for security scheme {name}")
    kind = (text(ext.get("type")) or "").lower()
    if kind == "jwt":
        authorizers.setdefault(name, _jwt(name, scheme, ext))
        return "JWT", name, tuple(scopes)
    if kind == "request":
        authorizers.setdefault(name, _request(name, ext))
        if scopes:
            warnings.append(f"Scopes of {where} are ignored: only JWT authorizers take scopes")
        return "CUSTOM", name, ()
    raise OpenApiError(
        f"Invalid authorizer type {ext.get('type')} for security scheme {name}: HTTP APIs support "
        "request and jwt authorizers"
    )


def _sources(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(s).strip() for s in items if str(s).strip()]


def _jwt(name: str, scheme: dict[str, Any], ext: dict[str, Any]) -> dict[str, Any]:
    config = ext.get("jwtConfiguration")
    config = config if isinstance(config, dict) else {}
    issuer = text(config.get("issuer"))
    discovery = text(scheme.get("openIdConnectUrl"))
    if issuer is None and discovery is not None:
        issuer = discovery.removesuffix(_WELL_KNOWN)
    audience = config.get("audience")
    params: dict[str, Any] = {
        "Name": name,
        "AuthorizerType": "JWT",
        "JwtConfiguration": {
            "Issuer": issuer,
            "Audience": [str(a) for a in audience] if isinstance(audience, list) else [],
        },
    }
    sources = _sources(ext.get("identitySource"))
    if sources is not None:
        params["IdentitySource"] = sources
    return params


def _request(name: str, ext: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Name": name,
        "AuthorizerType": "REQUEST",
        "AuthorizerUri": text(ext.get("authorizerUri")),
        "AuthorizerPayloadFormatVersion": text(ext.get("authorizerPayloadFormatVersion")),
        "EnableSimpleResponses": ext.get("enableSimpleResponses") is True,
        "IdentitySource": _sources(ext.get("identitySource")) or [],
    }
    ttl = ext.get("authorizerResultTtlInSeconds")
    if ttl is not None:
        if isinstance(ttl, bool) or not str(ttl).isdigit():
            raise OpenApiError(f"Invalid authorizerResultTtlInSeconds specified for {name}: {ttl}")
        params["AuthorizerResultTtlInSeconds"] = int(ttl)
    return {k: v for k, v in params.items() if v is not None}


def _cors(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise OpenApiError("Invalid x-amazon-apigateway-cors specified")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        member = _CORS.get(key)
        if member is None:
            raise OpenApiError(f"Invalid x-amazon-apigateway-cors property specified: {key}")
        wire, kind = member
        if kind is list:
            if not isinstance(value, list):
                raise OpenApiError(f"Invalid x-amazon-apigateway-cors {key}: a list is expected")
            value = [str(v) for v in value]
        elif kind is bool and not isinstance(value, bool):
            raise OpenApiError(f"Invalid x-amazon-apigateway-cors {key}: a boolean is expected")
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise OpenApiError(f"Invalid x-amazon-apigateway-cors {key}: an integer is expected")
        out[wire] = value
    return out


def _tags(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in raw if isinstance(raw, list) else ():
        if isinstance(tag, dict) and text(tag.get("name")):
            out[str(text(tag["name"]))] = text(tag.get("x-amazon-apigateway-tag-value")) or ""
    return out
