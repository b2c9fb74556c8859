"""`lambdabox apis`: the HTTP and REST APIs a lambdabox server serves, each stage with the two URLs
it answers at: by host (`http://<api-id>.execute-api.localhost:<port>/<stage>/`) and by path
(`<endpoint>/_apis/<api-id>/<stage>/`, for clients that cannot resolve subdomains). Read through
the public apigatewayv2 and apigateway APIs, as any client would."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit

import botocore.session

from lambdabox.target import Target

DEFAULT_STAGE = "$default"


@dataclass(frozen=True)
class ServedStage:
    kind: str  # "HTTP" or "REST"
    api_name: str
    api_id: str
    stage: str


def urls(endpoint_url: str, api_id: str, stage: str) -> tuple[str, str]:
    """(by host, by path): where a stage of an API answers on the server at `endpoint_url`."""
    u = urlsplit(endpoint_url)
    port = f":{u.port}" if u.port else ""
    prefix = "" if stage == DEFAULT_STAGE else f"{stage}/"
    return (
        f"{u.scheme}://{api_id}.execute-api.localhost{port}/{prefix}",
        f"{endpoint_url.rstrip('/')}/_apis/{api_id}/{prefix}",
    )


def _pages(call: Any, items: str, token: str, sent: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        page = call(**kwargs)
        yield from page.get(items, [])
        if not page.get(token):
            return
        kwargs[sent] = page[token]


def served(target: Target) -> list[ServedStage]:
    """Every stage of every HTTP and REST API the server has, HTTP APIs first."""
    session = botocore.session.get_session()
    v2 = session.create_client("apigatewayv2", **target.client_args())
    v1 = session.create_client("apigateway", **target.client_args())
    out: list[ServedStage] = []
    for api in _pages(v2.get_apis, "Items", "NextToken", "NextToken"):
        for stage in _pages(v2.get_stages, "Items", "NextToken", "NextToken", ApiId=api["ApiId"]):
            out.append(ServedStage("HTTP", api["Name"], api["ApiId"], stage["StageName"]))
    for api in _pages(v1.get_rest_apis, "items", "position", "position"):
        for stage in v1.get_stages(restApiId=api["id"]).get("item", []):
            out.append(ServedStage("REST", api["name"], api["id"], stage["stageName"]))
    return out


def show(target: Target, out: TextIO = sys.stdout) -> int:
    """Print the server's APIs with both URLs of each stage; the exit status."""
    stages = served(target)
    if not stages:
        out.write("no APIs\n")
    for s in stages:
        by_host, by_path = urls(target.endpoint_url, s.api_id, s.stage)
        out.write(f"{s.kind} API {s.api_name} ({s.api_id}) stage {s.stage}\n  {by_host}\n  {by_path}\n")
    return 0
