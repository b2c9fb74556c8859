"""REST APIs (API Gateway v1) as stored: the API and its resource tree with methods and
integrations, authorizers, deployments (snapshots of the tree) and stages.

A `RestApi` is one document, written in one commit, so an API is never half-changed. A stage
serves the snapshot of the deployment it names; changes to the tree reach it only through a new
deployment, as on AWS (https://docs.aws.amazon.com/apigateway/latest/developerguide/
how-to-deploy-api.html).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RestIntegration:
    type: str
    http_method: str | None = None
    uri: str | None = None
    timeout_ms: int = 29_000
    passthrough_behavior: str = "WHEN_NO_MATCH"
    content_handling: str | None = None
    cache_namespace: str | None = None
    cache_key_parameters: tuple[str, ...] = ()
    request_parameters: dict[str, str] = field(default_factory=dict)
    request_templates: dict[str, str] = field(default_factory=dict)
    #: status code -> IntegrationResponse as given (selectionPattern, responseParameters, …)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "passthroughBehavior": self.passthrough_behavior,
            "timeoutInMillis": self.timeout_ms,
            "cacheNamespace": self.cache_namespace or "",
            "cacheKeyParameters": list(self.cache_key_parameters),
            "connectionType": "INTERNET",
        }
        if self.http_method is not None:
            out["httpMethod"] = self.http_method
        if self.uri is not None:
            out["uri"] = self.uri
        if self.content_handling is not None:
            out["contentHandling"] = self.content_handling
        if self.request_parameters:
            out["requestParameters"] = dict(self.request_parameters)
        if self.request_templates:
            out["requestTemplates"] = dict(self.request_templates)
        if self.responses:
            out["integrationResponses"] = {k: {"statusCode": k, **v} for k, v in self.responses.items()}
        return out


@dataclass(frozen=True)
class RestMethod:
    http_method: str
    authorization_type: str = "NONE"
    authorizer_id: str | None = None
    api_key_required: bool = False
    operation_name: str | None = None
    request_parameters: dict[str, bool] = field(default_factory=dict)
    request_models: dict[str, str] = field(default_factory=dict)
    #: status code -> MethodResponse as given (responseParameters, responseModels)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    integration: RestIntegration | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "httpMethod": self.http_method,
            "authorizationType": self.authorization_type,
            "apiKeyRequired": self.api_key_required,
        }
        if self.authorizer_id is not None:
            out["authorizerId"] = self.authorizer_id
        if self.operation_name is not None:
            out["operationName"] = self.operation_name
        if self.request_parameters:
            out["requestParameters"] = dict(self.request_parameters)
        if self.request_models:
            out["requestModels"] = dict(self.request_models)
        if self.responses:
            out["methodResponses"] = {k: {"statusCode": k, **v} for k, v in self.responses.items()}
        if self.integration is not None:
            out["methodIntegration"] = self.integration.to_api()
        return out


@dataclass(frozen=True)
class RestResource:
    resource_id: str
    parent_id: str | None
    path_part: str | None
    path: str
    methods: dict[str, RestMethod] = field(default_factory=dict)

    def to_api(self, embed_methods: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.resource_id, "path": self.path}
        if self.parent_id is not None:
            out["parentId"] = self.parent_id
        if self.path_part is not None:
            out["pathPart"] = self.path_part
        if self.methods:  # without embed=methods AWS lists the methods' names only
            out["resourceMethods"] = {
                name: (m.to_api() if embed_methods else {}) for name, m in self.methods.items()
            }
        return out


@dataclass(frozen=True)
class RestAuthorizer:
    """A Lambda authorizer (TOKEN or REQUEST) of a REST API."""

    authorizer_id: str
    name: str
    type: str
    authorizer_uri: str
    identity_source: str | None = None
    identity_validation_expression: str | None = None
    ttl: int = 300
    auth_type: str | None = None
    credentials: str | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.authorizer_id,
            "name": self.name,
            "type": self.type,
            "authorizerUri": self.authorizer_uri,
            "authorizerResultTtlInSeconds": self.ttl,
        }
        for key, value in (
            ("identitySource", self.identity_source),
            ("identityValidationExpression", self.identity_validation_expression),
            ("authType", self.auth_type),
            ("authorizerCredentials", self.credentials),
        ):
            if value is not None:
                out[key] = value
        return out

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in (self.identity_source or "").split(",") if s.strip())


@dataclass(frozen=True)
class RestDeployment:
    deployment_id: str
    created: float
    description: str | None
    resources: tuple[RestResource, ...]
    authorizers: tuple[RestAuthorizer, ...] = ()

    def to_api(self, summary: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.deployment_id, "createdDate": self.created}
        if self.description is not None:
            out["description"] = self.description
        if summary:  # GetDeployment with embed=apisummary
            out["apiSummary"] = {
                r.path: {
                    name: {"authorizationType": m.authorization_type, "apiKeyRequired": m.api_key_required}
                    for name, m in r.methods.items()
                }
                for r in self.resources
                if r.methods
            }
        return out


@dataclass(frozen=True)
class RestStage:
    name: str
    deployment_id: str
    created: float
    updated: float
    description: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    #: "<resource path>/<method>" ("*/*" for all) -> MethodSetting members as set
    method_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    tracing_enabled: bool = False
    cache_cluster_enabled: bool = False

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stageName": self.name,
            "deploymentId": self.deployment_id,
            "createdDate": self.created,
            "lastUpdatedDate": self.updated,
            "cacheClusterEnabled": self.cache_cluster_enabled,
            "cacheClusterStatus": "NOT_AVAILABLE",
            "tracingEnabled": self.tracing_enabled,
            "methodSettings": {k: _setting_view(v) for k, v in self.method_settings.items()},
        }
        if self.description is not None:
            out["description"] = self.description
        if self.variables:
            out["variables"] = dict(self.variables)
        if self.tags:
            out["tags"] = dict(self.tags)
        return out


#: a MethodSetting as AWS shows it when one member was set: the others at their defaults
METHOD_SETTING_DEFAULTS: dict[str, Any] = {
    "metricsEnabled": False,
    "dataTraceEnabled": False,
    "throttlingBurstLimit": 5000,
    "throttlingRateLimit": 10000.0,
    "cachingEnabled": False,
    "cacheTtlInSeconds": 300,
    "cacheDataEncrypted": False,
    "requireAuthorizationForCacheControl": True,
    "unauthorizedCacheControlHeaderStrategy": "SUCCEED_WITH_RESPONSE_HEADER",
}


def _setting_view(given: dict[str, Any]) -> dict[str, Any]:
    return {**METHOD_SETTING_DEFAULTS, **given}


@dataclass
class RestApi:
    """One REST API of one account and region, with everything it holds."""

    api_id: str
    region: str
    account: str
    name: str
    created: float
    root_id: str
    description: str | None = None
    version: str | None = None
    binary_media_types: list[str] = field(default_factory=list)
    endpoint_types: list[str] = field(default_factory=lambda: ["EDGE"])
    disable_execute_api_endpoint: bool = False
    api_key_source: str = "HEADER"
    minimum_compression_size: int | None = None
    policy: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    resources: dict[str, RestResource] = field(default_factory=dict)
    authorizers: dict[str, RestAuthorizer] = field(default_factory=dict)
    deployments: dict[str, RestDeployment] = field(default_factory=dict)
    stages: dict[str, RestStage] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.api_id,
            "name": self.name,
            "createdDate": self.created,
            "apiKeySource": self.api_key_source,
            "endpointConfiguration": {"types": list(self.endpoint_types)},
            "disableExecuteApiEndpoint": self.disable_execute_api_endpoint,
            "rootResourceId": self.root_id,
        }
        if self.description is not None:
            out["description"] = self.description
        if self.version is not None:
            out["version"] = self.version
        if self.binary_media_types:
            out["binaryMediaTypes"] = list(self.binary_media_types)
        if self.minimum_compression_size is not None:
            out["minimumCompressionSize"] = self.minimum_compression_size
        if self.policy is not None:
            out["policy"] = self.policy
        if self.tags:
            out["tags"] = dict(self.tags)
        return out

    # -- persistence -----------------------------------------------------------------------
    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, d: dict[str, Any]) -> RestApi:
        d = dict(d)
        d["resources"] = {k: _resource(v) for k, v in d["resources"].items()}
        d["authorizers"] = {k: RestAuthorizer(**v) for k, v in d["authorizers"].items()}
        d["deployments"] = {
            k: RestDeployment(
                **{
                    **v,
                    "resources": tuple(_resource(r) for r in v["resources"]),
                    "authorizers": tuple(RestAuthorizer(**a) for a in v["authorizers"]),
                }
            )
            for k, v in d["deployments"].items()
        }
        d["stages"] = {k: RestStage(**v) for k, v in d["stages"].items()}
        return cls(**d)


def _resource(d: dict[str, Any]) -> RestResource:
    methods = {}
    for name, m in d["methods"].items():
        integration = m.get("integration")
        if integration is not None:
            integration = RestIntegration(
                **{**integration, "cache_key_parameters": tuple(integration["cache_key_parameters"])}
            )
        methods[name] = RestMethod(**{**m, "integration": integration})
    return RestResource(**{**d, "methods": methods})
