"""HTTP APIs (API Gateway v2) as stored: the API and its routes, integrations, stages, deployments.

An `HttpApi` is one document: everything it holds is written in one commit, so an API is never
half-changed. A deployment is a snapshot of the routes and integrations; a stage serves its
deployment's snapshot, or (with AutoDeploy) the API as it is now.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

DEFAULT_STAGE = "$default"


def iso(epoch: float) -> str:
    """API Gateway's timestamps on the wire (botocore reads ISO 8601)."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Route:
    route_id: str
    route_key: str
    target: str | None = None  # "integrations/<id>"
    authorization_type: str = "NONE"
    api_key_required: bool = False
    operation_name: str | None = None
    managed: bool = False  # made by quick create (ApiGatewayManaged)
    authorizer_id: str | None = None
    #: the scopes a JWT route asks for (the token must hold one of them)
    authorization_scopes: tuple[str, ...] = ()

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ApiKeyRequired": self.api_key_required,
            "AuthorizationType": self.authorization_type,
            "RouteId": self.route_id,
            "RouteKey": self.route_key,
        }
        if self.target is not None:
            out["Target"] = self.target
        if self.operation_name is not None:
            out["OperationName"] = self.operation_name
        if self.authorizer_id is not None:
            out["AuthorizerId"] = self.authorizer_id
        if self.authorization_scopes:
            out["AuthorizationScopes"] = list(self.authorization_scopes)
        if self.managed:
            out["ApiGatewayManaged"] = True
        return out


@dataclass(frozen=True)
class Integration:
    integration_id: str
    integration_type: str
    integration_uri: str | None
    payload_format_version: str
    timeout_ms: int = 30_000
    integration_method: str | None = None
    description: str | None = None
    managed: bool = False

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ConnectionType": "INTERNET",
            "IntegrationId": self.integration_id,
            "IntegrationType": self.integration_type,
            "PayloadFormatVersion": self.payload_format_version,
            "TimeoutInMillis": self.timeout_ms,
        }
        if self.integration_uri is not None:
            out["IntegrationUri"] = self.integration_uri
        if self.integration_method is not None:
            out["IntegrationMethod"] = self.integration_method
        if self.description is not None:
            out["Description"] = self.description
        if self.managed:
            out["ApiGatewayManaged"] = True
        return out


@dataclass(frozen=True)
class Authorizer:
    """An authorizer of an HTTP API: a Lambda REQUEST authorizer, or a JWT authorizer (its issuer
    and audiences; `authorizer_uri` is empty)."""

    authorizer_id: str
    name: str
    authorizer_uri: str
    payload_format_version: str = "2.0"
    simple_responses: bool = False
    identity_source: tuple[str, ...] = ()
    ttl: int = 0
    authorizer_type: str = "REQUEST"
    jwt_issuer: str | None = None
    jwt_audience: tuple[str, ...] = ()

    def to_api(self) -> dict[str, Any]:
        if self.authorizer_type == "JWT":
            return {
                "AuthorizerId": self.authorizer_id,
                "AuthorizerType": "JWT",
                "IdentitySource": list(self.identity_source),
                "JwtConfiguration": {"Audience": list(self.jwt_audience), "Issuer": self.jwt_issuer},
                "Name": self.name,
            }
        return {
            "AuthorizerId": self.authorizer_id,
            "AuthorizerPayloadFormatVersion": self.payload_format_version,
            "AuthorizerResultTtlInSeconds": self.ttl,
            "AuthorizerType": "REQUEST",
            "AuthorizerUri": self.authorizer_uri,
            "EnableSimpleResponses": self.simple_responses,
            "IdentitySource": list(self.identity_source),
            "Name": self.name,
        }


@dataclass(frozen=True)
class Deployment:
    deployment_id: str
    created: float
    routes: tuple[Route, ...]
    integrations: tuple[Integration, ...]
    auto_deployed: bool = False
    description: str | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AutoDeployed": self.auto_deployed,
            "CreatedDate": iso(self.created),
            "DeploymentId": self.deployment_id,
            "DeploymentStatus": "DEPLOYED",
        }
        if self.description is not None:
            out["Description"] = self.description
        return out


@dataclass(frozen=True)
class Stage:
    name: str
    created: float
    updated: float
    auto_deploy: bool = False
    deployment_id: str | None = None
    description: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    managed: bool = False
    #: RouteSettings as given (DetailedMetricsEnabled, ThrottlingBurstLimit, ThrottlingRateLimit, …)
    default_route_settings: dict[str, Any] = field(default_factory=dict)
    route_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "AutoDeploy": self.auto_deploy,
            "CreatedDate": iso(self.created),
            "DefaultRouteSettings": {"DetailedMetricsEnabled": False, **self.default_route_settings},
            "LastUpdatedDate": iso(self.updated),
            "RouteSettings": {k: dict(v) for k, v in self.route_settings.items()},
            "StageName": self.name,
            "StageVariables": dict(self.variables),
            "Tags": dict(self.tags),
        }
        if self.deployment_id is not None:
            out["DeploymentId"] = self.deployment_id
            if self.auto_deploy:
                out["LastDeploymentStatusMessage"] = (
                    f"Successfully deployed stage with deployment ID '{self.deployment_id}'"
                )
        if self.description is not None:
            out["Description"] = self.description
        if self.managed:
            out["ApiGatewayManaged"] = True
        return out


@dataclass
class HttpApi:
    """One HTTP API of one account and region, with everything it holds."""

    api_id: str
    region: str
    account: str
    name: str
    created: float
    protocol_type: str = "HTTP"
    description: str | None = None
    version: str | None = None
    route_selection_expression: str = "$request.method $request.path"
    api_key_selection_expression: str = "$request.header.x-api-key"
    disable_execute_api_endpoint: bool = False
    cors: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    integrations: dict[str, Integration] = field(default_factory=dict)
    stages: dict[str, Stage] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    authorizers: dict[str, Authorizer] = field(default_factory=dict)

    def to_api(self, endpoint: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ApiEndpoint": endpoint,
            "ApiId": self.api_id,
            "ApiKeySelectionExpression": self.api_key_selection_expression,
            "CreatedDate": iso(self.created),
            "DisableExecuteApiEndpoint": self.disable_execute_api_endpoint,
            "Name": self.name,
            "ProtocolType": self.protocol_type,
            "RouteSelectionExpression": self.route_selection_expression,
            "Tags": dict(self.tags),
        }
        if self.description is not None:
            out["Description"] = self.description
        if self.version is not None:
            out["Version"] = self.version
        if self.cors is not None:
            out["CorsConfiguration"] = dict(self.cors)
        return out

    # -- persistence -----------------------------------------------------------------------
    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, d: dict[str, Any]) -> HttpApi:
        d = dict(d)
        d["routes"] = {k: _route(v) for k, v in d["routes"].items()}
        d["integrations"] = {k: Integration(**v) for k, v in d["integrations"].items()}
        d["stages"] = {k: Stage(**v) for k, v in d["stages"].items()}
        d["authorizers"] = {
            k: Authorizer(
                **{
                    **v,
                    "identity_source": tuple(v["identity_source"]),
                    "jwt_audience": tuple(v.get("jwt_audience", ())),
                }
            )
            for k, v in d.get("authorizers", {}).items()
        }
        d["deployments"] = {
            k: Deployment(
                **{
                    **v,
                    "routes": tuple(_route(r) for r in v["routes"]),
                    "integrations": tuple(Integration(**i) for i in v["integrations"]),
                }
            )
            for k, v in d["deployments"].items()
        }
        return cls(**d)


def _route(d: dict[str, Any]) -> Route:
    return Route(**{**d, "authorization_scopes": tuple(d.get("authorization_scopes", ()))})
