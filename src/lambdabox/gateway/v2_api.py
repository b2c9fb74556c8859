"""The apigatewayv2 API for HTTP APIs: APIs (with quick create), routes, integrations, authorizers,
stages and deployments, durable in the store, as async methods over boto3-shaped params.

This module holds the APIs and routes; the other groups of operations are mixins of their own
modules (v2_integrations, v2_authorizers, v2_stages, v2_tags, v2_import) over the shared state of
v2_base.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.gateway import store as sql
from lambdabox.gateway import tag_arns
from lambdabox.gateway.models import DEFAULT_STAGE, HttpApi, Route, Stage
from lambdabox.gateway.v2_authorizers import AuthorizersMixin
from lambdabox.gateway.v2_base import (
    ApiLookup,
    Params,
    Result,
    View,
    bad,
    conflict,
    lambda_target,
    new_id,
    not_found,
    page,
    with_stage_variables,
)
from lambdabox.gateway.v2_import import ImportMixin
from lambdabox.gateway.v2_integrations import IntegrationsMixin
from lambdabox.gateway.v2_stages import StagesMixin
from lambdabox.gateway.v2_tags import TagsMixin

__all__ = ["ApiGatewayV2Service", "ApiLookup", "lambda_target", "with_stage_variables"]


class ApiGatewayV2Service(ImportMixin, AuthorizersMixin, IntegrationsMixin, StagesMixin, TagsMixin):
    """HTTP APIs of every account and region of one server."""

    # -- APIs ------------------------------------------------------------------------------
    async def CreateApi(self, ctx: RequestContext, params: Params) -> Result:
        if params["ProtocolType"] != "HTTP":
            raise bad(f"lambdabox serves HTTP APIs only, not {params['ProtocolType']}")
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
            tags=tag_arns.checked(params.get("Tags")),
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
            raise bad("RouteKey can only be specified together with Target")
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
        views = [View(a.to_api(self.endpoint(a.api_id))) for a in mine]
        return page(views, params)

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
            raise not_found(f"Invalid Route identifier specified {ctx.account_id}:{api.api_id}:{route_id}")
        return route

    async def CreateRoute(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            key = self._route_key(params["RouteKey"])
            if any(r.route_key == key for r in api.routes.values()):
                raise conflict(f"Route with key {key} already exists for this API")
            self._check_target(api, params.get("Target"))
            auth_type, authorizer_id, scopes = self._authorization(api, params)
            route = Route(
                new_id(7), key, target=params.get("Target"), authorization_type=auth_type,
                api_key_required=bool(params.get("ApiKeyRequired", False)),
                operation_name=params.get("OperationName"), authorizer_id=authorizer_id,
                authorization_scopes=scopes,
            )  # fmt: skip
            api.routes[route.route_id] = route
            await self._commit(api, redeploy=True)
        return route.to_api()

    async def GetRoute(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return self._route(ctx, api, params["RouteId"]).to_api()

    async def GetRoutes(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return page(list(api.routes.values()), params)

    async def UpdateRoute(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            route = self._route(ctx, api, params["RouteId"])
            changes: dict[str, Any] = {}
            if "RouteKey" in params:
                key = self._route_key(params["RouteKey"])
                if any(r.route_key == key and r.route_id != route.route_id for r in api.routes.values()):
                    raise conflict(f"Route with key {key} already exists for this API")
                changes["route_key"] = key
            if "Target" in params:
                self._check_target(api, params["Target"])
                changes["target"] = params["Target"]
            if {"AuthorizationType", "AuthorizerId", "AuthorizationScopes"} & params.keys():
                merged = {
                    "AuthorizationType": params.get("AuthorizationType", route.authorization_type),
                    "AuthorizerId": params.get("AuthorizerId", route.authorizer_id),
                    "AuthorizationScopes": params.get("AuthorizationScopes", route.authorization_scopes),
                }
                if merged["AuthorizationType"] != "JWT" and "AuthorizationScopes" not in params:
                    merged["AuthorizationScopes"] = ()  # scopes belong to JWT routes
                checked = self._authorization(api, merged)
                changes["authorization_type"], changes["authorizer_id"], changes["authorization_scopes"] = (
                    checked
                )
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
