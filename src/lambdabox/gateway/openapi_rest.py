"""A Swagger 2.0 or OpenAPI 3.0 definition as the REST API ImportRestApi / PutRestApi make of it: a
plain description of the resource paths, methods (with their integration and responses) and
authorizers, in the shapes of CreateResource, PutMethod, PutIntegration and CreateAuthorizer, which
the service checks as those operations do.

What AWS documents (https://docs.aws.amazon.com/apigateway/latest/developerguide/
api-gateway-import-api.html and the extension pages api-gateway-swagger-extensions-*.html):

- `info.title`, `info.version`, `info.description` are the API's name, version and description;
  `x-amazon-apigateway-binary-media-types`, `x-amazon-apigateway-api-key-source`,
  `x-amazon-apigateway-minimum-compression-size`, `x-amazon-apigateway-policy` and
  `x-amazon-apigateway-endpoint-configuration.disableExecuteApiEndpoint` its settings.
- Each path is a resource (its parents are made too), each operation a method;
  `x-amazon-apigateway-any-method` is ANY. The operation's `parameters` are the method's request
  parameters (`method.request.querystring.<name>`: required), its `responses` the method
  responses (headers as response parameters), `operationId` the operation name.
- `x-amazon-apigateway-integration` is the integration (type aws_proxy, mock …), its `responses`
  the integration responses (the key is the selection pattern, `default` none).
- `security` (the operation's, else the document's) names schemes of `securityDefinitions` (2.0) or
  `components.securitySchemes` (3.0): one with an `x-amazon-apigateway-authorizer` (token or request)
  is a CUSTOM authorizer named after the scheme (identity source `method.request.header.<name>` of
  the scheme unless given); `x-amazon-apigateway-authtype: awsSigv4` is AWS_IAM; an `apiKey`
  scheme in the `x-api-key` header makes the method require an API key. `NONE` (as SAM writes) or
  an empty requirement is no authorization; `x-amazon-apigateway-auth` {type: aws_iam | none} sets it
  too. A scheme that is not defined is an error (a method meant to be protected is never served
  open); other `x-amazon-apigateway-*` extensions are warnings (ignored).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lambdabox.gateway.openapi_doc import (
    OpenApiError,
    base_path,
    base_resources,
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
    "x-amazon-apigateway-binary-media-types",
    "x-amazon-apigateway-api-key-source",
    "x-amazon-apigateway-minimum-compression-size",
    "x-amazon-apigateway-policy",
    "x-amazon-apigateway-endpoint-configuration",
    "x-amazon-apigateway-importexport-version",
    "x-amazon-apigateway-documentation",  # documentation parts: nothing served depends on them
}
_OP_EXTENSIONS = {INTEGRATION, "x-amazon-apigateway-auth"}
_PARAMETER_PLACES = {"path": "path", "query": "querystring", "header": "header"}


@dataclass(frozen=True)
class MethodSpec:
    """A method to put on the resource at `path`, with its integration (PutIntegration params)."""

    path: str
    http_method: str
    authorization_type: str = "NONE"
    authorizer: str | None = None  # a key of RestApiSpec.authorizers
    api_key_required: bool = False
    operation_name: str | None = None
    request_parameters: dict[str, bool] = field(default_factory=dict)
    method_responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    integration: dict[str, Any] | None = None
    integration_responses: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RestApiSpec:
    """What an OpenAPI definition says of a REST API."""

    name: str
    version: str | None
    description: str | None
    binary_media_types: tuple[str, ...]
    api_key_source: str | None
    minimum_compression_size: int | None
    policy: str | None
    disable_execute_api_endpoint: bool | None
    #: every resource path the definition needs, parents first ("/" is always there)
    paths: tuple[str, ...]
    methods: tuple[MethodSpec, ...]
    #: scheme name -> CreateAuthorizer params
    authorizers: dict[str, dict[str, Any]]
    warnings: tuple[str, ...]


def read(body: str | bytes, basepath: str | None = None) -> RestApiSpec:
    """The REST API a Swagger 2.0 or OpenAPI 3.0 body defines; raises OpenApiError."""
    doc = load(body)
    about = info(doc)
    warnings = extension_warnings(doc, _ROOT_EXTENSIONS, "the document root")
    base = base_path(doc)
    paths: dict[str, None] = dict.fromkeys(base_resources(base, basepath))
    authorizers: dict[str, dict[str, Any]] = {}
    methods: list[MethodSpec] = []
    seen: set[tuple[str, str]] = set()
    given_paths = doc.get("paths")
    items: dict[str, Any] = given_paths if isinstance(given_paths, dict) else {}
    for raw_path, method, op in operations(doc, warnings):
        if not raw_path.startswith("/"):
            raise OpenApiError(f"Invalid path {raw_path}: a path starts with /")
        path = with_base(raw_path, base, basepath).rstrip("/") or "/"
        parts = path.strip("/").split("/") if path != "/" else []
        paths.update(dict.fromkeys("/" + "/".join(parts[: i + 1]) for i in range(len(parts))))
        where = f"'{method}' for resource at path '{path}'"
        if (path, method) in seen:
            raise OpenApiError(f"Duplicate method {where}")
        seen.add((path, method))
        warnings += extension_warnings(op, _OP_EXTENSIONS, f"method {where}")
        auth_type, authorizer, key_required = _security(doc, op, where, authorizers, warnings)
        item = resolve(doc, items.get(raw_path))
        integration, integration_responses = _integration(doc, op.get(INTEGRATION), where)
        method_spec = MethodSpec(
            path=path, http_method=method, authorization_type=auth_type, authorizer=authorizer,
            api_key_required=key_required, operation_name=text(op.get("operationId")),
            request_parameters=_parameters(doc, item, op),
            method_responses=_method_responses(doc, op.get("responses")),
            integration=integration, integration_responses=integration_responses,
        )  # fmt: skip
        methods.append(method_spec)
    media = doc.get("x-amazon-apigateway-binary-media-types")
    source = text(doc.get("x-amazon-apigateway-api-key-source"))
    compression = doc.get("x-amazon-apigateway-minimum-compression-size")
    policy = doc.get("x-amazon-apigateway-policy")
    endpoint = doc.get("x-amazon-apigateway-endpoint-configuration")
    disable = endpoint.get("disableExecuteApiEndpoint") if isinstance(endpoint, dict) else None
    return RestApiSpec(
        name=str(text(about["title"])),
        version=text(about.get("version")),
        description=text(about.get("description")),
        binary_media_types=tuple(str(m) for m in media) if isinstance(media, list) else (),
        api_key_source=source.upper() if source else None,
        minimum_compression_size=compression if isinstance(compression, int) else None,
        policy=json.dumps(policy) if isinstance(policy, dict) else text(policy),
        disable_execute_api_endpoint=disable if isinstance(disable, bool) else None,
        paths=tuple(sorted(paths, key=lambda p: (p.count("/"), p))),
        methods=tuple(methods),
        authorizers=authorizers,
        warnings=tuple(warnings),
    )


def _schemes(doc: dict[str, Any]) -> dict[str, Any]:
    if is_openapi3(doc):
        components = doc.get("components")
        found = components.get("securitySchemes") if isinstance(components, dict) else None
    else:
        found = doc.get("securityDefinitions")
    return found if isinstance(found, dict) else {}


def _security(
    doc: dict[str, Any],
    op: dict[str, Any],
    where: str,
    authorizers: dict[str, dict[str, Any]],
    warnings: list[str],
) -> tuple[str, str | None, bool]:
    """(authorizationType, authorizer scheme name, apiKeyRequired) of an operation."""
    names = requirement_names(op.get("security"), f"method {where}")
    if names is None:
        names = requirement_names(doc.get("security"), "the document") or []
    schemes = _schemes(doc)
    kinds: list[tuple[str, str | None]] = []
    key_required = False
    for name, _scopes in names:
        if name == "NONE":
            continue
        scheme = resolve(doc, schemes.get(name))
        if not isinstance(scheme, dict):
            raise OpenApiError(f"Security scheme {name} of method {where} is not defined")
        ext = resolve(doc, scheme.get(AUTHORIZER))
        authtype = text(scheme.get("x-amazon-apigateway-authtype"))
        if ext is not None:
            authorizers.setdefault(name, _authorizer(name, scheme, ext))
            kinds.append(("CUSTOM", name))
        elif (authtype or "").lower() == "awssigv4":
            kinds.append(("AWS_IAM", None))
        elif (
            scheme.get("type") == "apiKey"
            and scheme.get("in") == "header"
            and str(scheme.get("name", "")).lower() == "x-api-key"
        ):
            key_required = True
        else:
            warnings.append(f"Security scheme {name} is not supported: ignored for method {where}")
    auth = op.get("x-amazon-apigateway-auth")
    if isinstance(auth, dict) and (text(auth.get("type")) or "").upper() == "AWS_IAM":
        kinds.append(("AWS_IAM", None))
    if len(kinds) > 1:
        raise OpenApiError(f"Method {where} names more than one authorizer: only one is supported")
    kind, authorizer = kinds[0] if kinds else ("NONE", None)
    return kind, authorizer, key_required


def _authorizer(name: str, scheme: dict[str, Any], ext: Any) -> dict[str, Any]:
    if not isinstance(ext, dict):
        raise OpenApiError(f"Invalid {AUTHORIZER} specified for security scheme {name}")
    kind = (text(ext.get("type")) or "").upper()
    source = text(ext.get("identitySource"))
    place = {"header": "header", "query": "querystring"}.get(str(scheme.get("in")))
    if source is None and place and text(scheme.get("name")) and scheme.get("name") != "Unused":
        source = f"method.request.{place}.{scheme['name']}"
    ttl = ext.get("authorizerResultTtlInSeconds")
    if ttl is not None and (isinstance(ttl, bool) or not str(ttl).isdigit()):
        raise OpenApiError(f"Invalid authorizerResultTtlInSeconds specified for {name}: {ttl}")
    params = {
        "name": name,
        "type": kind,
        "authorizerUri": text(ext.get("authorizerUri")),
        "identitySource": source,
        "identityValidationExpression": text(ext.get("identityValidationExpression")),
        "authorizerResultTtlInSeconds": int(ttl) if ttl is not None else None,
        "authorizerCredentials": text(ext.get("authorizerCredentials")),
        "authType": text(scheme.get("x-amazon-apigateway-authtype")),
    }
    return {k: v for k, v in params.items() if v is not None}


def _integration(
    doc: dict[str, Any], raw: Any, where: str
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    raw = resolve(doc, raw)
    if raw is None:
        return None, {}
    if not isinstance(raw, dict):
        raise OpenApiError(f"Invalid {INTEGRATION} specified for method {where}")
    connection = (text(raw.get("connectionType")) or "INTERNET").upper()
    if connection != "INTERNET":
        raise OpenApiError(f"lambdabox serves integrations over the internet only, not {connection}")
    timeout = raw.get("timeoutInMillis")
    if timeout is not None and (isinstance(timeout, bool) or not str(timeout).isdigit()):
        raise OpenApiError(f"Invalid timeoutInMillis specified for method {where}: {timeout}")
    method = text(raw.get("httpMethod"))
    params: dict[str, Any] = {
        "type": (text(raw.get("type")) or "").upper(),
        "integrationHttpMethod": method.upper() if method else None,
        "uri": text(raw.get("uri")),
        "timeoutInMillis": int(timeout) if timeout is not None else None,
        "passthroughBehavior": (text(raw.get("passthroughBehavior")) or "").upper() or None,
        "contentHandling": text(raw.get("contentHandling")),
        "cacheNamespace": text(raw.get("cacheNamespace")),
        "cacheKeyParameters": _strings(raw.get("cacheKeyParameters")),
        "requestParameters": _string_map(raw.get("requestParameters")),
        "requestTemplates": _string_map(raw.get("requestTemplates")),
    }
    responses: dict[str, dict[str, Any]] = {}
    given = raw.get("responses")
    for pattern, response in given.items() if isinstance(given, dict) else ():
        if not isinstance(response, dict) or text(response.get("statusCode")) is None:
            raise OpenApiError(f"Invalid integration response {pattern} for method {where}")
        entry = {
            "selectionPattern": None if pattern == "default" else str(pattern),
            "responseParameters": _string_map(response.get("responseParameters")),
            "responseTemplates": _string_map(response.get("responseTemplates")),
            "contentHandling": text(response.get("contentHandling")),
        }
        responses[str(text(response["statusCode"]))] = {k: v for k, v in entry.items() if v is not None}
    return {k: v for k, v in params.items() if v is not None}, responses


def _strings(value: Any) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, list) else None


def _string_map(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): str(text(v) or "") for k, v in value.items()}


def _parameters(doc: dict[str, Any], item: Any, op: dict[str, Any]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    given = [*(item.get("parameters") or [] if isinstance(item, dict) else []), *(op.get("parameters") or [])]
    for raw in given if isinstance(given, list) else ():
        parameter = resolve(doc, raw)
        if not isinstance(parameter, dict):
            continue
        place = _PARAMETER_PLACES.get(str(parameter.get("in")))
        name = text(parameter.get("name"))
        if place and name:
            out[f"method.request.{place}.{name}"] = parameter.get("required") is True
    return out


def _method_responses(doc: dict[str, Any], given: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for status, response in given.items() if isinstance(given, dict) else ():
        status = str(status)
        if not (len(status) == 3 and status.isdigit()):
            continue  # `default` and ranges are not method responses
        response = resolve(doc, response)
        headers = response.get("headers") if isinstance(response, dict) else None
        entry: dict[str, Any] = {}
        if isinstance(headers, dict) and headers:
            entry["responseParameters"] = {f"method.response.header.{h}": False for h in headers}
        out[status] = entry
    return out
