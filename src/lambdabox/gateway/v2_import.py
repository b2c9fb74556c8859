"""The apigatewayv2 ImportApi and ReimportApi operations: an HTTP API from an OpenAPI 3.0 definition
(what CloudFormation's AWS::ApiGatewayV2::Api `Body` and SAM's AWS::Serverless::HttpApi become).

`openapi_v2` reads the document into plain route, integration and authorizer descriptions; they
are checked here by the same helpers CreateRoute, CreateIntegration and CreateAuthorizer use, all
before anything changes: an import that fails leaves nothing behind, a reimport that fails leaves
the API as it was (https://docs.aws.amazon.com/apigateway/latest/developerguide/
api-gateway-import-api-errors-warnings.html). Warnings come back in the response's `Warnings`;
with `FailOnWarnings` they are a BadRequestException instead.

ReimportApi replaces the API's routes, integrations and authorizers with the definition's and takes
its name, version, description and CORS configuration; the API keeps its id, stages and tags (the
definition's tags are added). Routes and authorizers keep their ids where the definition keeps
their route key or scheme name. AutoDeploy stages deploy the new definition at once.
"""

from __future__ import annotations

import dataclasses

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
from lambdabox.gateway import openapi_v2
from lambdabox.gateway.models import HttpApi, Route
from lambdabox.gateway.openapi_doc import OpenApiError
from lambdabox.gateway.v2_authorizers import AuthorizersMixin
from lambdabox.gateway.v2_base import Params, Result, bad, new_id
from lambdabox.gateway.v2_integrations import IntegrationsMixin


class ImportMixin(AuthorizersMixin, IntegrationsMixin):
    """ImportApi and ReimportApi."""

    @staticmethod
    def _definition(params: Params) -> openapi_v2.ApiSpec:
        try:
            spec = openapi_v2.read(params["Body"], params.get("Basepath"))
        except OpenApiError as exc:
            raise bad(exc.message) from None
        if params.get("FailOnWarnings") and spec.warnings:
            raise bad("Warnings found during import:\n\t" + "\n\t".join(spec.warnings))
        return spec

    def _install(self, api: HttpApi, spec: openapi_v2.ApiSpec, old: HttpApi | None) -> None:
        """The definition's authorizers, integrations and routes into `api` (which has none),
        checked as their Create operations check them."""
        kept_authorizers = {a.name: a.authorizer_id for a in (old.authorizers.values() if old else ())}
        authorizer_ids: dict[str, str] = {}
        for name, given in spec.authorizers.items():
            authorizer_id = kept_authorizers.get(name) or new_id(6)
            try:
                api.authorizers[authorizer_id] = self._authorizer(authorizer_id, given)
            except ServiceError as exc:
                raise bad(f"Unable to create authorizer {name}: {exc.message}") from None
            authorizer_ids[name] = authorizer_id
        integration_ids: dict[str, str] = {}
        for key, given in spec.integrations.items():
            integration_id = new_id(7)
            try:
                api.integrations[integration_id] = self._integration(integration_id, given)
            except ServiceError as exc:
                users = ", ".join(r.route_key for r in spec.routes if r.integration == key)
                raise bad(f"Unable to create integration for route {users}: {exc.message}") from None
            integration_ids[key] = integration_id
        kept_routes = {r.route_key: r.route_id for r in (old.routes.values() if old else ())}
        for given_route in spec.routes:
            try:
                route_key = self._route_key(given_route.route_key)
                auth_type, route_authorizer, scopes = self._authorization(
                    api,
                    {
                        "AuthorizationType": given_route.authorization_type,
                        "AuthorizerId": authorizer_ids.get(given_route.authorizer or ""),
                        "AuthorizationScopes": list(given_route.scopes),
                    },
                )
            except ServiceError as exc:
                raise bad(f"Unable to create route {given_route.route_key}: {exc.message}") from None
            route_id = kept_routes.get(route_key) or new_id(7)
            target = integration_ids.get(given_route.integration or "")
            api.routes[route_id] = Route(
                route_id, route_key, target=f"integrations/{target}" if target else None,
                authorization_type=auth_type, operation_name=given_route.operation_name,
                authorizer_id=route_authorizer, authorization_scopes=scopes,
            )  # fmt: skip

    def _imported(self, api: HttpApi, spec: openapi_v2.ApiSpec) -> Result:
        out = api.to_api(self.endpoint(api.api_id))
        if spec.warnings:
            out["Warnings"] = list(spec.warnings)
        return out

    async def ImportApi(self, ctx: RequestContext, params: Params) -> Result:
        spec = self._definition(params)
        api = HttpApi(
            api_id=new_id(10), region=ctx.region, account=ctx.account_id, name=spec.name,
            created=self._clock.now(), description=spec.description, version=spec.version,
            cors=spec.cors, tags=dict(spec.tags),
            disable_execute_api_endpoint=bool(spec.disable_execute_api_endpoint),
        )  # fmt: skip
        self._install(api, spec, None)
        await self._commit(api)
        return self._imported(api, spec)

    async def ReimportApi(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        spec = self._definition(params)
        async with self._lock(api.api_id):
            api = self._get(ctx, params["ApiId"])
            new = dataclasses.replace(
                api, name=spec.name, description=spec.description, version=spec.version, cors=spec.cors,
                tags={**api.tags, **spec.tags}, routes={}, integrations={}, authorizers={},
                stages=dict(api.stages), deployments=dict(api.deployments),
            )  # fmt: skip
            if spec.disable_execute_api_endpoint is not None:
                new.disable_execute_api_endpoint = spec.disable_execute_api_endpoint
            self._install(new, spec, api)
            await self._commit(new, redeploy=True)
        return self._imported(new, spec)
