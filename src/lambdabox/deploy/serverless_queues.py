"""serverless.yml's `sqs` and `sns` function events, compiled as the Serverless Framework v3 does
(its compile/events/sqs.js and sns.js):

- `sqs: <arn>` or `{arn, batchSize, maximumBatchingWindow, enabled, functionResponseType,
  filterPatterns, maximumConcurrency}` -> an AWS::Lambda::EventSourceMapping
  `<Fn>EventSourceMappingSQS<QueueName>`, and the queue's receive/delete/attributes actions in the
  Framework's execution role;
- `sns: <topic name or arn>` or `{arn | topicName, displayName, filterPolicy, filterPolicyScope,
  redrivePolicy, kmsMasterKeyId}` -> the topic `SNSTopic<TopicName>` when given by name, an
  AWS::SNS::Subscription `<Fn>SnsSubscription<TopicName>` of the function and the
  AWS::Lambda::Permission `<Fn>LambdaPermission<TopicName>SNS` for sns.amazonaws.com; a redrive
  policy's `deadLetterTargetRef` (a queue in `resources:`) also gets the queue policy
  `<Fn><TopicName>DLQPolicy` letting the topic send to it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lambdabox.deploy.serverless_model import (
    Context,
    clean,
    function_arn,
    lambda_logical_id,
    normalized_function_name,
)
from lambdabox.deploy.yamlfile import KeyPath

ROLE = "IamRoleLambdaExecution"


def alphanumeric(name: str) -> str:
    """The Framework's normalizeNameToAlphaNumericOnly: [0-9A-Za-z] only, the first letter upper."""
    s = re.sub(r"[^0-9A-Za-z]", "", name)
    return s[:1].upper() + s[1:]


def _queue_name(arn: Any) -> str | None:
    """The name the Framework derives from an event's queue ARN (a string or an intrinsic)."""
    if isinstance(arn, str):
        return arn.split(":")[-1]
    if isinstance(arn, dict) and len(arn) == 1:
        ((fn, value),) = arn.items()
        if fn == "Fn::GetAtt" and isinstance(value, list) and value:
            return str(value[0])
        if fn == "Fn::GetAtt" and isinstance(value, str):
            return value.split(".")[0]
        if fn == "Fn::ImportValue" and isinstance(value, str):
            return value
        if fn == "Fn::Join" and isinstance(value, list) and len(value) == 2 and value[1]:
            last = value[1][-1]
            return last if isinstance(last, str) else None
    return None


def compile_sqs(ctx: Context, key: str, event: Any, path: KeyPath, default_role: bool) -> None:
    """One `sqs` event of function `key` at `path` (the event's `sqs` key)."""
    cfg: dict[str, Any] = event if isinstance(event, dict) else {"arn": event}
    if isinstance(event, dict):
        ctx.check_keys(
            event,
            path,
            {
                "arn",
                "batchSize",
                "maximumBatchingWindow",
                "enabled",
                "functionResponseType",
                "filterPatterns",
                "maximumConcurrency",
            },
        )
    arn = cfg.get("arn")
    name = _queue_name(arn)
    if not arn or name is None:
        ctx.error(path, "sqs needs the queue's ARN: a string or Fn::GetAtt / Fn::ImportValue / Fn::Join")
        return
    batch = cfg.get("batchSize", 10)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 10_000:
        ctx.error((*path, "batchSize"), "batchSize must be an integer from 1 to 10000")
        return
    window = cfg.get("maximumBatchingWindow")
    if window is not None and (
        not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 300
    ):
        ctx.error((*path, "maximumBatchingWindow"), "maximumBatchingWindow must be an integer from 0 to 300")
        return
    response = cfg.get("functionResponseType")
    if response is not None and response != "ReportBatchItemFailures":
        ctx.error((*path, "functionResponseType"), "functionResponseType must be ReportBatchItemFailures")
        return
    patterns = cfg.get("filterPatterns")
    if patterns is not None and not isinstance(patterns, list):
        ctx.error((*path, "filterPatterns"), "filterPatterns must be a list of patterns")
        return
    concurrency = cfg.get("maximumConcurrency")
    if concurrency is not None and (not isinstance(concurrency, int) or not 2 <= concurrency <= 1000):
        ctx.error((*path, "maximumConcurrency"), "maximumConcurrency must be an integer from 2 to 1000")
        return
    props: dict[str, Any] = clean(
        {
            "BatchSize": batch,
            "MaximumBatchingWindowInSeconds": window,
            "EventSourceArn": arn,
            "FunctionName": function_arn(key),
            "Enabled": cfg.get("enabled", True),
            "FunctionResponseTypes": [response] if response else None,
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps(p)} for p in patterns]}
            if patterns
            else None,
            "ScalingConfig": {"MaximumConcurrency": concurrency} if concurrency is not None else None,
        }
    )
    logical = f"{normalized_function_name(key)}EventSourceMappingSQS{alphanumeric(name)}"
    ctx.resources[logical] = {
        "Type": "AWS::Lambda::EventSourceMapping",
        "DependsOn": [ROLE] if default_role else [],
        "Properties": props,
    }
    ctx.queue_arns.append(arn)


def role_statement(ctx: Context) -> list[dict[str, Any]]:
    """The statement the Framework adds to its role for the queues the functions consume."""
    if not ctx.queue_arns:
        return []
    actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    return [{"Effect": "Allow", "Action": actions, "Resource": list(ctx.queue_arns)}]


def compile_sns(ctx: Context, key: str, event: Any, path: KeyPath) -> None:
    """One `sns` event of function `key` at `path` (the event's `sns` key)."""
    topic_arn: Any = None
    cfg: dict[str, Any] = {}
    if isinstance(event, str) and event:
        if event.startswith("arn:"):
            topic_arn, topic_name = event, event.split(":")[-1]
        else:
            topic_name = event
    elif isinstance(event, dict):
        cfg = event
        ctx.check_keys(
            event,
            path,
            {
                "arn",
                "topicName",
                "displayName",
                "filterPolicy",
                "filterPolicyScope",
                "redrivePolicy",
                "kmsMasterKeyId",
            },
        )
        topic_arn = cfg.get("arn")
        if isinstance(topic_arn, str):
            topic_name = str(cfg.get("topicName") or topic_arn.split(":")[-1])
        elif topic_arn is not None:  # an intrinsic: the Framework needs the name for its logical ids
            if not isinstance(cfg.get("topicName"), str):
                ctx.error((*path, "topicName"), "topicName is required when arn is not a string")
                return
            topic_name = cfg["topicName"]
        elif isinstance(cfg.get("topicName"), str) and cfg["topicName"]:
            topic_name = cfg["topicName"]
        else:
            ctx.error(path, "sns needs a topic: its name, its arn, or {arn | topicName, ...}")
            return
    else:
        ctx.error(path, "sns needs a topic: its name, its arn, or {arn | topicName, ...}")
        return
    scope = cfg.get("filterPolicyScope")
    if scope is not None and scope not in ("MessageAttributes", "MessageBody"):
        ctx.error((*path, "filterPolicyScope"), "filterPolicyScope must be MessageAttributes or MessageBody")
        return
    suffix = alphanumeric(topic_name)
    fn = normalized_function_name(key)
    if topic_arn is None:
        topic_logical = f"SNSTopic{suffix}"
        topic_arn = {"Ref": topic_logical}
        existing = ctx.resources.get(topic_logical)
        if not isinstance(existing, dict):  # another function's event on the same topic made it already
            ctx.resources[topic_logical] = {
                "Type": "AWS::SNS::Topic",
                "Properties": clean(
                    {
                        "TopicName": topic_name,
                        "DisplayName": cfg.get("displayName"),
                        "KmsMasterKeyId": cfg.get("kmsMasterKeyId"),
                    }
                ),
            }
    redrive = _redrive(ctx, cfg.get("redrivePolicy"), (*path, "redrivePolicy"), key, topic_name, topic_arn)
    ctx.resources[f"{fn}SnsSubscription{suffix}"] = {
        "Type": "AWS::SNS::Subscription",
        "Properties": clean(
            {
                "TopicArn": topic_arn,
                "Protocol": "lambda",
                "Endpoint": function_arn(key),
                "FilterPolicy": cfg.get("filterPolicy"),
                "FilterPolicyScope": scope,
                "RedrivePolicy": redrive,
            }
        ),
    }
    ctx.resources[f"{fn}LambdaPermission{suffix}SNS"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "FunctionName": {"Fn::GetAtt": [lambda_logical_id(key), "Arn"]},
            "Action": "lambda:InvokeFunction",
            "Principal": "sns.amazonaws.com",
            "SourceArn": topic_arn,
        },
    }


def _redrive(ctx: Context, policy: Any, path: KeyPath, key: str, topic_name: str, topic_arn: Any) -> Any:
    if policy is None:
        return None
    if not isinstance(policy, dict) or len(policy) != 1:
        ctx.error(
            path,
            "redrivePolicy is one of {deadLetterTargetArn | deadLetterTargetRef | deadLetterTargetImport}",
        )
        return None
    ((kind, value),) = policy.items()
    if kind == "deadLetterTargetArn":
        return {"deadLetterTargetArn": value}
    if kind == "deadLetterTargetImport":
        if not isinstance(value, dict) or "arn" not in value:
            ctx.error((*path, kind), "deadLetterTargetImport is {arn, url}: the names of two exports")
            return None
        return {"deadLetterTargetArn": {"Fn::ImportValue": value["arn"]}}
    if kind == "deadLetterTargetRef":
        target = {"Fn::GetAtt": [value, "Arn"]}
        ctx.resources[f"{normalized_function_name(key)}{alphanumeric(topic_name)}DLQPolicy"] = {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Id": value,
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sns.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": target,
                            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                        }
                    ],
                },
                "Queues": [{"Ref": value}],
            },
        }
        return {"deadLetterTargetArn": target}
    ctx.error((*path, kind), f"unknown redrivePolicy key {kind!r}")
    return None
