"""HTTP API Lambda proxy payloads: an HTTP request as a format 1.0 or 2.0 event, and a function's
result back as the HTTP response API Gateway sends.

Pure functions. The rules are AWS's, from
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
(DOC below) unless a comment cites where else a rule was observed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile("[\r\n\x00\ud800-\udfff]")  # CR, LF, NUL; lone surrogates cannot be sent
# Framing and hop-by-hop headers belong to lambdabox's own connection, never to the function: the
# server frames the body itself (Content-Length), so a function's values are dropped. AWS does not
# document what it does with them in a proxy response; this is lambdabox's choice.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "content-length",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# HTTP APIs pass a body as text only for these media types and base64-encode every other one,
# a missing Content-Type and application/x-www-form-urlencoded included. DOC says only "if the
# content type is binary"; the list was observed on AWS (https://github.com/ministackorg/ministack/pull/766).
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})
_DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"
_INTERNAL = (500, "Internal Server Error")
# requestContext.identity of a 1.0 event: null but for the caller's address and user agent (DOC).
_IDENTITY_FIELDS = [
    "accessKey",
    "accountId",
    "caller",
    "cognitoAuthenticationProvider",
    "cognitoAuthenticationType",
    "cognitoIdentityId",
    "cognitoIdentityPoolId",
    "principalOrgId",
    "sourceIp",
    "user",
    "userAgent",
    "userArn",
]


@dataclass(frozen=True)
class GatewayRequest:
    method: str
    raw_path: str
    path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    api_id: str
    account_id: str
    stage: str
    domain_name: str
    request_id: str
    time_epoch_ms: int
    route_key: str
    path_parameters: dict[str, str]
    stage_variables: dict[str, str]


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _Malformed(Exception):
    """A function result API Gateway refuses: the client gets 500 {"message":"Internal Server Error"}."""


def error_response(status: int, message: str) -> GatewayResponse:
    """One of API Gateway's own answers, e.g. (404, "Not Found"), (500, "Internal Server Error")."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return GatewayResponse(status, [("Content-Type", "application/json")], body)


# --- request -> event -------------------------------------------------------------------------


def _request_time(epoch_ms: int) -> str:
    t = datetime.fromtimestamp(epoch_ms / 1000, UTC)  # "12/Mar/2020:19:03:58 +0000", English months
    return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t.hour:02d}:{t.minute:02d}:{t.second:02d} +0000"


def _event_path(req: GatewayRequest) -> str:
    """The path in the event: percent-decoded, and prefixed by a named stage (never by $default).
    Observed on AWS: https://github.com/aws-powertools/powertools-lambda-python/issues/621 (stage),
    https://github.com/middleapi/standard-server/pull/93 (HTTP APIs send rawPath decoded)."""
    return req.path if req.stage == "$default" else f"/{req.stage}{req.path}"


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def _query(raw: str) -> dict[str, list[str]]:
    pairs = []
    for piece in raw.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return _grouped(pairs)


def _header_values(req: GatewayRequest, name: str) -> list[str]:
    return [v for n, v in req.headers if n.lower() == name]


def _body(req: GatewayRequest) -> tuple[str | None, bool]:
    if not req.body:
        return None, False
    content_type = (_header_values(req, "content-type") or [""])[0]
    media = content_type.split(";", 1)[0].strip().lower()
    if media.startswith("text/") or media in _TEXT_TYPES:
        try:
            return req.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # not text after all: sent lossless, as binary
    return base64.b64encode(req.body).decode("ascii"), True


def event_v2(req: GatewayRequest) -> dict[str, Any]:
    """The payload format 2.0 event. DOC: header names lower-cased, duplicates joined with commas;
    duplicate query parameters joined with commas; Cookie headers become ``cookies``. Fields with
    nothing in them (cookies, queryStringParameters, pathParameters, stageVariables, body) are left
    out, as AWS sends them."""
    cookies: list[str] = []
    headers: dict[str, list[str]] = {}
    for name, value in req.headers:
        low = name.lower()
        if low == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        else:
            headers.setdefault(low, []).append(value)
    path = _event_path(req)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": req.route_key,
        "rawPath": path,
        "rawQueryString": req.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = {k: ",".join(v) for k, v in headers.items()}
    query = _query(req.raw_query)
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    event["requestContext"] = {
        "accountId": req.account_id,
        "apiId": req.api_id,
        "domainName": req.domain_name,
        "domainPrefix": req.domain_name.split(".", 1)[0],
        "http": {
            "method": req.method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": req.source_ip,
            "userAgent": ",".join(_header_values(req, "user-agent")),
        },
        "requestId": req.request_id,
        "routeKey": req.route_key,
        "stage": req.stage,
        "time": _request_time(req.time_epoch_ms),
        "timeEpoch": req.time_epoch_ms,
    }
    body, is_b64 = _body(req)
    if body is not None:
        event["body"] = body
    if req.path_parameters:
        event["pathParameters"] = dict(req.path_parameters)
    event["isBase64Encoded"] = is_b64
    if req.stage_variables:
        event["stageVariables"] = dict(req.stage_variables)
    return event


def event_v1(req: GatewayRequest) -> dict[str, Any]:
    """The payload format 1.0 event of an HTTP API. DOC: header names lower-cased; ``headers`` and
    ``queryStringParameters`` hold one value per name (the last: observed on AWS for both HTTP API
    formats, https://gist.github.com/metaskills/55f9e3c7e205f6dc9db2f2a1bcd3d289), the multi-value maps
    all of them; empty maps and a missing body are null. ``resource``/``resourcePath`` are the route's
    path, or the request's for $default (as in DOC's example)."""
    headers = _grouped((n.lower(), v) for n, v in req.headers)
    query = _query(req.raw_query)
    path = _event_path(req)
    parsed = req.route_key.partition(" ")
    resource = parsed[2] if parsed[1] else req.path
    body, is_b64 = _body(req)
    user_agent = ",".join(headers.get("user-agent", []))
    identity: dict[str, Any] = dict.fromkeys(_IDENTITY_FIELDS)
    identity["sourceIp"] = req.source_ip
    identity["userAgent"] = user_agent
    return {
        "version": "1.0",
        "resource": resource,
        "path": path,
        "httpMethod": req.method,
        "headers": {k: v[-1] for k, v in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": {
            "accountId": req.account_id,
            "apiId": req.api_id,
            "domainName": req.domain_name,
            "domainPrefix": req.domain_name.split(".", 1)[0],
            "extendedRequestId": req.request_id,
            "httpMethod": req.method,
            "identity": identity,
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": req.request_id,
            "requestTime": _request_time(req.time_epoch_ms),
            "requestTimeEpoch": req.time_epoch_ms,
            "resourceId": None,
            "resourcePath": resource,
            "stage": req.stage,
        },
        "pathParameters": dict(req.path_parameters) or None,
        "stageVariables": dict(req.stage_variables) or None,
        "body": body,
        "isBase64Encoded": is_b64,
    }


# --- function result -> response --------------------------------------------------------------


def _header_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)  # true / 3 / 1.5, as JavaScript prints them
    raise _Malformed("header value is not a string")


def safe_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Never let a function inject headers or reframe the response: names must be HTTP tokens,
    values free of CR, LF, NUL (and of lone surrogates); framing headers are the server's."""
    return [
        (n, v)
        for n, v in headers
        if _TOKEN.fullmatch(n) and not _BAD_VALUE.search(v) and n.lower() not in _HOP_BY_HOP
    ]


def _status(result: dict[str, Any]) -> int:
    status = result.get("statusCode")
    # an interim (1xx) status is no answer: the body after it would read as a response of its own
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise _Malformed("statusCode is not a final HTTP status")
    return status


def _body_bytes(result: dict[str, Any]) -> bytes:
    body = result.get("body")
    is_b64 = result.get("isBase64Encoded", False)
    if body is None:
        body = ""
    if not isinstance(body, str) or not isinstance(is_b64, bool):
        raise _Malformed("body is not a string or isBase64Encoded not a boolean")
    if not is_b64:
        return body.encode("utf-8", "replace")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as e:
        raise _Malformed("body is not base64") from e


def _map(result: dict[str, Any], key: str) -> dict[str, Any]:
    value = result.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Malformed(f"{key} is not a map")
    return value


def _finish(
    status: int, headers: list[tuple[str, str]], body: bytes, content_type: str = _DEFAULT_CONTENT_TYPE
) -> GatewayResponse:
    # With no Content-Type from the function HTTP APIs send text/plain (observed by AWS's own emulator,
    # https://github.com/aws/aws-lambda-dotnet Tools/LambdaTestTool-v2 ApiGatewayResponseExtensions.cs).
    headers = safe_headers(headers)
    if not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", content_type))
    return GatewayResponse(status, headers, body)


def _json(payload: bytes) -> Any:
    """The payload's JSON value; None (as for JSON null) when it is not JSON or nests too deep."""
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return None


def response_v2(payload: bytes) -> GatewayResponse:
    """A format 2.0 result. DOC: a JSON object with ``statusCode`` says everything itself (statusCode,
    headers, cookies as Set-Cookie headers, body, isBase64Encoded); anything else is the body of a 200
    application/json response, byte for byte (a returned string keeps its JSON quotes: "body is the
    function's response"). A payload that is not JSON at all is passed the same way (observed by AWS's
    emulator, Tools/LambdaTestTool-v2 InvokeResponseExtensions.cs); a malformed structured result is 500."""
    try:
        return read_v2(payload)
    except _Malformed:
        return error_response(*_INTERNAL)


def read_v2(payload: bytes) -> GatewayResponse:
    """A format 2.0 result (`response_v2`); a malformed structured one raises MalformedResult."""
    result = _json(payload)
    if not isinstance(result, dict) or "statusCode" not in result:
        return GatewayResponse(200, [("Content-Type", "application/json")], payload)
    status, headers = head_v2(result)
    return _finish(status, headers, _body_bytes(result))


def head_v2(result: dict[str, Any]) -> tuple[int, list[tuple[str, str]]]:
    """A format 2.0 result's status and headers (its cookies as Set-Cookie headers), unfiltered;
    raises MalformedResult. Also the prelude of a streamed function URL response."""
    status = _status(result)
    headers = [(str(n), _header_text(v)) for n, v in _map(result, "headers").items()]
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise _Malformed("cookies is not a list of strings")
    headers.extend(("Set-Cookie", c) for c in cookies)
    return status, headers


def response_v1(payload: bytes) -> GatewayResponse:
    """A format 1.0 result (`read_v1`); anything else is 500 {"message":"Internal Server Error"}."""
    try:
        return read_v1(payload)
    except MalformedResult:
        return error_response(*_INTERNAL)


MalformedResult = _Malformed


def read_v1(payload: bytes, content_type: str = _DEFAULT_CONTENT_TYPE) -> GatewayResponse:
    """A format 1.0 result: a JSON object with an integer ``statusCode``, optional ``headers`` and
    ``multiValueHeaders`` (merged; a name/value pair in both is sent once, as AWS documents for REST
    APIs at https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html),
    ``body`` and ``isBase64Encoded`` (the body decoded); `content_type` when it names none. Anything
    else raises MalformedResult."""
    result = _json(payload)
    if not isinstance(result, dict):
        raise _Malformed("result is not an object")
    status = _status(result)
    headers: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for name, values in _map(result, "multiValueHeaders").items():
        if not isinstance(values, list):
            raise _Malformed("multiValueHeaders value is not a list")
        for value in values:
            headers.append((str(name), _header_text(value)))
            seen.add((str(name).lower(), headers[-1][1]))
    for name, value in _map(result, "headers").items():
        text = _header_text(value)
        if (str(name).lower(), text) not in seen:
            headers.append((str(name), text))
    return _finish(status, headers, _body_bytes(result), content_type)
