"""The apigatewayv2 stage and deployment operations: a stage serves the deployment it names, or
(with AutoDeploy) a new deployment made at each change of routes or integrations.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lambdabox.aws.context import RequestContext
from lambdabox.gateway import tag_arns
from lambdabox.gateway.models import HttpApi, Stage
from lambdabox.gateway.v2_base import (
    STAGE_NAME,
    Params,
    Result,
    V2Base,
    bad,
    conflict,
    not_found,
    page,
    route_settings,
    stage_variables,
)


class StagesMixin(V2Base):
    """Stages and deployments of an HTTP API."""

    # -- stages and deployments ----------------------------------------------------------------
    def _stage(self, ctx: RequestContext, api: HttpApi, name: str) -> Stage:
        stage = api.stages.get(name)
        if stage is None:
            raise not_found("Invalid stage identifier specified")
        return stage

    @staticmethod
    def _route_settings_map(api: HttpApi, given: Any) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for key, settings in (given or {}).items():
            if not any(r.route_key == key for r in api.routes.values()):
                raise not_found(f"Unable to find Route by key {key} within the provided RouteSettings")
            out[key] = route_settings(settings)
        return out

    def _check_deployment(self, api: HttpApi, deployment_id: str | None) -> None:
        if deployment_id is not None and deployment_id not in api.deployments:
            raise bad(f"Invalid deployment identifier specified {deployment_id}")

    async def CreateStage(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        async with self._lock(api.api_id):
            name = params["StageName"]
            if not STAGE_NAME.fullmatch(name):
                raise bad(f"Invalid stage name specified: {name}")
            if name in api.stages:
                raise conflict(f"Stage {name} already exists")
            self._check_deployment(api, params.get("DeploymentId"))
            now = self._clock.now()
            api.stages[name] = Stage(
                name, now, now, auto_deploy=bool(params.get("AutoDeploy", False)),
                deployment_id=params.get("DeploymentId"), description=params.get("Description"),
                variables=stage_variables(params.get("StageVariables")), tags=tag_arns.checked(params.get("Tags")),
                default_route_settings=route_settings(params.get("DefaultRouteSettings")),
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
        return page(list(api.stages.values()), params)

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
                changes["variables"] = stage_variables(params["StageVariables"])
            if "DefaultRouteSettings" in params:
                changes["default_route_settings"] = route_settings(params["DefaultRouteSettings"])
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
                    raise bad(
                        f"Stage {name} does not exist. StageName specified on a CreateDeployment request must "
                        "exist so the stage can be updated with the new deployment."
                    )
                if stage.auto_deploy:
                    raise bad(
                        f"Stage {name} is configured for auto deploy; a deployment cannot be made to it"
                    )
            deployment = self._deploy(api, name, auto=False, description=params.get("Description"))
            await self._commit(api)
        return deployment.to_api()

    async def GetDeployment(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        deployment = api.deployments.get(params["DeploymentId"])
        if deployment is None:
            raise not_found(
                f"Invalid Deployment identifier specified {ctx.account_id}:{api.api_id}:{params['DeploymentId']}"
            )
        return deployment.to_api()

    async def GetDeployments(self, ctx: RequestContext, params: Params) -> Result:
        api = self._get(ctx, params["ApiId"])
        return page(sorted(api.deployments.values(), key=lambda d: d.created), params)
