"""AWS::Lambda::Version, AWS::Lambda::Alias and AWS::Lambda::Permission: parts of a function that
carry no tags, found through the stack's functions and matched by natural key.

- Version: (function ARN, CodeSha256, Description, configuration). The CodeSha256 a Version
  publishes is that of its function's code in the template, and it snapshots the function's
  configuration (handler, runtime, memory, timeout, environment: `version_config`), so a Version
  whose function's code or configuration changed is published anew and the old one deleted (CloudFormation publishes only when the Version's properties
  change; SAM's AutoPublishAlias renames the Version for that). Versions are immutable.
- Alias: (function ARN, Name); FunctionVersion, Description and RoutingConfig update in place, and
  its ProvisionedConcurrencyConfig is put (or deleted) with PutProvisionedConcurrencyConfig once the
  alias is in place (the environments are initialised in the background: not waited for).
- Permission: (function ARN with qualifier, statement id), the statement id being the logical id;
  an update removes the statement and adds it again. Statements on the stack's functions whose id
  is a logical id (alphanumeric) and that the template no longer has are deleted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from lambdabox.deploy.resources.base import (
    Clients,
    Deployed,
    Handler,
    Props,
    function_name,
    is_not_found,
    same,
    version_config,
    wait_for,
)


def _unqualified(arn: str) -> str:
    return ":".join(arn.split(":")[:7])


class Version(Handler):
    type = "AWS::Lambda::Version"
    properties = frozenset(["FunctionName", "Description", "CodeSha256"])
    attributes = frozenset(["Version", "FunctionArn"])
    immutable = frozenset(["FunctionName", "Description", "CodeSha256"])
    tagged = False
    parent_type = "AWS::Lambda::Function"
    delete_rank = 30

    def describe(self, deployed: Deployed) -> str:
        return f"Version {deployed.attributes.get('Version', '?')} of {function_name(deployed.parent)}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        lam = c("lambda")
        found: dict[tuple[str, ...], Deployed] = {}
        extra = []
        for fn in parents:
            for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=fn.physical_id):
                for v in page["Versions"]:
                    if v["Version"] == "$LATEST":
                        continue
                    d = self._deployed(v, fn.attributes["Arn"])
                    assert d.key is not None
                    if d.key in found:  # the same code published twice: the older one is left over
                        extra.append(found[d.key])
                    found[d.key] = d
        return [*found.values(), *extra]

    def _deployed(self, v: dict[str, Any], fn_arn: str) -> Deployed:
        key = (fn_arn, str(v.get("CodeSha256", "")), str(v.get("Description", "")), version_config(v))
        return Deployed(
            self.type,
            v["FunctionArn"],
            key=key,
            parent=fn_arn,
            attributes={"Version": v["Version"], "FunctionArn": fn_arn},
            observed=v,
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        fn = _unqualified(c.function_arn(str(props["FunctionName"])))
        sha = props.get("CodeSha256") or c.expected_code.get(fn)
        config = c.expected_config.get(fn)
        if sha is None or config is None:
            return None
        return (fn, str(sha), str(props.get("Description", "")), config)

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        return []  # matched by every property it has

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        lam = c("lambda")
        fn = _unqualified(c.function_arn(str(props["FunctionName"])))
        args = {k: props[k] for k in ("Description", "CodeSha256") if k in props}
        v = lam.publish_version(FunctionName=fn, **args)

        def active() -> bool:
            cfg = lam.get_function_configuration(FunctionName=fn, Qualifier=v["Version"])
            return bool(cfg.get("State", "Active") == "Active")

        wait_for(active, f"version {v['Version']} of {fn}")
        return self._deployed(v, fn)

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("lambda").delete_function(FunctionName=deployed.physical_id)


class Alias(Handler):
    type = "AWS::Lambda::Alias"
    properties = frozenset(
        [
            "FunctionName",
            "Name",
            "FunctionVersion",
            "Description",
            "RoutingConfig",
            "ProvisionedConcurrencyConfig",
        ]
    )
    attributes = frozenset(["AliasArn"])
    immutable = frozenset(["FunctionName", "Name"])
    tagged = False
    parent_type = "AWS::Lambda::Function"
    delete_rank = 20

    def describe(self, deployed: Deployed) -> str:
        return f"Alias {deployed.observed.get('Name', '?')} of {function_name(deployed.parent)}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        lam = c("lambda")
        out: list[Deployed] = []
        for fn in parents:
            provisioned = {
                str(p["FunctionArn"]): p
                for page in lam.get_paginator("list_provisioned_concurrency_configs").paginate(
                    FunctionName=fn.physical_id
                )
                for p in page["ProvisionedConcurrencyConfigs"]
            }
            for page in lam.get_paginator("list_aliases").paginate(FunctionName=fn.physical_id):
                for a in page["Aliases"]:
                    p = provisioned.get(a["AliasArn"])
                    if p is not None:
                        count = p["RequestedProvisionedConcurrentExecutions"]
                        a = {**a, "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": count}}
                    out.append(self._deployed(a, fn.attributes["Arn"]))
        return out

    def _deployed(self, a: dict[str, Any], fn_arn: str) -> Deployed:
        return Deployed(
            self.type,
            a["AliasArn"],
            key=(fn_arn, a["Name"]),
            parent=fn_arn,
            attributes={"AliasArn": a["AliasArn"]},
            observed=a,
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (_unqualified(c.function_arn(str(props["FunctionName"]))), str(props["Name"]))

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        fields = ("FunctionVersion", "Description", "RoutingConfig")
        changed = [k for k in fields if not same(props.get(k), deployed.observed.get(k))]
        want, have = (
            props.get("ProvisionedConcurrencyConfig"),
            deployed.observed.get("ProvisionedConcurrencyConfig"),
        )
        if (want or None) != (have or None) and not same(want, have):
            changed.append("ProvisionedConcurrencyConfig")
        return sorted(changed)

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        fn = _unqualified(c.function_arn(str(props["FunctionName"])))
        args = {k: props[k] for k in ("FunctionVersion", "Description", "RoutingConfig") if k in props}
        a = c("lambda").create_alias(FunctionName=fn, Name=props["Name"], **args)
        try:
            self._provision(c, fn, a, props, None)
        except Exception:  # refused: the alias goes too, so nothing of this resource is left
            c("lambda").delete_alias(FunctionName=fn, Name=props["Name"])
            raise
        return self._deployed(a, fn)

    def _provision(self, c: Clients, fn: str, alias: dict[str, Any], props: Props, before: Any) -> None:
        """Put the alias's ProvisionedConcurrencyConfig, or delete the one it had (`before`)."""
        want = props.get("ProvisionedConcurrencyConfig")
        if isinstance(want, dict) and want.get("ProvisionedConcurrentExecutions") is not None:
            count = int(want["ProvisionedConcurrentExecutions"])
            c("lambda").put_provisioned_concurrency_config(
                FunctionName=fn, Qualifier=alias["Name"], ProvisionedConcurrentExecutions=count
            )
            alias["ProvisionedConcurrencyConfig"] = {"ProvisionedConcurrentExecutions": count}
        elif before:
            c("lambda").delete_provisioned_concurrency_config(FunctionName=fn, Qualifier=alias["Name"])

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        fn = _unqualified(c.function_arn(str(props["FunctionName"])))
        a = c("lambda").update_alias(
            FunctionName=fn,
            Name=props["Name"],
            FunctionVersion=props["FunctionVersion"],
            Description=props.get("Description", ""),
            RoutingConfig=props.get("RoutingConfig", {}),
        )
        self._provision(c, fn, a, props, deployed.observed.get("ProvisionedConcurrencyConfig"))
        return self._deployed(a, fn)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        o = deployed.observed
        return {
            "FunctionName": deployed.parent,
            "Name": o["Name"],
            "FunctionVersion": o["FunctionVersion"],
            "Description": o.get("Description", ""),
            "RoutingConfig": o.get("RoutingConfig", {}),
            **({"ProvisionedConcurrencyConfig": o["ProvisionedConcurrencyConfig"]}
               if o.get("ProvisionedConcurrencyConfig") else {}),
        }  # fmt: skip

    def delete(self, c: Clients, deployed: Deployed) -> None:
        assert deployed.key is not None
        c("lambda").delete_alias(FunctionName=deployed.key[0], Name=deployed.key[1])


_PERMISSION_ARGS = (
    "Action",
    "Principal",
    "SourceArn",
    "SourceAccount",
    "EventSourceToken",
    "PrincipalOrgID",
    "FunctionUrlAuthType",
    "InvokedViaFunctionUrl",
)


def _text(value: Any) -> str:
    """A property's value as it appears in the policy statement (booleans as JSON's `true`)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


class Permission(Handler):
    type = "AWS::Lambda::Permission"
    properties = frozenset(["FunctionName", *_PERMISSION_ARGS])
    tagged = False
    parent_type = "AWS::Lambda::Function"
    delete_rank = 10

    def describe(self, deployed: Deployed) -> str:
        target, sid = deployed.key or (str(deployed.parent), deployed.physical_id)
        qualifier = f":{target.split(':')[7]}" if target.count(":") == 7 else ""
        return f"Permission {sid} of {function_name(target)}{qualifier}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        lam = c("lambda")
        out: list[Deployed] = []
        for fn in parents:
            arn = fn.attributes["Arn"]
            qualified = [arn]
            for page in lam.get_paginator("list_aliases").paginate(FunctionName=fn.physical_id):
                qualified.extend(a["AliasArn"] for a in page["Aliases"])
            for target in qualified:
                qualifier = target.split(":")[7] if target.count(":") == 7 else None
                try:
                    args = {"FunctionName": arn, **({"Qualifier": qualifier} if qualifier else {})}
                    policy = json.loads(lam.get_policy(**args)["Policy"])
                except ClientError as exc:
                    if is_not_found(exc):
                        continue
                    raise
                for st in policy.get("Statement", []):
                    sid = str(st.get("Sid", ""))
                    if sid.isalnum():
                        out.append(
                            Deployed(self.type, f"{target}|{sid}", key=(target, sid), parent=arn, observed=st)
                        )
        return out

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (c.function_arn(str(props["FunctionName"])), logical_id)

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        text = json.dumps(deployed.observed)
        return sorted(k for k in _PERMISSION_ARGS if k in props and _text(props[k]) not in text)

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        target = c.function_arn(str(props["FunctionName"]))
        args = {k: props[k] for k in _PERMISSION_ARGS if k in props}
        got = c("lambda").add_permission(FunctionName=target, StatementId=logical_id, **args)
        st = json.loads(got["Statement"])
        return Deployed(
            self.type,
            f"{target}|{logical_id}",
            key=(target, logical_id),
            observed=st,
            parent=_unqualified(target),
        )

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        self.delete(c, deployed)
        assert deployed.key is not None
        return self.create(c, stack, deployed.key[1], props)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        st = deployed.observed
        principal = st.get("Principal", "*")
        if isinstance(principal, dict):
            principal = principal.get("Service") or principal.get("AWS") or "*"
        props: Props = {
            "FunctionName": deployed.key[0] if deployed.key else "",
            "Action": st.get("Action"),
            "Principal": principal,
        }
        cond = st.get("Condition", {})
        source_arn = cond.get("ArnLike", {}).get("AWS:SourceArn")
        if source_arn:
            props["SourceArn"] = source_arn
        source_account = cond.get("StringEquals", {}).get("AWS:SourceAccount")
        if source_account:
            props["SourceAccount"] = source_account
        auth_type = cond.get("StringEquals", {}).get("lambda:FunctionUrlAuthType")
        if auth_type:
            props["FunctionUrlAuthType"] = auth_type
        if cond.get("Bool", {}).get("lambda:InvokedViaFunctionUrl") == "true":
            props["InvokedViaFunctionUrl"] = True
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        assert deployed.key is not None
        target, sid = deployed.key
        qualifier = target.split(":")[7] if target.count(":") == 7 else None
        args = {"FunctionName": _unqualified(target), **({"Qualifier": qualifier} if qualifier else {})}
        c("lambda").remove_permission(StatementId=sid, **args)
