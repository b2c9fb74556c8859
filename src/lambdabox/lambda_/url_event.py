"""A request to a function URL as the function's event (payload format 2.0): pure.

The event is the one documented at https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html
("Request payload"): HTTP API's format 2.0 (`gateway/proxy.event_v2`) with routeKey and stage
`$default`, the url-id as apiId and domainPrefix, the URL's domain, no path parameters or stage
variables, `requestContext.accountId` "anonymous" for AuthType NONE (the function's account for
AWS_IAM), and for AWS_IAM the signing caller in `requestContext.authorizer.iam`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdabox.gateway.proxy import GatewayRequest, event_v2


@dataclass(frozen=True)
class UrlRequest:
    """An HTTP request to a function URL, with what the URL adds to it."""

    method: str
    raw_path: str  # the path after the URL's part, percent-encoded, "/…"
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    url_id: str
    region: str
    account_id: str  # the function's
    request_id: str
    time_epoch_ms: int
    iam: dict[str, Any] | None = None  # the caller of an AWS_IAM URL


def url_event(req: UrlRequest) -> dict[str, Any]:
    """The function URL event of `req`."""
    greq = GatewayRequest(
        method=req.method,
        raw_path=req.raw_path,
        path=req.raw_path,  # (still encoded: URLs, unlike HTTP APIs, do not decode it)
        raw_query=req.raw_query,
        headers=req.headers,
        body=req.body,
        source_ip=req.source_ip,
        api_id=req.url_id,
        account_id=req.account_id if req.iam is not None else "anonymous",
        stage="$default",
        domain_name=f"{req.url_id}.lambda-url.{req.region}.localhost",
        request_id=req.request_id,
        time_epoch_ms=req.time_epoch_ms,
        route_key="$default",
        path_parameters={},
        stage_variables={},
    )
    event = event_v2(greq)
    if req.iam is not None:
        event["requestContext"]["authorizer"] = {"iam": dict(req.iam)}
    return event
