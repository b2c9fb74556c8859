"""AWS::Logs::LogGroup through the CloudWatch Logs API (name, retention, tags).
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-logs-loggroup.html
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lambdabox.deploy.resources.base import (
    LOGICAL_TAG,
    PROPS_TAG,
    STACK_TAG,
    Clients,
    Deployed,
    Handler,
    Props,
    generated_name,
    of_stack,
    stack_tags,
    tag_map,
)


class LogGroup(Handler):
    type = "AWS::Logs::LogGroup"
    properties = frozenset(["LogGroupName", "RetentionInDays", "Tags"])
    attributes = frozenset(["Arn"])
    immutable = frozenset(["LogGroupName"])
    delete_rank = 95

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        logs = c("logs")
        out = []
        for page in logs.get_paginator("describe_log_groups").paginate():
            for group in page["logGroups"]:
                tags = logs.list_tags_log_group(logGroupName=group["logGroupName"]).get("tags", {})
                if of_stack(tags, stack):
                    out.append(self._deployed(group, tags))
        return out

    def _deployed(self, group: dict[str, Any], tags: dict[str, str]) -> Deployed:
        return Deployed(
            self.type,
            group["logGroupName"],
            tags.get(LOGICAL_TAG),
            attributes={"Arn": group.get("arn", "")},
            observed=group,
            tags=tags,
        )

    def _read(self, c: Clients, name: str) -> dict[str, Any]:
        groups = c("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        return next(g for g in groups if g["logGroupName"] == name)

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        logs = c("logs")
        name = props.get("LogGroupName") or generated_name(stack, logical_id, 512)
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, logical_id, props)}
        logs.create_log_group(logGroupName=name, tags=tags)
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        return self._deployed(self._read(c, name), tags)

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        logs = c("logs")
        name = deployed.physical_id
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        elif deployed.observed.get("retentionInDays"):
            logs.delete_retention_policy(logGroupName=name)
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, str(deployed.logical_id), props)}
        if props_tag is not None:
            tags[PROPS_TAG] = props_tag
        gone = [k for k in deployed.tags if k not in tags]
        if gone:
            logs.untag_log_group(logGroupName=name, tags=gone)
        logs.tag_log_group(logGroupName=name, tags=tags)
        return self._deployed(self._read(c, name), tags)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        props: Props = {
            "LogGroupName": deployed.physical_id,
            "Tags": {k: v for k, v in deployed.tags.items() if k not in (STACK_TAG, LOGICAL_TAG, PROPS_TAG)},
        }
        if deployed.observed.get("retentionInDays"):
            props["RetentionInDays"] = deployed.observed["retentionInDays"]
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("logs").delete_log_group(logGroupName=deployed.physical_id)
