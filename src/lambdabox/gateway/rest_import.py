"""The apigateway (v1) ImportRestApi and PutRestApi operations: a REST API from a Swagger 2.0 or
OpenAPI 3.0 definition (what CloudFormation's AWS::ApiGateway::RestApi `Body` and SAM's
AWS::Serverless::Api become).

`openapi_rest` reads the document into plain resource, method and authorizer descriptions; they are
checked here by the helpers CreateResource, PutMethod, PutIntegration and CreateAuthorizer use, all
before anything changes: a failed import leaves nothing behind, a failed PutRestApi leaves the API as
it was. Failures are reported together, as AWS words them ("Errors found during import:" then one
line per failure, "Unable to put integration on 'GET' for resource at path '/': …", quoted from AWS
in https://github.com/ustayready/fireprox/issues/37); warnings come back in the RestApi's `warnings`,
or with `failonwarnings` as a BadRequestException
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-import-api-errors-warnings.html).

PutRestApi's modes (https://docs.aws.amazon.com/apigateway/latest/developerguide/
api-gateway-import-api-update.html): `merge` (the default) puts the definition's methods over the
API's and leaves the rest alone; `overwrite` makes the API the definition: resources, methods and
authorizers it does not define are deleted. Either keeps the API's stages, deployments, endpoint
configuration and API keys; a stage serves the change only after a new deployment. Resources and
authorizers keep their ids where the definition keeps their path or name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError
from lambdabox.gateway import openapi_rest
from lambdabox.gateway.openapi_doc import OpenApiError
from lambdabox.gateway.rest_api import _ENDPOINT_TYPES, Params, Result, bad
from lambdabox.gateway.rest_models import RestApi, RestMethod, RestResource
from lambdabox.gateway.rest_resources import ResourceOps
from lambdabox.gateway.rest_stages import StageOps
from lambdabox.gateway.v2_base import new_id


class ImportOps(ResourceOps, StageOps):
    """ImportRestApi and PutRestApi."""

    @staticmethod
    def _rest_definition(params: Params) -> openapi_rest.RestApiSpec:
        extra: dict[str, Any] = params.get("parameters") or {}
        try:
            spec = openapi_rest.read(params["body"], extra.get("basepath"))
        except OpenApiError as exc:
            raise bad(exc.message) from None
        if params.get("failOnWarnings") and spec.warnings:
            raise bad("Warnings found during import:\n\t" + "\n\t".join(spec.warnings))
        return spec

    @staticmethod
    def _settings(api: RestApi, spec: openapi_rest.RestApiSpec, *, merge: bool) -> None:
        api.name = spec.name
        for attr in ("description", "version", "minimum_compression_size", "policy"):
            value = getattr(spec, attr)
            if value is not None or not merge:
                setattr(api, attr, value)
        media = list(api.binary_media_types) if merge else []
        api.binary_media_types = list(dict.fromkeys([*media, *spec.binary_media_types]))
        if spec.api_key_source is not None:
            if spec.api_key_source not in ("HEADER", "AUTHORIZER"):
                raise bad(f"Invalid apiKeySource specified: {spec.api_key_source}")
            api.api_key_source = spec.api_key_source
        elif not merge:
            api.api_key_source = "HEADER"
        if spec.disable_execute_api_endpoint is not None:
            api.disable_execute_api_endpoint = spec.disable_execute_api_endpoint

    def _apply(self, api: RestApi, spec: openapi_rest.RestApiSpec, *, overwrite: bool) -> None:
        """The definition's authorizers, resources and methods into `api`, checked; every failure
        is reported in one BadRequestException."""
        errors: list[str] = []
        by_name = {a.name: a.authorizer_id for a in api.authorizers.values()}
        if overwrite:
            api.authorizers = {}
        authorizer_ids: dict[str, str] = {}
        for name, params in spec.authorizers.items():
            authorizer_id = by_name.get(name) or new_id(6)
            try:
                api.authorizers[authorizer_id] = self._authorizer(authorizer_id, params)
                authorizer_ids[name] = authorizer_id
            except ServiceError as exc:
                errors.append(f"Unable to create authorizer '{name}': {exc.message}")
        wanted = set(spec.paths) | {"/"}
        if overwrite:  # what the definition does not hold goes; what it holds is put anew
            api.resources = {
                r.resource_id: dataclasses.replace(r, methods={})
                for r in api.resources.values()
                if r.path in wanted
            }
        by_path = {r.path: r.resource_id for r in api.resources.values()}
        for path in spec.paths:
            parent_path, _, part = path.rpartition("/")
            parent = by_path.get(parent_path or "/")
            if path in by_path or parent is None:  # (a parent that failed has been reported)
                continue
            try:
                resource = self._new_resource(api, api.resources[parent], part)
            except ServiceError as exc:
                errors.append(f"Unable to create resource at path '{path}': {exc.message}")
                continue
            api.resources[resource.resource_id] = resource
            by_path[path] = resource.resource_id
        for given in spec.methods:
            resource_id = by_path.get(given.path)
            if resource_id is None:
                continue
            method = self._imported_method(api, api.resources[resource_id], given, authorizer_ids, errors)
            if method is not None:
                self._with_method(api, api.resources[resource_id], method, method.http_method)
        if errors:
            raise bad("Errors found during import:\n\t" + "\n\t".join(errors))

    def _imported_method(
        self,
        api: RestApi,
        resource: RestResource,
        given: openapi_rest.MethodSpec,
        authorizer_ids: dict[str, str],
        errors: list[str],
    ) -> RestMethod | None:
        name, path = given.http_method, given.path
        try:
            kind, authorizer_id = self._authorization(
                api, given.authorization_type, authorizer_ids.get(given.authorizer or "")
            )
            responses = {self._status({"statusCode": s}): r for s, r in given.method_responses.items()}
        except ServiceError as exc:
            errors.append(f"Unable to put method '{name}' on resource at path '{path}': {exc.message}")
            return None
        method = RestMethod(
            http_method=name, authorization_type=kind, authorizer_id=authorizer_id,
            api_key_required=given.api_key_required, operation_name=given.operation_name,
            request_parameters=dict(given.request_parameters), responses=responses,
        )  # fmt: skip
        if given.integration is None:
            return method
        try:
            integration = self._integration(given.integration, None)
            integration = dataclasses.replace(
                integration,
                cache_namespace=integration.cache_namespace or resource.resource_id,
                responses={
                    self._status({"statusCode": s}): r for s, r in given.integration_responses.items()
                },
            )
        except ServiceError as exc:
            errors.append(
                f"Unable to put integration on '{name}' for resource at path '{path}': {exc.message}"
            )
            return None
        return dataclasses.replace(method, integration=integration)

    @staticmethod
    def _imported_api(api: RestApi, spec: openapi_rest.RestApiSpec) -> Result:
        out = api.to_api()
        if spec.warnings:
            out["warnings"] = list(spec.warnings)
        return out

    async def ImportRestApi(self, ctx: RequestContext, params: Params) -> Result:
        spec = self._rest_definition(params)
        given = (params.get("parameters") or {}).get("endpointConfigurationTypes")
        types = [given] if given else ["EDGE"]
        if types[0] not in _ENDPOINT_TYPES:
            raise bad(f"Invalid endpoint configuration types specified: {types}")
        root_id = new_id(10)
        api = RestApi(
            api_id=self._new_api_id(), region=ctx.region, account=ctx.account_id, name=spec.name,
            created=self._clock.now(), root_id=root_id, endpoint_types=types,
            resources={root_id: RestResource(root_id, None, None, "/")},
        )  # fmt: skip
        self._settings(api, spec, merge=False)
        self._apply(api, spec, overwrite=True)
        await self._commit(api)
        return self._imported_api(api, spec)

    async def PutRestApi(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        spec = self._rest_definition(params)
        merge = (params.get("mode") or "merge") == "merge"
        async with self._lock(api.api_id):
            api = self._get(ctx, params["restApiId"])
            new = dataclasses.replace(
                api, resources=dict(api.resources), authorizers=dict(api.authorizers),
                binary_media_types=list(api.binary_media_types), stages=dict(api.stages),
                deployments=dict(api.deployments), tags=dict(api.tags),
            )  # fmt: skip
            self._settings(new, spec, merge=merge)
            self._apply(new, spec, overwrite=not merge)
            await self._commit(new)
        return self._imported_api(new, spec)
