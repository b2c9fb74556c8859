"""The apigateway (v1) service served at the edge: REST APIs with their resources, methods,
integrations (`rest_resources`), deployments, stages and authorizers (`rest_stages`)."""

from __future__ import annotations

from lambdabox.gateway.rest_resources import ResourceOps
from lambdabox.gateway.rest_stages import StageOps


class ApiGatewayService(ResourceOps, StageOps):
    """Every apigateway operation lambdabox serves, over one store of REST APIs."""
