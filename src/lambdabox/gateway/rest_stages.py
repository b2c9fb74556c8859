"""The apigateway (v1) operations on deployments, stages and Lambda authorizers of REST APIs.

A deployment snapshots the resource tree (methods, integrations) and the authorizers; it needs at
least one method and an integration on every method, as AWS refuses otherwise. CreateDeployment
with a `stageName` creates that stage or points it at the new deployment. A stage's
`methodSettings` are changed by patch operations such as `/*/*/throttling/rateLimit` (all
methods) or `/~1pets/GET/throttling/burstLimit` (one), as AWS's UpdateStage takes them
(https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateStage.html, patch-operations.html).
Authorizers are Lambda TOKEN or REQUEST authorizers; their results are cached 300 s by default
(https://docs.aws.amazon.com/apigateway/latest/api/API_CreateAuthorizer.html).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.gateway import rest_patch, tag_arns
from lambdabox.gateway.rest_api import Params, RestApiCore, Result, bad, conflict, not_found, page
from lambdabox.gateway.rest_models import RestApi, RestAuthorizer, RestDeployment, RestStage
from lambdabox.gateway.v2_api import lambda_target
from lambdabox.gateway.v2_base import new_id, stage_variables

_STAGE_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_IDENTITY_SOURCE = re.compile(
    r"method\.request\.(header|querystring|multivalueheader|multivaluequerystring)\.[^\s,]+"
    r"|stageVariables\.[A-Za-z0-9_]+|context\.[A-Za-z0-9_.]+"
)
_LAMBDA_URI = re.compile(
    r"arn:aws[a-zA-Z-]*:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/(.+)/invocations"
)
#: patch path tail -> MethodSetting member, as UpdateStage names them
_SETTINGS = {
    ("throttling", "rateLimit"): "throttlingRateLimit",
    ("throttling", "burstLimit"): "throttlingBurstLimit",
    ("metrics", "enabled"): "metricsEnabled",
    ("logging", "loglevel"): "loggingLevel",
    ("logging", "dataTrace"): "dataTraceEnabled",
    ("caching", "enabled"): "cachingEnabled",
    ("caching", "ttlInSeconds"): "cacheTtlInSeconds",
    ("caching", "dataEncrypted"): "cacheDataEncrypted",
    ("caching", "requireAuthorizationForCacheControl"): "requireAuthorizationForCacheControl",
    ("caching", "unauthorizedCacheControlHeaderStrategy"): "unauthorizedCacheControlHeaderStrategy",
}
_NUMBERS = {"throttlingRateLimit": float, "throttlingBurstLimit": int, "cacheTtlInSeconds": int}


class StageOps(RestApiCore):
    """Deployments, stages and authorizers."""

    # -- deployments ----------------------------------------------------------------------------
    @staticmethod
    def _deployment(api: RestApi, deployment_id: str) -> RestDeployment:
        found = api.deployments.get(deployment_id)
        if found is None:
            raise not_found("Invalid Deployment identifier specified")
        return found

    async def CreateDeployment(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            methods = [m for r in api.resources.values() for m in r.methods.values()]
            if not methods:
                raise bad("The REST API doesn't contain any methods")
            if any(m.integration is None for m in methods):
                raise bad("No integration defined for method")
            name = params.get("stageName")
            if name is not None and not _STAGE_NAME.fullmatch(name):
                raise bad("Stage name only allows a-zA-Z0-9_-")
            now = self._clock.now()
            deployment = RestDeployment(
                deployment_id=self._new_child_id(api.deployments.__contains__),
                created=now,
                description=params.get("description"),
                resources=tuple(api.resources.values()),
                authorizers=tuple(api.authorizers.values()),
            )
            api.deployments[deployment.deployment_id] = deployment
            if name is not None:
                old = api.stages.get(name)
                variables = {**(old.variables if old else {}), **stage_variables(params.get("variables"))}
                if old is None:
                    stage = RestStage(
                        name, deployment.deployment_id, now, now, description=params.get("stageDescription"),
                        variables=variables, tracing_enabled=bool(params.get("tracingEnabled", False)),
                    )  # fmt: skip
                else:
                    stage = dataclasses.replace(
                        old, deployment_id=deployment.deployment_id, updated=now, variables=variables
                    )
                api.stages[name] = stage
            await self._commit(api)
        return deployment.to_api()

    async def GetDeployment(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        summary = "apisummary" in (params.get("embed") or [])
        return self._deployment(api, params["deploymentId"]).to_api(summary)

    async def GetDeployments(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        ordered = sorted(api.deployments.values(), key=lambda d: (d.created, d.deployment_id))
        return page([d.to_api() for d in ordered], params)

    async def DeleteDeployment(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            deployment = self._deployment(api, params["deploymentId"])
            if any(s.deployment_id == deployment.deployment_id for s in api.stages.values()):
                raise bad("Active stages pointing to this deployment must be moved or deleted")
            del api.deployments[deployment.deployment_id]
            await self._commit(api)
        return {}

    # -- stages --------------------------------------------------------------------------------
    @staticmethod
    def _stage(api: RestApi, name: str) -> RestStage:
        found = api.stages.get(name)
        if found is None:
            raise not_found("Invalid Stage identifier specified")
        return found

    async def CreateStage(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            name = params["stageName"]
            if not _STAGE_NAME.fullmatch(name):
                raise bad("Stage name only allows a-zA-Z0-9_-")
            if name in api.stages:
                raise conflict("Stage already exists")
            self._deployment(api, params["deploymentId"])
            now = self._clock.now()
            stage = RestStage(
                name, params["deploymentId"], now, now, description=params.get("description"),
                variables=stage_variables(params.get("variables")), tags=tag_arns.checked(params.get("tags")),
                tracing_enabled=bool(params.get("tracingEnabled", False)),
                cache_cluster_enabled=bool(params.get("cacheClusterEnabled", False)),
            )  # fmt: skip
            api.stages[name] = stage
            await self._commit(api)
        return stage.to_api()

    async def GetStage(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        return self._stage(api, params["stageName"]).to_api()

    async def GetStages(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        wanted = params.get("deploymentId")
        stages = sorted(api.stages.values(), key=lambda s: (s.created, s.name))
        return {"item": [s.to_api() for s in stages if wanted is None or s.deployment_id == wanted]}

    async def UpdateStage(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            stage = self._stage(api, params["stageName"])
            variables = dict(stage.variables)
            settings = {k: dict(v) for k, v in stage.method_settings.items()}
            changes: dict[str, Any] = {}
            for patch in rest_patch.operations(params.get("patchOperations")):
                seg = patch.segments
                if seg[0] == "variables" and len(seg) == 2:
                    if patch.op == "remove":
                        variables.pop(seg[1], None)
                    elif patch.op in ("add", "replace"):
                        variables[seg[1]] = patch.value or ""
                    else:
                        raise rest_patch.invalid(patch.op, patch.path)
                elif len(seg) == 1 and patch.op == "replace" and seg[0] in ("deploymentId", "description"):
                    if seg[0] == "deploymentId":
                        self._deployment(api, patch.value or "")
                        changes["deployment_id"] = patch.value
                    else:
                        changes["description"] = patch.value or None
                elif (
                    len(seg) == 1
                    and patch.op == "replace"
                    and seg[0] in ("tracingEnabled", "cacheClusterEnabled")
                ):
                    attr = "tracing_enabled" if seg[0] == "tracingEnabled" else "cache_cluster_enabled"
                    changes[attr] = rest_patch.as_bool(patch)
                elif len(seg) >= 2 and seg[0] != "variables":
                    self._method_setting(settings, patch)
                else:
                    raise rest_patch.invalid(patch.op, patch.path)
            stage = dataclasses.replace(
                stage,
                variables=stage_variables(variables),
                method_settings=settings,
                updated=self._clock.now(),
                **changes,
            )
            api.stages[stage.name] = stage
            await self._commit(api)
        return stage.to_api()

    @staticmethod
    def _method_setting(settings: dict[str, dict[str, Any]], patch: rest_patch.Patch) -> None:
        """A `/<resource path>/<method>/<group>/<name>` patch (or a remove of `/<path>/<method>`)."""
        raw = patch.path[1:].split("/")
        key = f"{raw[0]}/{raw[1]}"
        if patch.op == "remove" and len(raw) == 2:
            settings.pop(key, None)
            return
        member = _SETTINGS.get((raw[2], raw[3])) if len(raw) == 4 else None
        if member is None or patch.op != "replace":
            raise rest_patch.invalid(patch.op, patch.path)
        value: Any
        if member in _NUMBERS:
            number = rest_patch.as_number(patch)
            if number < 0:
                raise bad(f"Invalid value {patch.value} for {member}: must not be negative")
            value = _NUMBERS[member](number)
        elif member in ("loggingLevel", "unauthorizedCacheControlHeaderStrategy"):
            value = patch.value or ""
        else:
            value = rest_patch.as_bool(patch)
        settings.setdefault(key, {})[member] = value

    async def DeleteStage(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            stage = self._stage(api, params["stageName"])
            del api.stages[stage.name]
            await self._commit(api)
        return {}

    # -- authorizers -------------------------------------------------------------------------------
    @staticmethod
    def _authorizer(authorizer_id: str, given: dict[str, Any]) -> RestAuthorizer:
        kind = given.get("type")
        if kind == "COGNITO_USER_POOLS":
            raise bad("lambdabox does not serve COGNITO_USER_POOLS authorizers yet")
        if kind not in ("TOKEN", "REQUEST"):
            raise bad(f"Invalid authorizer type specified: {kind}")
        uri = given.get("authorizerUri")
        m = _LAMBDA_URI.fullmatch(uri or "")
        if (
            m is None
            or lambda_target(re.sub(r"\$\{stageVariables\.[A-Za-z0-9_]+\}", "x", m.group(1))) is None
        ):
            raise bad("Invalid Authorizer URI specified" if uri else "Authorizer URI is required")
        ttl = given.get("authorizerResultTtlInSeconds")
        ttl = 300 if ttl is None else int(ttl)
        if not 0 <= ttl <= 3600:
            raise bad("Authorizer TTL must be between 0 and 3600 seconds")
        source = given.get("identitySource") or None
        sources = [s.strip() for s in (source or "").split(",") if s.strip()]
        if kind == "TOKEN":
            if len(sources) != 1 or not sources[0].startswith("method.request.header."):
                raise bad(
                    "Invalid identity source: a TOKEN authorizer takes one method.request.header.<name>"
                )
        elif ttl > 0 and not sources:
            raise bad("Identity source is required when authorizer caching is enabled")
        for s in sources:
            if not _IDENTITY_SOURCE.fullmatch(s):
                raise bad(f"Invalid identity source specified: {s}")
        expression = given.get("identityValidationExpression") or None
        if expression is not None:
            try:
                re.compile(expression)
            except re.error as exc:
                raise bad(f"Invalid identity validation expression specified: {expression}") from exc
        return RestAuthorizer(
            authorizer_id=authorizer_id, name=given.get("name") or "", type=kind, authorizer_uri=str(uri),
            identity_source=source, identity_validation_expression=expression if kind == "TOKEN" else None,
            ttl=ttl, auth_type=given.get("authType"), credentials=given.get("authorizerCredentials"),
        )  # fmt: skip

    @staticmethod
    def _found_authorizer(api: RestApi, authorizer_id: str) -> RestAuthorizer:
        found = api.authorizers.get(authorizer_id)
        if found is None:
            raise not_found("Invalid Authorizer identifier specified")
        return found

    async def CreateAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            authorizer = self._authorizer(new_id(6), params)
            api.authorizers[authorizer.authorizer_id] = authorizer
            await self._commit(api)
        return authorizer.to_api()

    async def GetAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        return self._found_authorizer(api, params["authorizerId"]).to_api()

    async def GetAuthorizers(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        return page([a.to_api() for a in api.authorizers.values()], params)

    async def UpdateAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            old = self._found_authorizer(api, params["authorizerId"])
            given: dict[str, Any] = {
                "name": old.name, "type": old.type, "authorizerUri": old.authorizer_uri,
                "identitySource": old.identity_source, "authorizerResultTtlInSeconds": old.ttl,
                "identityValidationExpression": old.identity_validation_expression,
                "authType": old.auth_type, "authorizerCredentials": old.credentials,
            }  # fmt: skip
            for patch in rest_patch.operations(params.get("patchOperations")):
                if patch.op != "replace" or len(patch.segments) != 1 or patch.segments[0] not in given:
                    raise rest_patch.invalid(patch.op, patch.path)
                given[patch.segments[0]] = patch.value
            authorizer = self._authorizer(old.authorizer_id, given)
            api.authorizers[authorizer.authorizer_id] = authorizer
            await self._commit(api)
        return authorizer.to_api()

    async def DeleteAuthorizer(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["restApiId"])
        async with self._lock(api.api_id):
            authorizer = self._found_authorizer(api, params["authorizerId"])
            for resource in api.resources.values():
                for method in resource.methods.values():
                    if method.authorizer_id == authorizer.authorizer_id:
                        raise conflict(
                            f"Cannot delete authorizer '{authorizer.name}', is referenced in method: "
                            f"'{method.http_method}:{resource.path}'"
                        )
            del api.authorizers[authorizer.authorizer_id]
            await self._commit(api)
        return {}
