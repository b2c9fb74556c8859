"""What AWS::SQS::QueuePolicy and AWS::SNS::TopicPolicy share: a policy with no identity of its
own, only the `Policy` attribute it sets on each queue or topic it names. Those carry a tag
holding the policy's logical id, by which it is found again (only on the stack's own queues and
topics, the parents it is looked for among); deleting it clears what it set. A subclass says
which property names the targets and how a target's policy is set and cleared."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from lambdabox.deploy.resources.base import Clients, Deployed, Handler, Props, Severity


def document(props: Props) -> str:
    """The template's PolicyDocument as the JSON text the service stores."""
    doc = props.get("PolicyDocument")
    return doc if isinstance(doc, str) else json.dumps(doc, separators=(",", ":"))


class ResourcePolicy(Handler):
    """A policy set on the resources its `targets_property` lists (see the module's docstring)."""

    #: the property listing the targets ("Queues", "Topics") and what it holds, for its error
    targets_property: ClassVar[str]
    targets_are: ClassVar[str]
    #: the tag on a target naming the policy's logical id
    policy_tag: ClassVar[str]
    tagged = False
    delete_rank = 15

    def _apply(self, c: Clients, target: str, doc: str, logical_id: str) -> None:
        """Set `doc` as the target's policy and tag it as this policy's."""
        raise NotImplementedError

    def _remove(self, c: Clients, target: str) -> None:
        """Clear the target's policy and tag (nothing if it is gone)."""
        raise NotImplementedError

    def targets(self, props: Props) -> list[str]:
        given = props.get(self.targets_property) or []
        return [str(t) for t in (given if isinstance(given, list) else [given])]

    def check(self, props: Mapping[str, Any]) -> list[tuple[Severity, str, str]]:
        out: list[tuple[Severity, str, str]] = []
        if not props.get(self.targets_property):
            out.append(
                ("error", self.targets_property, f"{self.targets_property} is required: {self.targets_are}")
            )
        if not isinstance(props.get("PolicyDocument"), Mapping | str):
            out.append(("error", "PolicyDocument", "PolicyDocument is required: an IAM policy document"))
        return out

    def describe(self, deployed: Deployed) -> str:
        return str(deployed.logical_id)

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        by_policy: dict[str, dict[str, str]] = {}
        for t in parents:
            if t.tags.get(self.policy_tag):
                by_policy.setdefault(t.tags[self.policy_tag], {})[t.physical_id] = str(
                    t.observed.get("Policy", "")
                )
        return [self._deployed(lid, policies) for lid, policies in by_policy.items()]

    def _deployed(self, logical_id: str, policies: dict[str, str]) -> Deployed:
        targets = sorted(policies)
        return Deployed(
            self.type,
            logical_id,
            logical_id,
            key=(logical_id,),
            parent=targets[0] if targets else None,
            observed={self.targets_property: targets, "Policies": policies},
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (logical_id,)

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        out = []
        if sorted(self.targets(props)) != list(deployed.observed.get(self.targets_property, [])):
            out.append(self.targets_property)
        want = json.loads(document(props))
        if any(not p or json.loads(p) != want for p in dict(deployed.observed.get("Policies", {})).values()):
            out.append("PolicyDocument")
        return out

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        doc = document(props)
        for target in self.targets(props):
            self._apply(c, target, doc, logical_id)
        return self._deployed(logical_id, dict.fromkeys(self.targets(props), doc))

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        keep = set(self.targets(props))
        for target in deployed.observed.get(self.targets_property, []):
            if target not in keep:
                self._remove(c, target)
        return self.create(c, stack, str(deployed.logical_id), props)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        policies = dict(deployed.observed.get("Policies", {}))
        doc = next((p for p in policies.values() if p), "{}")
        return {
            self.targets_property: list(deployed.observed.get(self.targets_property, [])),
            "PolicyDocument": json.loads(doc),
        }

    def delete(self, c: Clients, deployed: Deployed) -> None:
        for target in deployed.observed.get(self.targets_property, []):
            self._remove(c, target)
