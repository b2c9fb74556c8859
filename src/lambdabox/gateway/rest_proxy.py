"""REST API Lambda proxy payloads: an HTTP request as the event a REST API sends its function,
and the function's result back as the HTTP response; API Gateway's own answers. Pure functions.

The rules are AWS's, from https://docs.aws.amazon.com/apigateway/latest/developerguide/
set-up-lambda-proxy-integrations.html (DOC; its example event is tests/events/apigw-rest-proxy.json)
unless a comment cites elsewhere. Unlike an HTTP API's format 1.0 event, a REST API's keeps header
names as the client sent them, has no `version`, names the resource (`/{proxy+}`) in `resource`
and `requestContext.resourcePath`, leaves the stage out of `path` (but not out of
`requestContext.path`), and passes a body as text unless its Content-Type is one of the API's
binary media types (https://docs.aws.amazon.com/apigateway/latest/developerguide/
api-gateway-payload-encodings.html).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lambdabox.gateway.proxy import GatewayResponse, _query, _request_time, read_v1

# requestContext.identity of a REST event: null but for the caller's address and user agent (DOC)
_IDENTITY_FIELDS = [
    "cognitoIdentityPoolId",
    "accountId",
    "cognitoIdentityId",
    "caller",
    "apiKey",
    "apiKeyId",
    "accessKey",
    "sourceIp",
    "principalOrgId",
    "cognitoAuthenticationType",
    "cognitoAuthenticationProvider",
    "userArn",
    "userAgent",
    "user",
]
#: a REST API's Content-Type when the function names none (REST APIs default to JSON)
DEFAULT_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class RestRequest:
    method: str
    path: str  # percent-decoded, after the stage: "/pets/1"
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
    resource_id: str
    resource_path: str  # the matched resource: "/pets/{id}"
    path_parameters: dict[str, str]
    stage_variables: dict[str, str]
    binary_media_types: tuple[str, ...] = ()
    extended_request_id: str = ""

    def header(self, name: str) -> str | None:
        low = name.lower()
        found = [v for n, v in self.headers if n.lower() == low]
        return found[-1] if found else None


def error(status: int, message: str | None, error_type: str, key: str = "message") -> GatewayResponse:
    """One of API Gateway's own answers (its default gateway responses), with the
    `x-amzn-ErrorType` header REST APIs send with them."""
    body = json.dumps({key: message}, separators=(",", ":")).encode()
    return GatewayResponse(
        status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)], body
    )


def _media(value: str | None) -> str:
    return (value or "").split(";", 1)[0].split(",", 1)[0].strip().lower()


def is_binary(media_type: str, binary_media_types: Sequence[str]) -> bool:
    """Whether a media type is one of the API's binary ones (`image/png`, `image/*`, `*/*`)."""
    kind, _, sub = media_type.partition("/")
    for pattern in binary_media_types:
        p_kind, _, p_sub = pattern.strip().lower().partition("/")
        if p_kind in ("*", kind) and p_sub in ("*", sub) and (kind or p_kind == "*"):
            return True
    return False


def _grouped(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Header values by name, as the client spelled the name first (names are case-insensitive)."""
    spelled: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for name, value in headers:
        key = spelled.setdefault(name.lower(), name)
        out.setdefault(key, []).append(value)
    return out


def _body(req: RestRequest) -> tuple[str | None, bool]:
    if not req.body:
        return None, False
    if is_binary(_media(req.header("content-type")), req.binary_media_types):
        return base64.b64encode(req.body).decode("ascii"), True
    return req.body.decode("utf-8", "replace"), False


def request_parts(req: RestRequest) -> dict[str, Any]:
    """The event's request fields (what REQUEST authorizers get too): all but body and encoding."""
    headers = _grouped(req.headers)
    query = _query(req.raw_query)
    identity: dict[str, Any] = dict.fromkeys(_IDENTITY_FIELDS)
    identity["sourceIp"] = req.source_ip
    identity["userAgent"] = req.header("user-agent")
    return {
        "resource": req.resource_path,
        "path": req.path,
        "httpMethod": req.method,
        "headers": {k: v[-1] for k, v in headers.items()} or None,
        "multiValueHeaders": headers or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": dict(req.path_parameters) or None,
        "stageVariables": dict(req.stage_variables) or None,
        "requestContext": {
            "resourceId": req.resource_id,
            "resourcePath": req.resource_path,
            "httpMethod": req.method,
            "extendedRequestId": req.extended_request_id,
            "requestTime": _request_time(req.time_epoch_ms),
            "path": f"/{req.stage}{req.path}",
            "accountId": req.account_id,
            "protocol": "HTTP/1.1",
            "stage": req.stage,
            "domainPrefix": req.domain_name.split(".", 1)[0],
            "requestTimeEpoch": req.time_epoch_ms,
            "requestId": req.request_id,
            "identity": identity,
            "domainName": req.domain_name,
            "apiId": req.api_id,
        },
    }


def event(req: RestRequest, authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event of a Lambda proxy integration; `authorizer`: what a Lambda authorizer granted
    (`requestContext.authorizer`: principalId and its context)."""
    out = request_parts(req)
    if authorizer is not None:
        out["requestContext"]["authorizer"] = authorizer
    body, is_b64 = _body(req)
    out["body"] = body
    out["isBase64Encoded"] = is_b64
    return out


def response(payload: bytes, req: RestRequest) -> GatewayResponse:
    """The function's result as the HTTP response (raises proxy.MalformedResult for a result REST
    APIs refuse: the client then gets 502). A base64 body (`isBase64Encoded`) is decoded only when
    the request's first Accept media type is one of the API's binary media types, else sent as the
    base64 text ("API Gateway uses the first Accept header from clients to determine if a response
    should return binary media": https://docs.aws.amazon.com/apigateway/latest/developerguide/
    lambda-proxy-binary-media.html)."""
    answer = read_v1(payload, DEFAULT_CONTENT_TYPE)
    try:
        encoded = json.loads(payload).get("isBase64Encoded") is True
    except (ValueError, AttributeError, RecursionError):
        encoded = False
    if encoded and not is_binary(_media(req.header("accept")), req.binary_media_types):
        return GatewayResponse(answer.status, answer.headers, base64.b64encode(answer.body))
    return answer
