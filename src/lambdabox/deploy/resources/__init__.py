"""The resource types the deploy engine deploys, one module per AWS service; `HANDLERS` by type."""

from __future__ import annotations

from lambdabox.deploy.resources import (
    apigateway,
    apigateway_authorizers,
    apigateway_keys,
    apigateway_methods,
    apigatewayv2,
    iam,
    lambda_,
    lambda_children,
    lambda_esm,
    lambda_layers,
    lambda_urls,
    logs,
    sns,
    sqs,
)
from lambdabox.deploy.resources.base import Handler

HANDLERS: dict[str, Handler] = {
    h.type: h
    for h in (
        lambda_.Function(),
        lambda_children.Version(),
        lambda_children.Alias(),
        lambda_children.Permission(),
        lambda_urls.Url(),
        lambda_esm.EventSourceMapping(),
        lambda_layers.LayerVersion(),
        sqs.Queue(),
        sqs.QueuePolicy(),
        sns.Topic(),
        sns.Subscription(),
        sns.TopicPolicy(),
        iam.Role(),
        logs.LogGroup(),
        apigatewayv2.Api(),
        apigatewayv2.Route(),
        apigatewayv2.Integration(),
        apigatewayv2.Stage(),
        apigatewayv2.Authorizer(),
        apigateway.RestApi(),
        apigateway.Resource(),
        apigateway_methods.Method(),
        apigateway.Deployment(),
        apigateway.Stage(),
        apigateway_authorizers.Authorizer(),
        apigateway_keys.ApiKey(),
        apigateway_keys.UsagePlan(),
        apigateway_keys.UsagePlanKey(),
    )
}
