"""What the apigatewayv2 operations share: the service's state (APIs by id, a lock per API, the
store and clock), looking an API up for its caller, committing and deploying, paging, AWS's error
answers, and reading integration URIs.

A change to the routes or integrations deploys to every AutoDeploy stage at once (a new
deployment, as AWS makes); each change is committed (fsynced) before its answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
import secrets
import string
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.clock import Clock
from lambdabox.gateway import store as sql
from lambdabox.gateway.models import Deployment, HttpApi
from lambdabox.gateway.routing import route_key_error
from lambdabox.store.db import Store

Params = dict[str, Any]
Result = dict[str, Any]
_ALPHABET = string.ascii_lowercase + string.digits
_APIGW_LAMBDA = re.compile(
    r"arn:aws[a-zA-Z-]*:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/(?P<arn>[^/]+)/invocations"
)
_LAMBDA_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9_-]+(:[a-zA-Z0-9_$-]+)?"
)
IDENTITY_SOURCE = re.compile(
    r"\$(request\.(header|querystring)\.[A-Za-z0-9_.-]+|context\.[A-Za-z0-9_.]+|stageVariables\.[A-Za-z0-9_]+)"
)
STAGE_NAME = re.compile(r"\$default|[a-zA-Z0-9_-]{1,128}")


def new_id(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]+")
# the API reference's pattern for values ([A-Za-z0-9-._~:/?#&=,]+), and the space AWS's message allows
_VARIABLE_VALUE = re.compile(r"[A-Za-z0-9\-._~:/?#&=, ]+")


def stage_variables(given: object) -> dict[str, str]:
    """Stage variables as given, or BadRequestException in API Gateway's words for a name or value
    it does not take (both API types answer so)."""
    out: dict[str, str] = dict(given) if isinstance(given, dict) else {}
    for name, value in out.items():
        if not _VARIABLE_NAME.fullmatch(name):
            raise bad(f"Invalid stage variable name: {name}.  Please use names with only word characters.")
        if not isinstance(value, str) or not _VARIABLE_VALUE.fullmatch(value):
            raise bad(
                f"Invalid stage variable value: {value}.  Please use values with alphanumeric characters "
                "and the symbols ' ', -', '.', '_', ':', '/', '?', '&', '=', and ','."
            )
    return out


def with_stage_variables(uri: str, variables: dict[str, str]) -> str:
    """An integration URI with its `${stageVariables.name}` references filled in, as AWS does (a
    variable the stage lacks becomes empty)."""
    if "${" not in uri:
        return uri
    return STAGE_VARIABLE.sub(lambda m: variables.get(m.group(1), ""), uri)


@functools.lru_cache(maxsize=4096)
def lambda_target(uri: str) -> str | None:
    """The function ARN an integration URI names, or None when it names no Lambda function."""
    m = _APIGW_LAMBDA.fullmatch(uri)
    arn = m.group("arn") if m else uri
    return arn if _LAMBDA_ARN.fullmatch(arn) else None


def bad(message: str) -> ServiceError:
    return client_error("BadRequestException", message, 400)


def not_found(message: str) -> ServiceError:
    return client_error("NotFoundException", message, 404)


def conflict(message: str) -> ServiceError:
    return client_error("ConflictException", message, 409)


def route_settings(given: Any) -> dict[str, Any]:
    """RouteSettings as stored: the members given (the model has checked their types)."""
    return {k: v for k, v in (given or {}).items() if v is not None}


def page(items: list[Any], params: Params) -> Result:
    """One page of `items` (MaxResults of them, all by default) after NextToken."""
    start = 0
    if params.get("NextToken"):
        token = params["NextToken"]
        if not token.isdigit():
            raise bad("Invalid pagination token")
        start = int(token)
    size = int(params["MaxResults"]) if params.get("MaxResults") else max(1, len(items))
    if size < 1:
        raise bad("MaxResults must be at least 1")
    out: Result = {"Items": [i.to_api() for i in items[start : start + size]]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


@dataclasses.dataclass(frozen=True)
class View:
    """An already rendered item, for `_page`."""

    rendered: Result

    def to_api(self) -> Result:
        return self.rendered


#: what the data plane reads of the control plane
ApiLookup = Callable[[str], HttpApi | None]


class V2Base:
    """The state and helpers every group of operations uses."""

    def __init__(self, store: Store, clock: Clock, endpoint_url: str) -> None:
        self._store = store
        self._clock = clock
        port = urlsplit(endpoint_url).port
        self._host_suffix = f".execute-api.localhost{f':{port}' if port else ''}"
        self._apis: dict[str, HttpApi] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def load(self) -> None:
        for api in await self._store.read(sql.load_all):
            self._apis[api.api_id] = api

    # -- for the data plane ---------------------------------------------------------------
    def api(self, api_id: str) -> HttpApi | None:
        return self._apis.get(api_id)

    def endpoint(self, api_id: str) -> str:
        """Where an API is served (`http://<id>.execute-api.localhost:<port>`)."""
        return f"http://{api_id}{self._host_suffix}"

    # -- helpers ----------------------------------------------------------------------------
    def _get(self, ctx: RequestContext, api_id: str) -> HttpApi:
        api = self._apis.get(api_id)
        if api is None or api.account != ctx.account_id or api.region != ctx.region:
            raise not_found(f"Invalid API identifier specified {ctx.account_id}:{api_id}")
        return api

    def _lock(self, api_id: str) -> asyncio.Lock:
        lock = self._locks.get(api_id)
        if lock is None:
            lock = self._locks[api_id] = asyncio.Lock()
        return lock

    async def _commit(self, api: HttpApi, *, redeploy: bool = False) -> None:
        """Store the API; after a change of routes or integrations, deploy to AutoDeploy stages."""
        if redeploy:
            for stage in [s for s in api.stages.values() if s.auto_deploy]:
                self._deploy(api, stage.name, auto=True)
        # An automatic deployment no stage serves any more is history nobody asked for: kept, every
        # change of an auto-deployed API would add a copy of all its routes to the API's row.
        serving = {s.deployment_id for s in api.stages.values()}
        for dep_id in [k for k, d in api.deployments.items() if d.auto_deployed and k not in serving]:
            del api.deployments[dep_id]
        await self._store.write(sql.put(api))
        self._apis[api.api_id] = api

    def _deploy(
        self, api: HttpApi, stage_name: str | None, *, auto: bool, description: str | None = None
    ) -> Deployment:
        now = self._clock.now()
        deployment = Deployment(
            deployment_id=new_id(6),
            created=now,
            routes=tuple(api.routes.values()),
            integrations=tuple(api.integrations.values()),
            auto_deployed=auto,
            description=description,
        )
        api.deployments[deployment.deployment_id] = deployment
        if stage_name is not None:
            stage = api.stages[stage_name]
            api.stages[stage_name] = dataclasses.replace(
                stage, deployment_id=deployment.deployment_id, updated=now
            )
        return deployment

    @staticmethod
    def _route_key(key: str) -> str:
        if route_key_error(key) is not None:
            raise bad(
                "The provided route key is not formatted properly for HTTP protocol. Format should be "
                '"<HTTP METHOD> /<RESOURCE PATH>" or "$default"'
            )
        return key
