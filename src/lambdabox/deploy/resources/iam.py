"""AWS::IAM::Role through the IAM API: the role, its inline Policies and ManagedPolicyArns.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-role.html
"""

from __future__ import annotations

import json
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
    tag_list,
    tag_map,
)


def _document(doc: Any) -> str:
    return doc if isinstance(doc, str) else json.dumps(doc)


class Role(Handler):
    type = "AWS::IAM::Role"
    properties = frozenset(
        [
            "RoleName",
            "AssumeRolePolicyDocument",
            "Policies",
            "ManagedPolicyArns",
            "Path",
            "Description",
            "MaxSessionDuration",
            "Tags",
            "PermissionsBoundary",
        ]
    )
    attributes = frozenset(["Arn", "RoleId"])
    immutable = frozenset(["RoleName", "Path"])
    delete_rank = 90

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        iam = c("iam")
        out = []
        for page in iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                tags = tag_map(iam.list_role_tags(RoleName=role["RoleName"]).get("Tags", []))
                if of_stack(tags, stack):
                    out.append(self._deployed(role, tags))
        return out

    def _deployed(self, role: dict[str, Any], tags: dict[str, str]) -> Deployed:
        return Deployed(
            self.type,
            role["RoleName"],
            tags.get(LOGICAL_TAG),
            attributes={"Arn": role["Arn"], "RoleId": role["RoleId"]},
            observed=role,
            tags=tags,
        )

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        iam = c("iam")
        name = props.get("RoleName") or generated_name(stack, logical_id)
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, logical_id, props)}
        args: dict[str, Any] = {
            k: props[k] for k in ("Path", "Description", "PermissionsBoundary") if k in props
        }
        if "MaxSessionDuration" in props:
            args["MaxSessionDuration"] = int(props["MaxSessionDuration"])
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=_document(props["AssumeRolePolicyDocument"]),
            Tags=tag_list(tags),
            **args,
        )["Role"]
        deployed = self._deployed(role, tags)
        try:
            self._policies(c, name, props)
        except Exception:
            self.delete(c, deployed)
            raise
        return deployed

    def _policies(self, c: Clients, name: str, props: Props, *, current: bool = False) -> None:
        iam = c("iam")
        wanted = {p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies") or []}
        if current:
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
                for old in page["PolicyNames"]:
                    if old not in wanted:
                        iam.delete_role_policy(RoleName=name, PolicyName=old)
        for policy_name, doc in wanted.items():
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=_document(doc))
        arns = list(props.get("ManagedPolicyArns") or [])
        attached = self._attached(c, name) if current else []
        for arn in attached:
            if arn not in arns:
                iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        for arn in arns:
            if arn not in attached:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)

    @staticmethod
    def _attached(c: Clients, name: str) -> list[str]:
        pages = c("iam").get_paginator("list_attached_role_policies").paginate(RoleName=name)
        return [p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]]

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        iam = c("iam")
        name = deployed.physical_id
        changed = set(self.changes(props, deployed)) if props_tag is None else {"*"}
        every = "*" in changed
        if every or "AssumeRolePolicyDocument" in changed:
            iam.update_assume_role_policy(
                RoleName=name, PolicyDocument=_document(props["AssumeRolePolicyDocument"])
            )
        if every or changed & {"Description", "MaxSessionDuration"}:
            iam.update_role(
                RoleName=name,
                Description=props.get("Description", ""),
                MaxSessionDuration=int(props.get("MaxSessionDuration", 3600)),
            )
        if every or "PermissionsBoundary" in changed:
            if "PermissionsBoundary" in props:
                iam.put_role_permissions_boundary(
                    RoleName=name, PermissionsBoundary=props["PermissionsBoundary"]
                )
            elif deployed.observed.get("PermissionsBoundary"):
                iam.delete_role_permissions_boundary(RoleName=name)
        if every or changed & {"Policies", "ManagedPolicyArns"}:
            self._policies(c, name, props, current=True)
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, str(deployed.logical_id), props)}
        if props_tag is not None:
            tags[PROPS_TAG] = props_tag
        gone = [k for k in deployed.tags if k not in tags]
        if gone:
            iam.untag_role(RoleName=name, TagKeys=gone)
        iam.tag_role(RoleName=name, Tags=tag_list(tags))
        return self._deployed(iam.get_role(RoleName=name)["Role"], tags)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        iam = c("iam")
        name = deployed.physical_id
        role = iam.get_role(RoleName=name)["Role"]
        props: Props = {
            "AssumeRolePolicyDocument": role["AssumeRolePolicyDocument"],
            "Description": role.get("Description", ""),
            "MaxSessionDuration": role.get("MaxSessionDuration", 3600),
            "ManagedPolicyArns": self._attached(c, name),
            "Policies": [
                {
                    "PolicyName": p,
                    "PolicyDocument": iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"],
                }
                for page in iam.get_paginator("list_role_policies").paginate(RoleName=name)
                for p in page["PolicyNames"]
            ],
            "Tags": {k: v for k, v in deployed.tags.items() if k not in (STACK_TAG, LOGICAL_TAG, PROPS_TAG)},
        }
        if role.get("PermissionsBoundary"):
            props["PermissionsBoundary"] = role["PermissionsBoundary"]["PermissionsBoundaryArn"]
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        iam = c("iam")
        name = deployed.physical_id
        for arn in self._attached(c, name):
            iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
            for policy_name in page["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        iam.delete_role(RoleName=name)
