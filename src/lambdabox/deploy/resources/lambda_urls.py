"""AWS::Lambda::Url: a function URL, an untagged child of its function matched by natural key
(unqualified function ARN, qualifier or ""), deployed through the Function URL operations.

Its physical id is the ARN the URL invokes (the function's, or the alias's), as CloudFormation's
Ref gives; `Fn::GetAtt` offers FunctionArn and FunctionUrl. AuthType, Cors and InvokeMode change in
place (UpdateFunctionUrlConfig); another target or qualifier is a new URL (and a new url-id).
"""

from __future__ import annotations

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
)

_MUTABLE = ("AuthType", "Cors", "InvokeMode")


def _unqualified(arn: str) -> str:
    return ":".join(arn.split(":")[:7])


def _qualifier(arn: str) -> str:
    return arn.split(":")[7] if arn.count(":") == 7 else ""


class Url(Handler):
    type = "AWS::Lambda::Url"
    properties = frozenset(["TargetFunctionArn", "Qualifier", *_MUTABLE])
    attributes = frozenset(["FunctionArn", "FunctionUrl"])
    immutable = frozenset(["TargetFunctionArn", "Qualifier"])
    tagged = False
    parent_type = "AWS::Lambda::Function"
    delete_rank = 15

    def describe(self, deployed: Deployed) -> str:
        arn = str(deployed.physical_id)
        qualifier = _qualifier(arn)
        return f"Function URL of {function_name(_unqualified(arn))}" + (f":{qualifier}" if qualifier else "")

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        lam = c("lambda")
        out: list[Deployed] = []
        for fn in parents:
            try:
                pages = list(
                    lam.get_paginator("list_function_url_configs").paginate(FunctionName=fn.physical_id)
                )
            except ClientError as exc:
                if is_not_found(exc):
                    continue
                raise
            for page in pages:
                out.extend(self._deployed(u) for u in page["FunctionUrlConfigs"])
        return out

    def _deployed(self, u: dict[str, Any]) -> Deployed:
        arn = str(u["FunctionArn"])
        return Deployed(
            self.type,
            arn,
            key=(_unqualified(arn), _qualifier(arn)),
            parent=_unqualified(arn),
            attributes={"FunctionArn": arn, "FunctionUrl": str(u["FunctionUrl"])},
            observed=u,
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        target = c.function_arn(str(props["TargetFunctionArn"]))
        qualifier = str(props.get("Qualifier") or _qualifier(target))
        return (_unqualified(target), qualifier)

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        o = deployed.observed
        changed = [k for k in ("AuthType", "InvokeMode") if not same(props.get(k), o.get(k))]
        if (props.get("Cors") or None) != (o.get("Cors") or None) and not same(
            props.get("Cors"), o.get("Cors")
        ):
            changed.append("Cors")
        return sorted(changed)

    def _args(self, props: Props) -> dict[str, Any]:
        return {k: props[k] for k in _MUTABLE if props.get(k) not in (None, "")}

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        fn, qualifier = self.key(c, logical_id, props) or ("", "")
        target = {"FunctionName": fn, **({"Qualifier": qualifier} if qualifier else {})}
        u = c("lambda").create_function_url_config(**target, **self._args(props))
        return self._deployed(u)

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        assert deployed.key is not None
        fn, qualifier = deployed.key
        target = {"FunctionName": fn, **({"Qualifier": qualifier} if qualifier else {})}
        args = self._args(props)
        args.setdefault("Cors", {})  # a template without Cors takes the URL's away
        u = c("lambda").update_function_url_config(**target, **args)
        return self._deployed(u)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        o = deployed.observed
        props: Props = {"TargetFunctionArn": deployed.physical_id}
        props.update({k: o[k] for k in _MUTABLE if o.get(k)})
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        assert deployed.key is not None
        fn, qualifier = deployed.key
        target = {"FunctionName": fn, **({"Qualifier": qualifier} if qualifier else {})}
        try:
            c("lambda").delete_function_url_config(**target)
        except ClientError as exc:
            if not is_not_found(exc):
                raise
