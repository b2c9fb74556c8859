"""Reading an OpenAPI document as API Gateway's import operations do, for both API types: the body
(JSON, else YAML), local `$ref`s, the base path (Swagger 2.0 `basePath`, OpenAPI 3.0 the first
server's URL, its `{basePath}` variable filled in) and the `basepath` modes ignore / prepend / split
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-import-api-basePath.html),
the operations of `paths` (`x-amazon-apigateway-any-method` is ANY), and a security requirement's
scheme names.

Pure functions over plain JSON values; `OpenApiError` carries the BadRequestException message. A
body that is not an OpenAPI document gets AWS's "Invalid OpenAPI input." (AWS's answer to such a
PutRestApi, as Terraform users quote it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

INVALID = "Invalid OpenAPI input."
ANY_METHOD = "x-amazon-apigateway-any-method"
#: the OpenAPI operations API Gateway serves (TRACE it does not)
METHODS = ("get", "put", "post", "delete", "patch", "options", "head")
_REF_DEPTH = 32


class OpenApiError(Exception):
    """The document cannot be imported: the message API Gateway's BadRequestException carries."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def load(body: str | bytes) -> dict[str, Any]:
    """The document a body holds: JSON, else YAML; an object with `openapi` or `swagger`."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise OpenApiError(INVALID) from exc
    doc: Any
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        doc = _yaml(body)
    if not isinstance(doc, dict) or not (
        isinstance(doc.get("openapi"), str) or isinstance(doc.get("swagger"), str)
    ):
        raise OpenApiError(INVALID)
    return doc


def _yaml(body: str) -> Any:
    """A YAML body, without aliases: an alias is a reference to an earlier node, and a few lines of
    them ("billion laughs") expand to more values than the server can walk; the document is as big
    as its text then, which the edge bounds."""
    import yaml  # only YAML bodies pay for it

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise OpenApiError(INVALID)
            return super().compose_node(parent, index)

    try:
        return yaml.load(body, Loader=NoAliases)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise OpenApiError(INVALID) from exc


def is_openapi3(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("openapi"), str) and doc["openapi"].startswith("3.")


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """`node`, or what its local `$ref` (`#/components/...`) names; a ref that names nothing is
    an error."""
    for _ in range(_REF_DEPTH):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise OpenApiError(f"Unsupported reference {ref}: only references within the document are")
        found: Any = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(found, dict) or part not in found:
                raise OpenApiError(f"Invalid reference {ref}: it names nothing in the document")
            found = found[part]
        node = found
    raise OpenApiError("References nested too deeply")


def text(value: Any) -> str | None:
    """A scalar as the string API Gateway reads (`payloadFormatVersion: 1.0` is "1.0")."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def info(doc: dict[str, Any]) -> dict[str, Any]:
    found = doc.get("info")
    if not isinstance(found, dict) or not text(found.get("title")):
        raise OpenApiError(INVALID)
    return found


def base_path(doc: dict[str, Any]) -> str:
    """The document's base path ("" for none): Swagger's `basePath`, or the path of OpenAPI 3's
    first server URL with its variables at their defaults."""
    if not is_openapi3(doc):
        given = doc.get("basePath")
        return given.rstrip("/") if isinstance(given, str) else ""
    servers = doc.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return ""
    url = servers[0].get("url")
    if not isinstance(url, str):
        return ""
    variables = servers[0].get("variables")
    for name, spec in (variables if isinstance(variables, dict) else {}).items():
        default = spec.get("default") if isinstance(spec, dict) else None
        url = url.replace("{" + str(name) + "}", str(default or "").strip("/"))
    path = urlsplit(url).path if "://" in url else url
    return "/" + "/".join(p for p in path.split("/") if p) if path.strip("/") else ""


def with_base(path: str, base: str, mode: str | None) -> str:
    """A path of `paths` as its resource path under the base path mode (ignore by default)."""
    mode = (mode or "ignore").lower()
    if mode not in ("ignore", "prepend", "split"):
        raise OpenApiError(
            f"Invalid basepath mode specified: {mode}. Valid values are ignore, prepend, split"
        )
    if mode == "ignore" or not base:
        return path
    if mode == "split":
        base = "/" + "/".join(base.strip("/").split("/")[1:])
    joined = base.rstrip("/") + "/" + path.lstrip("/")
    return joined.rstrip("/") or "/"


def base_resources(base: str, mode: str | None) -> list[str]:
    """The resources (without methods) a base path adds under prepend and split."""
    mode = (mode or "ignore").lower()
    if mode == "ignore" or not base:
        return []
    parts = base.strip("/").split("/")
    if mode == "split":
        parts = parts[1:]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def operations(doc: dict[str, Any], warnings: list[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path as written, method in capitals or ANY, operation object) of every operation."""
    paths = doc.get("paths")
    if paths is None:
        return
    if not isinstance(paths, dict):
        raise OpenApiError(INVALID)
    for path, item in paths.items():
        item = resolve(doc, item)
        if not isinstance(path, str) or not isinstance(item, dict):
            raise OpenApiError(INVALID)
        for key, op in item.items():
            if key == ANY_METHOD:
                method = "ANY"
            elif key in METHODS:
                method = key.upper()
            elif key == "trace":
                warnings.append(f"Unsupported HTTP method TRACE for path {path}: ignored")
                continue
            else:  # parameters, summary, description, servers, extensions
                continue
            if not isinstance(op, dict):
                raise OpenApiError(f"Invalid operation {key} for path {path}")
            yield path, method, op


def requirement_names(requirements: Any, where: str) -> list[tuple[str, list[str]]] | None:
    """The (scheme name, scopes) a `security` value names: [] for "no security", None when the
    operation does not say (the document's `security` applies)."""
    if requirements is None:
        return None
    if not isinstance(requirements, list):
        raise OpenApiError(f"Invalid security specified for {where}")
    out: list[tuple[str, list[str]]] = []
    for requirement in requirements:
        if not isinstance(requirement, dict):
            raise OpenApiError(f"Invalid security specified for {where}")
        for name, scopes in requirement.items():
            if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                raise OpenApiError(f"Invalid security scopes specified for {where}")
            out.append((str(name), list(scopes)))
    return out


def extension_warnings(node: dict[str, Any], known: set[str], where: str) -> list[str]:
    """A warning for each `x-amazon-apigateway-*` extension of `node` the importer ignores."""
    return [
        f"Unsupported extension {key} at {where}: ignored"
        for key in node
        if isinstance(key, str) and key.startswith("x-amazon-apigateway-") and key not in known
    ]
