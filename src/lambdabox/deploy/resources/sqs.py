"""AWS::SQS::Queue and AWS::SQS::QueuePolicy through the SQS API.

A queue is found by its tags (ListQueues, ListQueueTags); its physical id (and Ref) is its URL.
Every property but QueueName and FifoQueue (replacements, as CloudFormation has it) is set in
place with SetQueueAttributes; a property the template drops goes back to SQS's default.
RedrivePolicy and RedriveAllowPolicy are objects in the template and JSON strings for SQS.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sqs-queue.html

A QueuePolicy has no identity of its own in SQS: it is the `Policy` attribute of each queue it
names. The queues carry the tag `lambdabox:queue-policy` = the policy's logical id, by which it is
found again (so only a policy on the stack's own queues is found once the template drops it);
deleting it clears the queues' Policy.
"""

from __future__ import annotations

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
    tag_map,
)
from lambdabox.deploy.resources.resource_policies import ResourcePolicy

POLICY_TAG = "lambdabox:queue-policy"
#: CloudFormation property -> the value SQS has when it is not set
_DEFAULTS: dict[str, str] = {
    "VisibilityTimeout": "30",
    "MessageRetentionPeriod": "345600",
    "DelaySeconds": "0",
    "MaximumMessageSize": "262144",
    "ReceiveMessageWaitTimeSeconds": "0",
    "RedrivePolicy": "",
    "RedriveAllowPolicy": "",
    "SqsManagedSseEnabled": "true",
}
#: attributes only a FIFO queue has (set only when the template gives them)
_FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
_KMS = ("KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")
_OWN_TAGS = (STACK_TAG, LOGICAL_TAG, PROPS_TAG, POLICY_TAG)


def _text(value: Any) -> str:
    """An attribute value as SQS takes it: objects as JSON, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def queue_attributes(props: Props, *, creating: bool) -> dict[str, str]:
    """The SQS attributes a queue's properties ask for; for an update, the defaults of those left out."""
    out = {k: _text(props[k]) for k in (*_DEFAULTS, *_FIFO_ONLY, *_KMS) if props.get(k) is not None}
    if creating:
        if _is_fifo(props):
            out["FifoQueue"] = "true"
        return out
    return {**{k: v for k, v in _DEFAULTS.items() if k not in out}, **out}


def _is_fifo(props: Props) -> bool:
    return _text(props.get("FifoQueue", "false")).lower() == "true"


class Queue(Handler):
    type = "AWS::SQS::Queue"
    properties = frozenset(["QueueName", "FifoQueue", "Tags", *_DEFAULTS, *_FIFO_ONLY, *_KMS])
    attributes = frozenset(["Arn", "QueueName", "QueueUrl"])
    immutable = frozenset(["QueueName", "FifoQueue"])
    delete_rank = 80

    def check(self, props: Mapping[str, Any]) -> list[tuple[Severity, str, str]]:
        out: list[tuple[Severity, str, str]] = []
        name = props.get("QueueName")
        if isinstance(name, str) and _is_fifo(dict(props)) != name.endswith(".fifo"):
            out.append(
                ("error", "QueueName", "a FIFO queue's name ends with .fifo (and only a FIFO queue's)")
            )
        for policy in ("RedrivePolicy", "RedriveAllowPolicy"):
            value = props.get(policy)
            if value is not None and not isinstance(value, Mapping | str):
                out.append(("error", policy, f"{policy} is an object (or its JSON)"))
        return out

    def find(self, c: Clients, stack: str, parents: Sequence[Deployed]) -> list[Deployed]:
        sqs = c("sqs")
        out = []
        for page in sqs.get_paginator("list_queues").paginate():
            for url in page.get("QueueUrls", []):
                tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
                if of_stack(tags, stack):
                    out.append(self._read(c, url, tags))
        return out

    def _read(self, c: Clients, url: str, tags: dict[str, str]) -> Deployed:
        attrs = c("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        name = url.rstrip("/").rsplit("/", 1)[-1]
        return Deployed(
            self.type,
            url,
            tags.get(LOGICAL_TAG),
            attributes={"Arn": attrs.get("QueueArn", ""), "QueueName": name, "QueueUrl": url},
            observed=attrs,
            tags=tags,
        )

    def create(self, c: Clients, stack: str, logical_id: str, props: Props) -> Deployed:
        name = props.get("QueueName")
        if not name:
            fifo = _is_fifo(props)
            name = generated_name(stack, logical_id, 80 - (5 if fifo else 0)) + (".fifo" if fifo else "")
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, logical_id, props)}
        url = c("sqs").create_queue(
            QueueName=str(name), Attributes=queue_attributes(props, creating=True), tags=tags
        )["QueueUrl"]
        return self._read(c, url, tags)

    def update(
        self, c: Clients, stack: str, deployed: Deployed, props: Props, props_tag: str | None = None
    ) -> Deployed:
        sqs = c("sqs")
        url = deployed.physical_id
        wanted = queue_attributes(props, creating=False)
        if not _is_fifo(props):
            wanted = {k: v for k, v in wanted.items() if k not in _FIFO_ONLY}
        changed = {k: v for k, v in wanted.items() if deployed.observed.get(k, "") != v}
        if changed:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
        tags = {**tag_map(props.get("Tags")), **stack_tags(stack, str(deployed.logical_id), props)}
        if props_tag is not None:
            tags[PROPS_TAG] = props_tag
        if POLICY_TAG in deployed.tags:  # the QueuePolicy's, not the queue's
            tags[POLICY_TAG] = deployed.tags[POLICY_TAG]
        gone = [k for k in deployed.tags if k not in tags]
        if gone:
            sqs.untag_queue(QueueUrl=url, TagKeys=gone)
        sqs.tag_queue(QueueUrl=url, Tags=tags)
        return self._read(c, url, tags)

    def snapshot(self, c: Clients, deployed: Deployed) -> Props:
        o = deployed.observed
        props: Props = {k: o[k] for k in (*_DEFAULTS, *_FIFO_ONLY, *_KMS) if o.get(k) not in (None, "")}
        props["QueueName"] = deployed.attributes.get("QueueName")
        if o.get("FifoQueue") == "true":
            props["FifoQueue"] = "true"
        props["Tags"] = {k: v for k, v in deployed.tags.items() if k not in _OWN_TAGS}
        return props

    def delete(self, c: Clients, deployed: Deployed) -> None:
        c("sqs").delete_queue(QueueUrl=deployed.physical_id)


class QueuePolicy(ResourcePolicy):
    type = "AWS::SQS::QueuePolicy"
    properties = frozenset(["Queues", "PolicyDocument"])
    parent_type = "AWS::SQS::Queue"
    targets_property = "Queues"
    targets_are = "the URLs of the queues the policy is for"
    policy_tag = POLICY_TAG

    def _apply(self, c: Clients, target: str, doc: str, logical_id: str) -> None:
        sqs = c("sqs")
        sqs.set_queue_attributes(QueueUrl=target, Attributes={"Policy": doc})
        sqs.tag_queue(QueueUrl=target, Tags={POLICY_TAG: logical_id})

    def _remove(self, c: Clients, target: str) -> None:
        sqs = c("sqs")
        try:
            sqs.set_queue_attributes(QueueUrl=target, Attributes={"Policy": ""})
            sqs.untag_queue(QueueUrl=target, TagKeys=[POLICY_TAG])
        except sqs.exceptions.QueueDoesNotExist:
            return
