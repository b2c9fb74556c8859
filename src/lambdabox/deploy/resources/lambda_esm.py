"""AWS::Lambda::EventSourceMapping through the Lambda API.

A mapping is found through the stack's functions (ListEventSourceMappings) and matched by
(function ARN, EventSourceArn), which Lambda keeps unique for a queue; Ref is its UUID. BatchSize,
MaximumBatchingWindowInSeconds, Enabled, FilterCriteria, FunctionResponseTypes and ScalingConfig
update in place (UpdateEventSourceMapping), a property the template drops goes back to Lambda's
default; a new function or event source is a new mapping, the old one deleted.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-eventsourcemapping.html
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from lambdabox.deploy.resources.base import Clients, Deployed, Handler, Props, Severity, function_name

_SETTINGS = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "Enabled",
    "FilterCriteria",
    "FunctionResponseTypes",
    "ScalingConfig",
)
#: what UpdateEventSourceMapping is given for a setting the template leaves out (an SQS source's defaults)
_DEFAULTS: dict[str, Any] = {
    "BatchSize": 10,
    "MaximumBatchingWindowInSeconds": 0,
    "Enabled": True,
    "FilterCriteria": {},
    "FunctionResponseTypes": [],
}


def _unqualified(arn: str) -> str:
    return ":".join(arn.split(":")[:7])


def _filters(value: Any) -> list[Any]:
    """A FilterCriteria's patterns, parsed, for comparing."""
    filters = value.get("Filters") if isinstance(value, Mapping) else None
    out = []
    for f in filters or []:
        pattern = f.get("Pattern") if isinstance(f, Mapping) else None
        try:
            out.append(json.loads(pattern) if isinstance(pattern, str) else pattern)
        except ValueError:
            out.append(pattern)
    return out


class EventSourceMapping(Handler):
    type = "AWS::Lambda::EventSourceMapping"
    properties = frozenset(["FunctionName", "EventSourceArn", *_SETTINGS])
    attributes = frozenset(["Id", "EventSourceMappingArn"])
    immutable = frozenset(["EventSourceArn", "FunctionName"])
    tagged = False
    parent_type = "AWS::Lambda::Function"
    delete_rank = 12

    def check(self, props: Mapping[str, Any]) -> list[tuple[Severity, str, str]]:
        out: list[tuple[Severity, str, str]] = []
        for required in ("FunctionName", "EventSourceArn"):
            if props.get(required) in (None, ""):
                out.append(("error", required, f"{required} is required"))
        types = props.get("FunctionResponseTypes")
        if types is not None and (
            not isinstance(types, list) or any(t != "ReportBatchItemFailures" for t in types)
        ):
            out.append(
                (
                    "error",
                    "FunctionResponseTypes",
                    "FunctionResponseTypes is a list of ReportBatchItemFailures",
                )
            )
        return out

    def describe(self, deployed: Deployed) -> str:
        source = str(deployed.observed.get("EventSourceArn", "")).rsplit(":", 1)[-1]
        return f"EventSourceMapping {source} -> {function_name(deployed.observed.get('FunctionArn'))}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        lam = c("lambda")
        out: list[Deployed] = []
        for fn in parents:
            pages = lam.get_paginator("list_event_source_mappings").paginate(FunctionName=fn.physical_id)
            for page in pages:
                out.extend(self._deployed(m) for m in page.get("EventSourceMappings", []))
        return out

    def _deployed(self, m: dict[str, Any]) -> Deployed:
        return Deployed(
            self.type,
            m["UUID"],
            key=(m["FunctionArn"], m["EventSourceArn"]),
            parent=_unqualified(m["FunctionArn"]),
            attributes={"Id": m["UUID"], "EventSourceMappingArn": m.get("EventSourceMappingArn", "")},
            observed=m,
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (c.function_arn(str(props["FunctionName"])), str(props["EventSourceArn"]))

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        o = deployed.observed
        out = []
        for k in _SETTINGS:
            want = props.get(k, _DEFAULTS.get(k))
            have = o.get(k, _DEFAULTS.get(k))
            if k == "FilterCriteria":
                if _filters(want) != _filters(have):
                    out.append(k)
            elif k == "Enabled":
                if str(want).lower() != (
                    "true" if o.get("State") in ("Enabled", "Enabling", "Creating") else "false"
                ):
                    out.append(k)
            elif k == "ScalingConfig":
                wanted = (want or {}).get("MaximumConcurrency")
                if wanted is not None and str(wanted) != str((have or {}).get("MaximumConcurrency")):
                    out.append(k)
            elif k == "FunctionResponseTypes":
                if list(want or []) != list(have or []):
                    out.append(k)
            elif str(want) != str(have):
                out.append(k)
        return out

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        args = {k: props[k] for k in _SETTINGS if props.get(k) is not None}
        m = c("lambda").create_event_source_mapping(
            FunctionName=c.function_arn(str(props["FunctionName"])),
            EventSourceArn=str(props["EventSourceArn"]),
            **args,
        )
        return self._deployed(m)

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        args = {k: props.get(k, _DEFAULTS[k]) for k in _DEFAULTS}
        if props.get("ScalingConfig") is not None:
            args["ScalingConfig"] = props["ScalingConfig"]
        elif deployed.observed.get("ScalingConfig"):
            args["ScalingConfig"] = {}
        m = c("lambda").update_event_source_mapping(UUID=deployed.physical_id, **args)
        return self._deployed(m)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        o = deployed.observed
        props: Props = {
            "FunctionName": o["FunctionArn"],
            "EventSourceArn": o["EventSourceArn"],
            "Enabled": o.get("State") in ("Enabled", "Enabling", "Creating"),
        }
        props.update({k: o[k] for k in _SETTINGS if k in o and k != "Enabled"})
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("lambda").delete_event_source_mapping(UUID=deployed.physical_id)
