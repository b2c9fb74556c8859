"""The apigateway (v1) service served at the edge: REST APIs with their resources, methods,
integrations (`rest_resources`), deployments, stages and authorizers (`rest_stages`), and their
import from OpenAPI definitions (`rest_import`), and tags by ARN (`rest_tags`)."""

from __future__ import annotations

from lambdabox.gateway.rest_import import ImportOps
from lambdabox.gateway.rest_tags import TagOps


class ApiGatewayService(ImportOps, TagOps):
    """Every apigateway operation lambdabox serves, over one store of REST APIs."""
