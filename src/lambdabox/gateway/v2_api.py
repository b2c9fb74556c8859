"""The apigatewayv2 API for HTTP APIs: APIs (with quick create), routes, integrations, stages and
deployments, durable in the store, as async methods over boto3-shaped params.

Integrations are Lambda proxy integrations (`AWS_PROXY`, payload format 1.0 or 2.0) to a
function, version or alias ARN, given as the ARN itself or API Gateway's
`arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations`. A change to the
routes or integrations deploys to every AutoDeploy stage at once (a new deployment, as AWS makes);
other stages serve the deployment they name. Each change is committed (fsynced) before its answer.
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
from lambdabox.gateway.models import DEFAULT_STAGE, Authorizer, Deployment, HttpApi, Integration, Route, Stage
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
_IDENTITY_SOURCE = re.compile(
    r"\$(request\.(header|querystring)\.[A-Za-z0-9_.-]+|context\.[A-Za-z0-9_.]+|stageVariables\.[A-Za-z0-9_]+)"
)
_STAGE_NAME = re.compile(r"\$default|[a-zA-Z0-9_-]{1,128}")


def new_id(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


def with_stage_variables(uri: str, variables: dict[str, str]) -> str:
    """An integration URI with its `${stageVariables.name}` references filled in, as AWS does (a
    variable the stage lacks becomes empty)."""
    if "${" not in uri:
        return uri
    return _STAGE_VARIABLE.sub(lambda m: variables.get(m.group(1), ""), uri)


@functools.lru_cache(maxsize=4096)
def lambda_target(uri: str) -> str | None:
    """The function ARN an integration URI names, or None when it names no Lambda function."""
    m = _APIGW_LAMBDA.fullmatch(uri)
    arn = m.group("arn") if m else uri
    return arn if _LAMBDA_ARN.fullmatch(arn) else None


def _bad(message: str) -> ServiceError:
    return client_error("BadRequestException", message, 400)


def _not_found(message: str) -> ServiceError:
    return client_error("NotFoundException", message, 404)


def _conflict(message: str) -> ServiceError:
    return client_error("ConflictException", message, 409)


def _route_settings(given: Any) -> dict[str, Any]:
    """RouteSettings as stored: the members given (the model has checked their types)."""
    return {k: v for k, v in (given or {}).items() if v is not None}


def _page(items: list[Any], params: Params) -> Result:
    """One page of `items` (MaxResults of them, all by default) after NextToken."""
    start = 0
    if params.get("NextToken"):
        token = params["NextToken"]
        if not token.isdigit():
            raise _bad("Invalid pagination token")
        start = int(token)
    size = int(params["MaxResults"]) if params.get("MaxResults") else max(1, len(items))
    if size < 1:
        raise _bad("MaxResults must be at least 1")
    out: Result = {"Items": [i.to_api() for i in items[start : start + size]]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


class ApiGatewayV2Service:
    """HTTP APIs of every account and region of one server."""

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
            raise _not_found(f"Invalid API identifier specified {ctx.account_id}:{api_id}")
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
            raise _bad(
                "The provided route key is not formatted properly for HTTP protocol. Format should be "
                '"<HTTP METHOD> /<RESOURCE PATH>" or "$default"'
            )
        return key

    @staticmethod
    def _integration(integration_id: str, params: Params, old: Integration | None = None) -> Integration:
        itype = params.get("IntegrationType", old.integration_type if old else None)
        if itype in ("AWS", "HTTP", "MOCK"):
            raise _bad(
                "Currently, an API with a protocol type of HTTP may only be associated with proxy "
                "integrations (AWS_PROXY, HTTP_PROXY)"
            )
        if itype != "AWS_PROXY":
            raise _bad(f"lambdabox serves AWS_PROXY integrations to Lambda only, not {itype}")
        uri = params.get("IntegrationUri", old.integration_uri if old else None)
        # (stage variables are filled in per request: any name stands for them here)
        if not uri or lambda_target(_STAGE_VARIABLE.sub("x", uri)) is None:
            raise _bad(f"Invalid integration URI specified: {uri}" if uri else "IntegrationUri is required")
        version = params.get("PayloadFormatVersion", old.payload_format_version if old else None)
        if version is None:  # required for HTTP APIs: AWS defaults nothing
            raise _bad("PayloadFormatVersion is a required parameter for integration")
        if version not in ("1.0", "2.0"):
            raise _bad(f"Invalid payload format version specified: {version}")
        timeout = int(params.get("TimeoutInMillis", old.timeout_ms if old else 30_000))
        if not 50 <= timeout <= 30_000:
            raise _bad("Timeout must be between 50 milliseconds and 30 seconds.")
        return Integration(
            integration_id=integration_id,
            integration_type=itype,
            integration_uri=uri,
            payload_format_version=version,
            timeout_ms=timeout,
            integration_method=params.get("IntegrationMethod", old.integration_method if old else "POST"),
            description=params.get("Description", old.description if old else None),
        )

    def _check_target(self, api: HttpApi, target: str | None) -> None:
        if target is None:
            return
        m = re.fullmatch(r"integrations/([a-z0-9]+)", target)
        if m is None or m.group(1) not in api.integrations:
            raise _bad(f"Invalid target specified: {target}")

    # -- APIs ------------------------------------------------------------------------------
    async def CreateApi(self, ctx: RequestContext, params: Params) -> Result:
        if params["ProtocolType"] != "HTTP":
            raise _bad(f"lambdabox serves HTTP APIs only, not {params['ProtocolType']}")
        api = HttpApi(
            api_id=new_id(10),
            region=ctx.region,
            account=ctx.account_id,
            name=params["Name"],
            created=self._clock.now(),
            description=params.get("Description"),
            version=params.get("Version"),
            route_selection_expression=params.get(
                "RouteSelectionExpression", "$request.method $request.path"
            ),
            disable_execute_api_endpoint=bool(params.get("DisableExecuteApiEndpoint", False)),
            cors=params.get("CorsConfiguration"),
            tags=dict(params.get("Tags") or {}),
        )
        target = params.get("Target")
        if target is not None:  # quick create: a Lambda proxy integration, its route, $default stage
            integration = self._integration(
                new_id(7),
                {"IntegrationType": "AWS_PROXY", "IntegrationUri": target, "PayloadFormatVersion": "2.0"},
            )
            integration = dataclasses.replace(integration, managed=True)
            api.integrations[integration.integration_id] = integration
            key = self._route_key(params.get("RouteKey", "$default"))
            route = Route(new_id(7), key, target=f"integrations/{integration.integration_id}", managed=True)
            api.routes[route.route_id] = route
            now = self._clock.now()
            api.stages[DEFAULT_STAGE] = Stage(DEFAULT_STAGE, now, now, auto_deploy=True, managed=True)
            self._deploy(api, DEFAULT_STAGE, auto=True)
        elif params.get("RouteKey") is not None:
            raise _bad("RouteKey can only be specified together with Target")
        await self._commit(api)
        return api.to_api(self.endpoint(api.api_id))

    async def GetApi(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return api.to_api(self.endpoint(api.api_id))

    async def GetApis(self, ctx: RequestContext, params: Params) -> Result:
        mine = sorted(
            (a for a in self._apis.values() if a.account == ctx.account_id and a.region == ctx.region),
            key=lambda a: (a.created, a.api_id),
        )
        views = [_View(a.to_api(self.endpoint(a.api_id))) for a in mine]
        return _page(views, params)

    async def UpdateApi(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            for param, attr in (
                ("Name", "name"),
                ("Description", "description"),
                ("Version", "version"),
                ("RouteSelectionExpression", "route_selection_expression"),
                ("DisableExecuteApiEndpoint", "disable_execute_api_endpoint"),
                ("CorsConfiguration", "cors"),
            ):
                if param in params:
                    setattr(api, attr, params[param])
            await self._commit(api)
        return api.to_api(self.endpoint(api.api_id))

    async def DeleteApi(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            await self._store.write(sql.delete(api.api_id))
            self._apis.pop(api.api_id, None)
        return {}

    # -- routes ----------------------------------------------------------------------------
    def _route(self, ctx: RequestContext, api: HttpApi, route_id: str) -> Route:
        route = api.routes.get(route_id)
        if route is None:
            raise _not_found(f"Invalid Route identifier specified {ctx.account_id}:{api.api_id}:{route_id}")
        return route

    async def CreateRoute(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            key = self._route_key(params["RouteKey"])
            if any(r.route_key == key for r in api.routes.values()):
                raise _conflict(f"Route with key {key} already exists for this API")
            self._check_target(api, params.get("Target"))
            auth_type, authorizer_id = self._authorization(api, params)
            route = Route(
                new_id(7), key, target=params.get("Target"), authorization_type=auth_type,
                api_key_required=bool(params.get("ApiKeyRequired", False)),
                operation_name=params.get("OperationName"), authorizer_id=authorizer_id,
            )  # fmt: skip
            api.routes[route.route_id] = route
            await self._commit(api, redeploy=True)
        return route.to_api()

    async def GetRoute(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return self._route(ctx, api, params["RouteId"]).to_api()

    async def GetRoutes(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return _page(list(api.routes.values()), params)

    async def UpdateRoute(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            route = self._route(ctx, api, params["RouteId"])
            changes: dict[str, Any] = {}
            if "RouteKey" in params:
                key = self._route_key(params["RouteKey"])
                if any(r.route_key == key and r.route_id != route.route_id for r in api.routes.values()):
                    raise _conflict(f"Route with key {key} already exists for this API")
                changes["route_key"] = key
            if "Target" in params:
                self._check_target(api, params["Target"])
                changes["target"] = params["Target"]
            if "AuthorizationType" in params or "AuthorizerId" in params:
                merged = {
                    "AuthorizationType": params.get("AuthorizationType", route.authorization_type),
                    "AuthorizerId": params.get("AuthorizerId", route.authorizer_id),
                }
                changes["authorization_type"], changes["authorizer_id"] = self._authorization(api, merged)
            if "OperationName" in params:
                changes["operation_name"] = params["OperationName"]
            route = dataclasses.replace(route, **changes)
            api.routes[route.route_id] = route
            await self._commit(api, redeploy=True)
        return route.to_api()

    async def DeleteRoute(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            route = self._route(ctx, api, params["RouteId"])
            del api.routes[route.route_id]
            await self._commit(api, redeploy=True)
        return {}

    @staticmethod
    def _authorization(api: HttpApi, params: Params) -> tuple[str, str | None]:
        """A route's AuthorizationType and authorizer, checked: NONE, or CUSTOM with a Lambda
        authorizer of this API."""
        auth_type = params.get("AuthorizationType") or "NONE"
        if auth_type == "NONE":
            return "NONE", None
        if auth_type != "CUSTOM":
            raise _bad(f"lambdabox does not authorize routes with {auth_type} yet (NONE and CUSTOM only)")
        authorizer_id = params.get("AuthorizerId")
        if authorizer_id is None or authorizer_id not in api.authorizers:
            raise _bad(f"Invalid authorizer ID specified: {authorizer_id}")
        return auth_type, authorizer_id

    # -- authorizers -------------------------------------------------------------------------
    @staticmethod
    def _authorizer(authorizer_id: str, params: Params, old: Authorizer | None = None) -> Authorizer:
        kind = params.get("AuthorizerType", "REQUEST" if old else None)
        if kind != "REQUEST":
            raise _bad(f"lambdabox serves REQUEST (Lambda) authorizers only, not {kind}")
        uri = params.get("AuthorizerUri", old.authorizer_uri if old else None)
        if not uri or lambda_target(uri) is None:
            raise _bad(f"Invalid authorizer URI specified: {uri}" if uri else "AuthorizerUri is required")
        version = params.get("AuthorizerPayloadFormatVersion", old.payload_format_version if old else None)
        if version not in ("1.0", "2.0"):
            raise _bad("AuthorizerPayloadFormatVersion must be 1.0 or 2.0 for REQUEST authorizers")
        simple = bool(params.get("EnableSimpleResponses", old.simple_responses if old else False))
        if simple and version != "2.0":
            raise _bad("EnableSimpleResponses is only supported for AuthorizerPayloadFormatVersion 2.0")
        sources = tuple(params.get("IdentitySource", old.identity_source if old else ()) or ())
        ttl = int(params.get("AuthorizerResultTtlInSeconds", old.ttl if old else 0))
        if not 0 <= ttl <= 3600:
            raise _bad("AuthorizerResultTtlInSeconds must be between 0 and 3600")
        if ttl > 0 and not sources:
            raise _bad("IdentitySource is required when authorizer caching is enabled")
        for source in sources:
            if not _IDENTITY_SOURCE.fullmatch(source):
                raise _bad(f"Invalid identity source specified: {source}")
        return Authorizer(
            authorizer_id=authorizer_id, name=params.get("Name", old.name if old else ""), authorizer_uri=uri,
            payload_format_version=version, simple_responses=simple, identity_source=sources, ttl=ttl,
        )  # fmt: skip

    def _find_authorizer(self, ctx: RequestContext, api: HttpApi, authorizer_id: str) -> Authorizer:
        found = api.authorizers.get(authorizer_id)
        if found is None:
            raise _not_found(
                f"Invalid Authorizer identifier specified {ctx.account_id}:{api.api_id}:{authorizer_id}"
            )
        return found

    async def CreateAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            authorizer = self._authorizer(new_id(6), params)
            api.authorizers[authorizer.authorizer_id] = authorizer
            await self._commit(api)
        return authorizer.to_api()

    async def GetAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return self._find_authorizer(ctx, api, params["AuthorizerId"]).to_api()

    async def GetAuthorizers(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return _page(list(api.authorizers.values()), params)

    async def UpdateAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            old = self._find_authorizer(ctx, api, params["AuthorizerId"])
            authorizer = self._authorizer(old.authorizer_id, params, old)
            api.authorizers[authorizer.authorizer_id] = authorizer
            await self._commit(api)
        return authorizer.to_api()

    async def DeleteAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            authorizer = self._find_authorizer(ctx, api, params["AuthorizerId"])
            if any(r.authorizer_id == authorizer.authorizer_id for r in api.routes.values()):
                raise _conflict(
                    f"Authorizer {authorizer.authorizer_id} is in use by a route and cannot be deleted"
                )
            del api.authorizers[authorizer.authorizer_id]
            await self._commit(api)
        return {}

    # -- integrations ------------------------------------------------------------------------
    def _find_integration(self, ctx: RequestContext, api: HttpApi, integration_id: str) -> Integration:
        found = api.integrations.get(integration_id)
        if found is None:
            raise _not_found(
                f"Invalid Integration identifier specified {ctx.account_id}:{api.api_id}:{integration_id}"
            )
        return found

    async def CreateIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            integration = self._integration(new_id(7), params)
            api.integrations[integration.integration_id] = integration
            await self._commit(api, redeploy=True)
        return integration.to_api()

    async def GetIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return self._find_integration(ctx, api, params["IntegrationId"]).to_api()

    async def GetIntegrations(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return _page(list(api.integrations.values()), params)

    async def UpdateIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            old = self._find_integration(ctx, api, params["IntegrationId"])
            integration = self._integration(old.integration_id, params, old)
            api.integrations[integration.integration_id] = integration
            await self._commit(api, redeploy=True)
        return integration.to_api()

    async def DeleteIntegration(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            integration = self._find_integration(ctx, api, params["IntegrationId"])
            target = f"integrations/{integration.integration_id}"
            if any(r.target == target for r in api.routes.values()):
                raise _conflict(
                    f"Integration {integration.integration_id} is in use by a route and cannot be deleted"
                )
            del api.integrations[integration.integration_id]
            await self._commit(api, redeploy=True)
        return {}

    # -- stages and deployments ----------------------------------------------------------------
    def _stage(self, ctx: RequestContext, api: HttpApi, name: str) -> Stage:
        stage = api.stages.get(name)
        if stage is None:
            raise _not_found("Invalid stage identifier specified")
        return stage

    @staticmethod
    def _route_settings_map(api: HttpApi, given: Any) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for key, settings in (given or {}).items():
            if not any(r.route_key == key for r in api.routes.values()):
                raise _not_found(f"Unable to find Route by key {key} within the provided RouteSettings")
            out[key] = _route_settings(settings)
        return out

    def _check_deployment(self, api: HttpApi, deployment_id: str | None) -> None:
        if deployment_id is not None and deployment_id not in api.deployments:
            raise _bad(f"Invalid deployment identifier specified {deployment_id}")

    async def CreateStage(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            name = params["StageName"]
            if not _STAGE_NAME.fullmatch(name):
                raise _bad(f"Invalid stage name specified: {name}")
            if name in api.stages:
                raise _conflict(f"Stage {name} already exists")
            self._check_deployment(api, params.get("DeploymentId"))
            now = self._clock.now()
            api.stages[name] = Stage(
                name, now, now, auto_deploy=bool(params.get("AutoDeploy", False)),
                deployment_id=params.get("DeploymentId"), description=params.get("Description"),
                variables=dict(params.get("StageVariables") or {}), tags=dict(params.get("Tags") or {}),
                default_route_settings=_route_settings(params.get("DefaultRouteSettings")),
                route_settings=self._route_settings_map(api, params.get("RouteSettings")),
            )  # fmt: skip
            if api.stages[name].auto_deploy:
                self._deploy(api, name, auto=True)
            await self._commit(api)
        return api.stages[name].to_api()

    async def GetStage(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return self._stage(ctx, api, params["StageName"]).to_api()

    async def GetStages(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return _page(list(api.stages.values()), params)

    async def UpdateStage(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            stage = self._stage(ctx, api, params["StageName"])
            self._check_deployment(api, params.get("DeploymentId"))
            changes: dict[str, Any] = {"updated": self._clock.now()}
            for param, attr in (
                ("AutoDeploy", "auto_deploy"),
                ("DeploymentId", "deployment_id"),
                ("Description", "description"),
            ):
                if param in params:
                    changes[attr] = params[param]
            if "StageVariables" in params:
                changes["variables"] = dict(params["StageVariables"] or {})
            if "DefaultRouteSettings" in params:
                changes["default_route_settings"] = _route_settings(params["DefaultRouteSettings"])
            if "RouteSettings" in params:
                changes["route_settings"] = self._route_settings_map(api, params["RouteSettings"])
            stage = dataclasses.replace(stage, **changes)
            api.stages[stage.name] = stage
            if stage.auto_deploy and not params.get("DeploymentId"):
                self._deploy(api, stage.name, auto=True)
            await self._commit(api)
        return api.stages[stage.name].to_api()

    async def DeleteStage(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            stage = self._stage(ctx, api, params["StageName"])
            del api.stages[stage.name]
            await self._commit(api)
        return {}

    async def CreateDeployment(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            name = params.get("StageName")
            if name is not None:
                stage = api.stages.get(name)
                if stage is None:
                    raise _bad(
                        f"Stage {name} does not exist. StageName specified on a CreateDeployment request must "
                        "exist so the stage can be updated with the new deployment."
                    )
                if stage.auto_deploy:
                    raise _bad(
                        f"Stage {name} is configured for auto deploy; a deployment cannot be made to it"
                    )
            deployment = self._deploy(api, name, auto=False, description=params.get("Description"))
            await self._commit(api)
        return deployment.to_api()

    async def GetDeployment(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        deployment = api.deployments.get(params["DeploymentId"])
        if deployment is None:
            raise _not_found(
                f"Invalid Deployment identifier specified {ctx.account_id}:{api.api_id}:{params['DeploymentId']}"
            )
        return deployment.to_api()

    async def GetDeployments(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return _page(sorted(api.deployments.values(), key=lambda d: d.created), params)


@dataclasses.dataclass(frozen=True)
class _View:
    """An already rendered item, for `_page`."""

    rendered: Result

    def to_api(self) -> Result:
        return self.rendered


#: what the data plane reads of the control plane
ApiLookup = Callable[[str], HttpApi | None]
