"""REST APIs through the apigateway (v1) API: AWS::ApiGateway::RestApi (tagged with the stack) and
its Resource, Method, Deployment and Stage, found through the API and matched by natural key: a
resource by (parent id, PathPart), a method by (resource id, HttpMethod), a stage by StageName, a
deployment by its Description (the logical id when the template gives none). A Deployment is a
snapshot of the API's methods: the plan replaces it when a Resource or Method of its API changes
(CloudFormation needs a new logical id for that). CloudFormation's names are the API's, capitalised.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/AWS_ApiGateway.html
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from lambdabox.deploy.resources.base import (
    BODY_TAG,
    LOGICAL_TAG,
    STACK_TAG,
    Clients,
    Deployed,
    Handler,
    Props,
    body_sha,
    body_text,
    of_stack,
    same,
    stack_tags,
    tag_map,
)


def pages(call: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        page = call(**kwargs)
        yield from page.get("items", [])
        if not page.get("position"):
            return
        kwargs["position"] = page["position"]


def api_name(name: str) -> str:
    """The API's name of a CloudFormation property (ApiKeySourceType is the API's apiKeySource)."""
    return "apiKeySource" if name == "ApiKeySourceType" else name[:1].lower() + name[1:]


def _replace(path: str, value: Any) -> dict[str, str]:
    return {"op": "replace", "path": path, "value": str(value)}


class RestApi(Handler):
    type = "AWS::ApiGateway::RestApi"
    properties = frozenset(
        [
            "Name",
            "Description",
            "BinaryMediaTypes",
            "EndpointConfiguration",
            "Tags",
            "ApiKeySourceType",
            "MinimumCompressionSize",
            "DisableExecuteApiEndpoint",
            "Body",
            "FailOnWarnings",
            "Parameters",
            "Mode",
        ]
    )
    attributes = frozenset(["RootResourceId", "RestApiId"])
    immutable = frozenset(
        [
            "BinaryMediaTypes",
            "EndpointConfiguration",
            "ApiKeySourceType",
            "MinimumCompressionSize",
            "DisableExecuteApiEndpoint",
        ]
    )
    delete_rank = 75

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        return [
            self._deployed(c, api)
            for api in pages(c("apigateway").get_rest_apis)
            if of_stack(api.get("tags"), stack)
        ]

    def _deployed(self, c: Clients, api: dict[str, Any]) -> Deployed:
        root = next(
            r["id"] for r in pages(c("apigateway").get_resources, restApiId=api["id"]) if r["path"] == "/"
        )
        tags = dict(api.get("tags", {}))
        return Deployed(
            self.type,
            api["id"],
            tags.get(LOGICAL_TAG),
            observed=api,
            tags=tags,
            attributes={"RootResourceId": root, "RestApiId": api["id"]},
        )

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        fields = ("Name", "Description", "BinaryMediaTypes", "MinimumCompressionSize", "ApiKeySourceType")
        if "Body" in props:  # an imported API: its OpenAPI document decides (fingerprinted in a tag)
            given = [
                f for f in fields if f in props and not same(props[f], deployed.observed.get(api_name(f)))
            ]
            body = [] if deployed.tags.get(BODY_TAG) == body_sha(props["Body"]) else ["Body"]
            return sorted(body + given)
        return sorted(f for f in fields if not same(props.get(f), deployed.observed.get(api_name(f))))

    def _import(self, c: Clients, api_id: str, props: Props) -> None:
        """The API's resources and methods from its OpenAPI `Body` (PutRestApi, overwrite), as
        CloudFormation imports a RestApi with a Body; then the document's fingerprint tag."""
        gw = c("apigateway")
        gw.put_rest_api(
            restApiId=api_id, mode=str(props.get("Mode", "overwrite")), body=body_text(props["Body"]).encode(),
            failOnWarnings=bool(props.get("FailOnWarnings", False)),
            **({"parameters": dict(props["Parameters"])} if props.get("Parameters") else {}),
        )  # fmt: skip
        gw.tag_resource(
            resourceArn=f"arn:aws:apigateway:{c.region}::/restapis/{api_id}",
            tags={BODY_TAG: body_sha(props["Body"])},
        )

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        if "Body" in props:
            body = props["Body"]
            title = body.get("info", {}).get("title") if isinstance(body, dict) else None
            tags = {**tag_map(props.get("Tags")), **stack_tags(stack, logical_id)}
            made = c("apigateway").create_rest_api(
                name=str(props.get("Name") or title or logical_id), tags=tags
            )
            try:
                self._import(c, made["id"], props)
            except Exception:
                c("apigateway").delete_rest_api(restApiId=made["id"])  # nothing half-made is left
                raise
            return self._deployed(c, c("apigateway").get_rest_api(restApiId=made["id"]))
        args = {
            api_name(k): v
            for k, v in props.items()
            if k not in ("Tags", "DisableExecuteApiEndpoint", "EndpointConfiguration")
        }
        if isinstance(props.get("EndpointConfiguration"), dict):  # {Types, VpcEndpointIds}: the API's case
            args["endpointConfiguration"] = {
                api_name(k): v for k, v in props["EndpointConfiguration"].items()
            }
        if "DisableExecuteApiEndpoint" in props:
            args["disableExecuteApiEndpoint"] = props["DisableExecuteApiEndpoint"]
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, logical_id)}
        return self._deployed(c, c("apigateway").create_rest_api(tags=tags, **args))

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        if "Body" in props:
            self._import(c, deployed.physical_id, props)
            return self._deployed(c, c("apigateway").get_rest_api(restApiId=deployed.physical_id))
        ops = [_replace("/name", props["Name"]), _replace("/description", props.get("Description", ""))]
        api = c("apigateway").update_rest_api(restApiId=deployed.physical_id, patchOperations=ops)
        return self._deployed(c, api)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        o = deployed.observed
        return {"Name": o["name"], "Description": o.get("description", "")}

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("apigateway").delete_rest_api(restApiId=deployed.physical_id)


class Resource(Handler):
    type = "AWS::ApiGateway::Resource"
    properties = frozenset(["RestApiId", "ParentId", "PathPart"])
    attributes = frozenset(["ResourceId"])
    immutable = frozenset(["RestApiId", "ParentId", "PathPart"])
    tagged = False
    parent_type = "AWS::ApiGateway::RestApi"
    delete_rank = 45

    def describe(self, deployed: Deployed) -> str:
        return f"Resource {deployed.observed.get('path', deployed.physical_id)}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        return [
            self._deployed(api.physical_id, r)
            for api in parents
            if BODY_TAG not in api.tags  # an imported API's resources are its document's
            for r in pages(c("apigateway").get_resources, restApiId=api.physical_id)
            if r["path"] != "/"
        ]

    def _deployed(self, api_id: str, r: dict[str, Any]) -> Deployed:
        return Deployed(
            self.type,
            r["id"],
            key=(api_id, r["parentId"], r["pathPart"]),
            parent=api_id,
            attributes={"ResourceId": r["id"]},
            observed=r,
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (str(props["RestApiId"]), str(props["ParentId"]), str(props["PathPart"]))

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        return []

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        r = c("apigateway").create_resource(
            restApiId=props["RestApiId"], parentId=props["ParentId"], pathPart=props["PathPart"]
        )
        return self._deployed(str(props["RestApiId"]), r)

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("apigateway").delete_resource(restApiId=deployed.parent, resourceId=deployed.physical_id)


class Deployment(Handler):
    type = "AWS::ApiGateway::Deployment"
    properties = frozenset(["RestApiId", "Description", "StageName"])
    attributes = frozenset(["DeploymentId"])
    immutable = frozenset(["RestApiId", "Description", "StageName"])
    tagged = False
    parent_type = "AWS::ApiGateway::RestApi"
    delete_rank = 60

    def describe(self, deployed: Deployed) -> str:
        return f"Deployment {deployed.observed.get('description') or deployed.physical_id}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        return [
            self._deployed(api.physical_id, d)
            for api in parents
            for d in pages(c("apigateway").get_deployments, restApiId=api.physical_id)
        ]

    def _deployed(self, api_id: str, d: dict[str, Any]) -> Deployed:
        return Deployed(
            self.type,
            d["id"],
            key=(api_id, str(d.get("description", ""))),
            parent=api_id,
            attributes={"DeploymentId": d["id"]},
            observed=d,
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (str(props["RestApiId"]), str(props.get("Description") or logical_id))

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        return []

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        api, description = self.key(c, logical_id, props) or ("", "")
        args = {"stageName": props["StageName"]} if props.get("StageName") else {}
        d = c("apigateway").create_deployment(restApiId=api, description=description, **args)
        return self._deployed(api, d)

    def delete(self, c: Clients, deployed: Deployed) -> None:
        v1 = c("apigateway")
        for stage in v1.get_stages(restApiId=deployed.parent, deploymentId=deployed.physical_id).get(
            "item", []
        ):
            v1.delete_stage(restApiId=deployed.parent, stageName=stage["stageName"])  # its StageName's
        v1.delete_deployment(restApiId=deployed.parent, deploymentId=deployed.physical_id)


class Stage(Handler):
    type = "AWS::ApiGateway::Stage"
    properties = frozenset(["RestApiId", "StageName", "DeploymentId", "Description", "Variables", "Tags"])
    immutable = frozenset(["RestApiId", "StageName"])
    tagged = False
    parent_type = "AWS::ApiGateway::RestApi"
    delete_rank = 50

    def describe(self, deployed: Deployed) -> str:
        return deployed.tags.get(LOGICAL_TAG) or f"Stage {deployed.physical_id}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        return [
            self._deployed(api.physical_id, s)
            for api in parents
            for s in c("apigateway").get_stages(restApiId=api.physical_id).get("item", [])
            if s.get("tags", {}).get(STACK_TAG) == stack
        ]

    def _deployed(self, api_id: str, s: dict[str, Any]) -> Deployed:
        return Deployed(
            self.type,
            s["stageName"],
            key=(api_id, s["stageName"]),
            parent=api_id,
            observed=s,
            tags=dict(s.get("tags", {})),
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (str(props["RestApiId"]), str(props["StageName"]))

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        fields = ("DeploymentId", "Description", "Variables")
        return sorted(f for f in fields if not same(props.get(f), deployed.observed.get(api_name(f))))

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        args = {api_name(k): props[k] for k in ("Description", "Variables") if k in props}
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, logical_id)}
        s = c("apigateway").create_stage(
            restApiId=props["RestApiId"],
            stageName=props["StageName"],
            deploymentId=props["DeploymentId"],
            tags=tags,
            **args,
        )
        return self._deployed(str(props["RestApiId"]), s)

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        ops = [
            _replace("/deploymentId", props["DeploymentId"]),
            _replace("/description", props.get("Description", "")),
        ]
        old = dict(deployed.observed.get("variables") or {})
        new = dict(props.get("Variables") or {})
        ops += [{"op": "remove", "path": f"/variables/{k}"} for k in old if k not in new]
        ops += [_replace(f"/variables/{k}", v) for k, v in new.items()]
        s = c("apigateway").update_stage(
            restApiId=deployed.parent, stageName=deployed.physical_id, patchOperations=ops
        )
        return self._deployed(str(deployed.parent), s)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        o = deployed.observed
        return {
            "RestApiId": deployed.parent,
            "StageName": o["stageName"],
            "DeploymentId": o.get("deploymentId"),
            "Description": o.get("description", ""),
            "Variables": o.get("variables", {}),
        }

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("apigateway").delete_stage(restApiId=deployed.parent, stageName=deployed.physical_id)
