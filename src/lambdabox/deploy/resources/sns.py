"""AWS::SNS::Topic, AWS::SNS::Subscription and AWS::SNS::TopicPolicy through the SNS API.

- Topic: found by its tags (ListTopics, ListTagsForResource); Ref is its ARN. TopicName and
  FifoTopic are replacements, DisplayName and the others are set in place (SetTopicAttributes).
  Its inline `Subscription` list is subscribed with it; the topic's tag `lambdabox:subscriptions`
  holds a short digest of each (protocol, endpoint) it subscribed, so an update unsubscribes those
  the list no longer has and AWS::SNS::Subscription resources leave them alone.
- Subscription: untaggable, found through the stack's topics, functions and queues (its topic or
  its endpoint) and matched by (TopicArn, Protocol, Endpoint), as SNS itself makes a subscription
  unique; FilterPolicy, FilterPolicyScope, RawMessageDelivery and RedrivePolicy update in place.
  A subscription of the stack's functions or queues that the template does not have is deleted.
- TopicPolicy: the `Policy` attribute of the topics it names, found through the topics' tag
  `lambdabox:topic-policy`; deleting it puts SNS's default policy back.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-topic.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-subscription.html
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from lambdabox.deploy.resources.base import (
    LOGICAL_TAG,
    PROPS_TAG,
    STACK_TAG,
    Clients,
    Deployed,
    Handler,
    Props,
    Severity,
    generated_name,
    of_stack,
    stack_tags,
    tag_list,
    tag_map,
)
from lambdabox.deploy.resources.resource_policies import ResourcePolicy

SUBSCRIPTIONS_TAG = "lambdabox:subscriptions"
POLICY_TAG = "lambdabox:topic-policy"
_OWN_TAGS = (STACK_TAG, LOGICAL_TAG, PROPS_TAG, SUBSCRIPTIONS_TAG, POLICY_TAG)
_TOPIC_ATTRIBUTES = ("DisplayName", "KmsMasterKeyId", "ContentBasedDeduplication", "SignatureVersion")
_SUBSCRIPTION_ATTRIBUTES = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
#: a subscription attribute's value when the template does not give it
_SUBSCRIPTION_DEFAULTS = {"FilterPolicy": "", "FilterPolicyScope": "MessageAttributes", "RawMessageDelivery": "false", "RedrivePolicy": ""}  # fmt: skip


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _digest(protocol: str, endpoint: str) -> str:
    return hashlib.sha256(f"{protocol} {endpoint}".encode()).hexdigest()[:8]


def _is_fifo(props: Props) -> bool:
    return _text(props.get("FifoTopic", "false")).lower() == "true"


def _inline(props: Props) -> list[tuple[str, str]]:
    subs = props.get("Subscription") or []
    return [(str(s.get("Protocol")), str(s.get("Endpoint"))) for s in subs if isinstance(s, Mapping)]


class Topic(Handler):
    type = "AWS::SNS::Topic"
    properties = frozenset(["TopicName", "FifoTopic", "Subscription", "Tags", *_TOPIC_ATTRIBUTES])
    attributes = frozenset(["TopicArn", "TopicName"])
    immutable = frozenset(["TopicName", "FifoTopic"])
    delete_rank = 85

    def check(self, props: Mapping[str, Any]) -> list[tuple[Severity, str, str]]:
        out: list[tuple[Severity, str, str]] = []
        name = props.get("TopicName")
        if isinstance(name, str) and _is_fifo(dict(props)) != name.endswith(".fifo"):
            out.append(
                ("error", "TopicName", "a FIFO topic's name ends with .fifo (and only a FIFO topic's)")
            )
        subs = props.get("Subscription")
        if subs is not None and (
            not isinstance(subs, list)
            or not all(isinstance(s, Mapping) and "Protocol" in s and "Endpoint" in s for s in subs)
        ):
            out.append(("error", "Subscription", "Subscription is a list of {Endpoint, Protocol}"))
        return out

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        sns = c("sns")
        out = []
        for page in sns.get_paginator("list_topics").paginate():
            for t in page.get("Topics", []):
                tags = tag_map(sns.list_tags_for_resource(ResourceArn=t["TopicArn"]).get("Tags"))
                if of_stack(tags, stack):
                    out.append(self._read(c, t["TopicArn"], tags))
        return out

    def _read(self, c: Clients, arn: str, tags: dict[str, str]) -> Deployed:
        attrs = c("sns").get_topic_attributes(TopicArn=arn)["Attributes"]
        return Deployed(
            self.type,
            arn,
            tags.get(LOGICAL_TAG),
            attributes={"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[-1]},
            observed=attrs,
            tags=tags,
        )

    def _attributes(self, props: Props) -> dict[str, str]:
        return {k: _text(props[k]) for k in _TOPIC_ATTRIBUTES if props.get(k) is not None}

    def _tags(self, stack: str, logical_id: str, props: Props) -> dict[str, str]:
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, logical_id, props)}
        digests = " ".join(_digest(p, e) for p, e in _inline(props))
        if digests:
            tags[SUBSCRIPTIONS_TAG] = digests
        return tags

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        sns = c("sns")
        name = props.get("TopicName")
        if not name:
            fifo = _is_fifo(props)
            name = generated_name(stack, logical_id, 256 - (5 if fifo else 0)) + (".fifo" if fifo else "")
        attributes = self._attributes(props)
        if _is_fifo(props):
            attributes["FifoTopic"] = "true"
        tags = self._tags(stack, logical_id, props)
        arn = sns.create_topic(Name=str(name), Attributes=attributes, Tags=tag_list(tags))["TopicArn"]
        for protocol, endpoint in _inline(props):
            sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint)
        return self._read(c, arn, tags)

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        sns = c("sns")
        arn = deployed.physical_id
        for k, v in self._attributes(props).items():
            if deployed.observed.get(k, "") != v:
                sns.set_topic_attributes(TopicArn=arn, AttributeName=k, AttributeValue=v)
        if "DisplayName" not in props and deployed.observed.get("DisplayName"):
            sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="")
        had = set(deployed.tags.get(SUBSCRIPTIONS_TAG, "").split())
        want = {_digest(p, e): (p, e) for p, e in _inline(props)}
        present = set()
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn):
            for s in page.get("Subscriptions", []):
                d = _digest(s["Protocol"], s["Endpoint"])
                present.add(d)
                if d in had and d not in want:
                    sns.unsubscribe(SubscriptionArn=s["SubscriptionArn"])
        for d, (protocol, endpoint) in want.items():
            if d not in present:
                sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint)
        tags = self._tags(stack, str(deployed.logical_id), props)
        if props_tag is not None:
            tags[PROPS_TAG] = props_tag
        if POLICY_TAG in deployed.tags:
            tags[POLICY_TAG] = deployed.tags[POLICY_TAG]
        gone = [k for k in deployed.tags if k not in tags]
        if gone:
            sns.untag_resource(ResourceArn=arn, TagKeys=gone)
        sns.tag_resource(ResourceArn=arn, Tags=tag_list(tags))
        return self._read(c, arn, tags)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        o = deployed.observed
        props: Props = {k: o[k] for k in _TOPIC_ATTRIBUTES if o.get(k) not in (None, "")}
        props["TopicName"] = deployed.attributes.get("TopicName")
        props["Tags"] = {k: v for k, v in deployed.tags.items() if k not in _OWN_TAGS}
        had = set(deployed.tags.get(SUBSCRIPTIONS_TAG, "").split())
        subs = []
        for page in (
            c("sns").get_paginator("list_subscriptions_by_topic").paginate(TopicArn=deployed.physical_id)
        ):
            subs += [
                {"Protocol": s["Protocol"], "Endpoint": s["Endpoint"]}
                for s in page.get("Subscriptions", [])
                if _digest(s["Protocol"], s["Endpoint"]) in had
            ]
        if subs:
            props["Subscription"] = subs
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("sns").delete_topic(TopicArn=deployed.physical_id)


class Subscription(Handler):
    type = "AWS::SNS::Subscription"
    properties = frozenset(["TopicArn", "Protocol", "Endpoint", "Region", *_SUBSCRIPTION_ATTRIBUTES])
    immutable = frozenset(["TopicArn", "Protocol", "Endpoint"])
    tagged = False
    parent_type = "AWS::SNS::Topic"
    other_parents = frozenset(["AWS::Lambda::Function", "AWS::SQS::Queue"])
    delete_rank = 10

    def check(self, props: Mapping[str, Any]) -> list[tuple[Severity, str, str]]:
        out: list[tuple[Severity, str, str]] = []
        for required in ("TopicArn", "Protocol"):
            if props.get(required) in (None, ""):
                out.append(("error", required, f"{required} is required"))
        scope = props.get("FilterPolicyScope")
        if isinstance(scope, str) and scope not in ("MessageAttributes", "MessageBody"):
            out.append(
                ("error", "FilterPolicyScope", "FilterPolicyScope is MessageAttributes or MessageBody")
            )
        return out

    def describe(self, deployed: Deployed) -> str:
        o = deployed.observed
        return f"Subscription {o.get('Protocol')} {o.get('Endpoint')} of {str(o.get('TopicArn')).rsplit(':', 1)[-1]}"

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        sns = c("sns")
        topics = {d.physical_id: d for d in parents if d.type == Topic.type}
        endpoints = {str(d.attributes.get("Arn")) for d in parents if d.type != Topic.type}
        out = []
        for page in sns.get_paginator("list_subscriptions").paginate():
            for s in page.get("Subscriptions", []):
                topic = topics.get(s["TopicArn"])
                if topic is None and s.get("Endpoint") not in endpoints:
                    continue
                inline = set(topic.tags.get(SUBSCRIPTIONS_TAG, "").split()) if topic else set()
                if _digest(s["Protocol"], s["Endpoint"]) in inline:
                    continue  # the topic's own Subscription list
                if s["SubscriptionArn"] in ("PendingConfirmation", "Deleted"):
                    continue
                out.append(self._read(c, s["SubscriptionArn"]))
        return out

    def _read(self, c: Clients, arn: str) -> Deployed:
        attrs = c("sns").get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        return Deployed(
            self.type,
            arn,
            key=(attrs["TopicArn"], attrs["Protocol"], attrs["Endpoint"]),
            parent=attrs["TopicArn"],
            observed=attrs,
        )

    def key(self, c: Clients, logical_id: str, props: Props) -> tuple[str, ...] | None:
        return (str(props["TopicArn"]), str(props["Protocol"]), str(props.get("Endpoint", "")))

    def _wanted(self, props: Props) -> dict[str, str]:
        return {
            k: _text(props[k]) if props.get(k) is not None else default
            for k, default in _SUBSCRIPTION_DEFAULTS.items()
        }

    def changes(self, props: Props, deployed: Deployed) -> list[str]:
        o = deployed.observed
        out = []
        for k, v in self._wanted(props).items():
            have = o.get(k, _SUBSCRIPTION_DEFAULTS[k])
            if k in ("FilterPolicy", "RedrivePolicy") and v and have:
                if json.loads(v) != json.loads(have):
                    out.append(k)
            elif k == "FilterPolicyScope" and not self._wanted(props)["FilterPolicy"]:
                continue  # no filter: its scope says nothing
            elif (have or "") != v:
                out.append(k)
        return out

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        attributes = {k: _text(props[k]) for k in _SUBSCRIPTION_ATTRIBUTES if props.get(k) is not None}
        arn = c("sns").subscribe(
            TopicArn=str(props["TopicArn"]),
            Protocol=str(props["Protocol"]),
            Endpoint=str(props.get("Endpoint", "")),
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return self._read(c, arn)

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        sns = c("sns")
        wanted = self._wanted(props)
        for k in self.changes(props, deployed):
            value = wanted[k]
            if k == "FilterPolicyScope" and not wanted["FilterPolicy"]:
                continue
            sns.set_subscription_attributes(
                SubscriptionArn=deployed.physical_id, AttributeName=k, AttributeValue=value
            )
        return self._read(c, deployed.physical_id)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        o = deployed.observed
        props: Props = {k: o[k] for k in ("TopicArn", "Protocol", "Endpoint")}
        props.update({k: o[k] for k in _SUBSCRIPTION_ATTRIBUTES if o.get(k) not in (None, "")})
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("sns").unsubscribe(SubscriptionArn=deployed.physical_id)


def default_policy(topic_arn: str) -> str:
    """SNS's policy of a new topic: its owner's account may do everything."""
    account = topic_arn.split(":")[4]
    actions = ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"]  # fmt: skip
    statement = {
        "Sid": "__default_statement_ID",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": actions,
        "Resource": topic_arn,
        "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
    }
    doc = {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [statement]}
    return json.dumps(doc, separators=(",", ":"))


class TopicPolicy(ResourcePolicy):
    type = "AWS::SNS::TopicPolicy"
    properties = frozenset(["Topics", "PolicyDocument"])
    parent_type = "AWS::SNS::Topic"
    targets_property = "Topics"
    targets_are = "the ARNs of the topics the policy is for"
    policy_tag = POLICY_TAG

    def _apply(self, c: Clients, target: str, doc: str, logical_id: str) -> None:
        sns = c("sns")
        sns.set_topic_attributes(TopicArn=target, AttributeName="Policy", AttributeValue=doc)
        sns.tag_resource(ResourceArn=target, Tags=tag_list({POLICY_TAG: logical_id}))

    def _remove(self, c: Clients, target: str) -> None:
        sns = c("sns")
        try:
            sns.set_topic_attributes(
                TopicArn=target, AttributeName="Policy", AttributeValue=default_policy(target)
            )
            sns.untag_resource(ResourceArn=target, TagKeys=[POLICY_TAG])
        except sns.exceptions.NotFoundException:
            return
