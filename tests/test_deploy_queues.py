"""Queues and topics deployed from a plain CloudFormation template into a real lambdabox: queues with
their dead-letter queue and policy, topics with inline and separate subscriptions, a topic policy,
event source mappings and SNS's permission, as SQS, SNS and Lambda then answer; a redeploy that
changes nothing; attribute changes updated in place, a new queue name replacing the queue; bad
input refused before anything is deployed; and the stack removed."""

from __future__ import annotations

import contextlib
import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Server, wait_until
from lambdabox.deploy.apply import ApplyError, NoSuchStack, apply_plan, remove_stack
from lambdabox.deploy.plan import plan_project
from lambdabox.deploy.project import Project, ProjectError

CODE = "def handler(event, context):\n    return {'batchItemFailures': []}\n"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["Queue", "Arn"]},
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "Topic"}}},
        }
    ],
}


def template() -> dict[str, Any]:
    return {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.11",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"ZipFile": CODE},
                },
            },
            "DeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600}},
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "VisibilityTimeout": 60,
                    "DelaySeconds": "2",
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetters", "Arn"]},
                        "maxReceiveCount": 3,
                    },
                    "Tags": [{"Key": "team", "Value": "orders"}],
                },
            },
            "QueuePolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {"Queues": [{"Ref": "Queue"}], "PolicyDocument": POLICY},
            },
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {
                    "DisplayName": "Orders",
                    "Subscription": [{"Protocol": "lambda", "Endpoint": {"Fn::GetAtt": ["Fn", "Arn"]}}],
                    "Tags": [{"Key": "team", "Value": "orders"}],
                },
            },
            "TopicPolicy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {
                    "Topics": [{"Ref": "Topic"}],
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "*"},
                                "Action": "sns:Publish",
                                "Resource": {"Ref": "Topic"},
                            }
                        ]
                    },
                },
            },
            "ToQueue": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "sqs",
                    "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]},
                    "RawMessageDelivery": True,
                    "FilterPolicy": {"kind": ["order"]},
                },
            },
            "SnsInvoke": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "sns.amazonaws.com",
                    "SourceArn": {"Ref": "Topic"},
                },
            },
            "Mapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                    "BatchSize": 5,
                    "MaximumBatchingWindowInSeconds": 1,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": [{"prefix": "o"}]})}]},
                    "ScalingConfig": {"MaximumConcurrency": 2},
                },
            },
        },
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "Queue"}},
            "QueueName": {"Value": {"Fn::GetAtt": ["Queue", "QueueName"]}},
            "TopicArn": {"Value": {"Fn::GetAtt": ["Topic", "TopicArn"]}},
            "TopicName": {"Value": {"Fn::GetAtt": ["Topic", "TopicName"]}},
            "Subscription": {"Value": {"Ref": "ToQueue"}},
            "MappingId": {"Value": {"Ref": "Mapping"}},
        },
    }


@pytest.fixture
def stack(server: Server) -> Iterator[str]:
    name = f"q-{uuid.uuid4().hex[:6]}"
    yield name
    with contextlib.suppress(NoSuchStack):
        remove_stack(name, server.url)


def deploy(server: Server, stack: str, t: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Plan and apply: (logical id -> planned action, the outputs)."""
    plan = plan_project(Project(stack, copy.deepcopy(t)), server.url)
    applied = apply_plan(plan, Project(stack, copy.deepcopy(t)), server.url)
    return {r.logical_id: r.action for r in plan.records}, applied.outputs


def attributes(server: Server, url: str) -> dict[str, str]:
    got = server.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return dict(got["Attributes"])


def test_queues_topics_and_mappings_deploy_update_and_are_removed(server: Server, stack: str) -> None:
    sqs, sns, lam = server.client("sqs"), server.client("sns"), server.client("lambda")
    t = template()
    actions, out = deploy(server, stack, t)
    assert set(actions.values()) == {"create"}
    url = out["QueueUrl"]
    assert out["QueueName"] == url.rsplit("/", 1)[1] and out["QueueName"].startswith(f"{stack}-Queue-")
    got = attributes(server, url)
    (dlq_url,) = sqs.list_queues(QueueNamePrefix=f"{stack}-DeadLetters-")["QueueUrls"]
    dlq_arn = attributes(server, dlq_url)
    assert dlq_arn["MessageRetentionPeriod"] == "1209600"
    assert (got["VisibilityTimeout"], got["DelaySeconds"]) == ("60", "2")
    assert json.loads(got["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn["QueueArn"],
        "maxReceiveCount": 3,
    }
    policy = json.loads(got["Policy"])
    assert policy["Statement"][0]["Resource"] == got["QueueArn"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"]["team"] == "orders"

    topic = out["TopicArn"]
    assert topic.endswith(f":{out['TopicName']}") and out["TopicName"].startswith(f"{stack}-Topic-")
    tattrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert tattrs["DisplayName"] == "Orders"
    assert json.loads(tattrs["Policy"])["Statement"][0]["Action"] == "sns:Publish"
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["Protocol"] for s in subs) == ["lambda", "sqs"]
    sub = sns.get_subscription_attributes(SubscriptionArn=out["Subscription"])["Attributes"]
    assert (sub["Endpoint"], sub["RawMessageDelivery"]) == (got["QueueArn"], "true")
    assert json.loads(sub["FilterPolicy"]) == {"kind": ["order"]}

    mapping = lam.get_event_source_mapping(UUID=out["MappingId"])
    assert mapping["EventSourceArn"] == got["QueueArn"] and mapping["BatchSize"] == 5
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert mapping["MaximumBatchingWindowInSeconds"] == 1
    fn_policy = json.loads(lam.get_policy(FunctionName=mapping["FunctionArn"])["Policy"])
    assert fn_policy["Statement"][0]["Principal"] == {"Service": "sns.amazonaws.com"}

    # nothing changed: nothing to do
    plan = plan_project(Project(stack, copy.deepcopy(t)), server.url)
    assert plan.counts() == {"unchanged": len(t["Resources"])}, plan.table()

    # attributes change in place; a removed one goes back to SQS's default
    queue = t["Resources"]["Queue"]["Properties"]
    queue["VisibilityTimeout"] = 90
    del queue["DelaySeconds"]
    t["Resources"]["Mapping"]["Properties"]["BatchSize"] = 7
    del t["Resources"]["ToQueue"]["Properties"]["FilterPolicy"]
    t["Resources"]["Topic"]["Properties"]["DisplayName"] = "All orders"
    actions, out2 = deploy(server, stack, t)
    assert {k: v for k, v in actions.items() if v != "unchanged"} == {
        "Queue": "update",
        "Mapping": "update",
        "ToQueue": "update",
        "Topic": "update",
    }
    assert out2["QueueUrl"] == url
    got = attributes(server, url)
    assert (got["VisibilityTimeout"], got["DelaySeconds"]) == ("90", "0")
    assert "Policy" in got and sqs.list_queue_tags(QueueUrl=url)["Tags"]["team"] == "orders"
    assert lam.get_event_source_mapping(UUID=out["MappingId"])["BatchSize"] == 7
    sub = sns.get_subscription_attributes(SubscriptionArn=out["Subscription"])["Attributes"]
    assert not sub.get("FilterPolicy")
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "All orders"
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 2

    # a new name is a new queue: its mapping, subscription and policy follow, the old queue goes
    queue["QueueName"] = f"{stack}-renamed"
    actions, out3 = deploy(server, stack, t)
    assert actions["Queue"] == "replace"
    assert out3["QueueUrl"].endswith(f"/{stack}-renamed") and out3["QueueUrl"] != url
    new_arn = attributes(server, out3["QueueUrl"])["QueueArn"]
    assert json.loads(attributes(server, out3["QueueUrl"])["Policy"])["Statement"][0]["Resource"] == new_arn
    mappings = lam.list_event_source_mappings(FunctionName=mapping["FunctionArn"])["EventSourceMappings"]
    assert [m["EventSourceArn"] for m in mappings] == [new_arn]
    endpoints = {s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]}
    assert new_arn in endpoints and got["QueueArn"] not in endpoints
    assert url not in sqs.list_queues(QueueNamePrefix=stack).get("QueueUrls", [])
    assert plan_project(Project(stack, copy.deepcopy(t)), server.url).counts() == {
        "unchanged": len(t["Resources"])
    }

    # dropping the separate subscription and the mapping deletes them
    del t["Resources"]["ToQueue"], t["Resources"]["Mapping"]
    del t["Outputs"]["Subscription"], t["Outputs"]["MappingId"]
    actions, _ = deploy(server, stack, t)
    assert sorted(k for k, v in actions.items() if v == "delete") == [
        f"EventSourceMapping {stack}-renamed -> {mapping['FunctionArn'].rsplit(':', 1)[1]}",
        f"Subscription sqs {new_arn} of {out['TopicName']}",
    ]
    assert [s["Protocol"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]] == [
        "lambda"
    ]

    remove_stack(stack, server.url)
    assert not sqs.list_queues(QueueNamePrefix=stack).get("QueueUrls")
    assert topic not in [x["TopicArn"] for x in sns.list_topics()["Topics"]]
    wait_until(lambda: not lam.list_event_source_mappings(EventSourceArn=new_arn)["EventSourceMappings"])


def test_a_published_message_reaches_the_deployed_queue(server: Server, stack: str) -> None:
    t = template()
    del t["Resources"]["Mapping"], t["Outputs"]["MappingId"]  # the message stays in the queue
    t["Resources"]["Queue"]["Properties"]["DelaySeconds"] = 0
    _, out = deploy(server, stack, t)
    sns, sqs = server.client("sns"), server.client("sqs")
    sns.publish(
        TopicArn=out["TopicArn"],
        Message="order 1",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}},
    )
    got: list[str] = []

    def received() -> bool:
        got.extend(m["Body"] for m in sqs.receive_message(QueueUrl=out["QueueUrl"]).get("Messages", []))
        return bool(got)

    wait_until(received)
    assert got == ["order 1"]  # raw delivery


def _problems(server: Server, resources: dict[str, Any]) -> list[str]:
    with pytest.raises(ProjectError) as err:
        plan_project(Project("bad", {"Resources": resources}), server.url)
    return [str(p) for p in err.value.problems]


def test_bad_properties_are_refused_before_anything_is_deployed(server: Server) -> None:
    got = _problems(
        server,
        {
            "Fifo": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "plain", "FifoQueue": True}},
            "Policy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {"PolicyDocument": {}}},
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"Subscription": [{"Protocol": "sqs"}]}},
            "Sub": {"Type": "AWS::SNS::Subscription", "Properties": {"Protocol": "sqs", "Endpoint": "x"}},
            "Esm": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"FunctionName": "f", "FunctionResponseTypes": ["Everything"]},
            },
        },
    )
    assert got == [
        "template: Resources.Fifo.Properties.QueueName: error: a FIFO queue's name ends with .fifo (and only a FIFO queue's)",
        "template: Resources.Policy.Properties.Queues: error: Queues is required: the URLs of the queues the policy is for",
        "template: Resources.Topic.Properties.Subscription: error: Subscription is a list of {Endpoint, Protocol}",
        "template: Resources.Sub.Properties.TopicArn: error: TopicArn is required",
        "template: Resources.Esm.Properties.EventSourceArn: error: EventSourceArn is required",
        "template: Resources.Esm.Properties.FunctionResponseTypes: error: FunctionResponseTypes is a list of ReportBatchItemFailures",
    ]


def test_what_sqs_refuses_fails_the_apply_with_its_message(server: Server, stack: str) -> None:
    t = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 99999}}}}
    plan = plan_project(Project(stack, t), server.url)
    with pytest.raises(ApplyError) as err:
        apply_plan(plan, Project(stack, t), server.url)
    assert "InvalidAttributeValue: Invalid value for the parameter VisibilityTimeout." in str(err.value)
    assert not server.client("sqs").list_queues(QueueNamePrefix=stack).get("QueueUrls")


def test_a_failed_apply_puts_the_queue_and_topic_back(server: Server, stack: str) -> None:
    t = template()
    _, out = deploy(server, stack, t)
    t["Resources"]["Queue"]["Properties"]["VisibilityTimeout"] = 90
    t["Resources"]["Topic"]["Properties"]["DisplayName"] = "Changed"
    t["Resources"]["Mail"] = {  # SNS refuses it: after the queue and topic were updated
        "Type": "AWS::SNS::Subscription",
        "Properties": {
            "TopicArn": {"Ref": "Topic"},
            "Protocol": "sms",
            "Endpoint": {"Fn::Sub": "+1555${Queue.QueueName}"},
        },
    }
    plan = plan_project(Project(stack, copy.deepcopy(t)), server.url)
    with pytest.raises(ApplyError) as err:
        apply_plan(plan, Project(stack, copy.deepcopy(t)), server.url)
    assert "InvalidParameter" in str(err.value)
    assert attributes(server, out["QueueUrl"])["VisibilityTimeout"] == "60"
    topic = server.client("sns").get_topic_attributes(TopicArn=out["TopicArn"])["Attributes"]
    assert topic["DisplayName"] == "Orders"
    del t["Resources"]["Mail"]
    t["Resources"]["Queue"]["Properties"]["VisibilityTimeout"] = 60
    t["Resources"]["Topic"]["Properties"]["DisplayName"] = "Orders"
    assert plan_project(Project(stack, copy.deepcopy(t)), server.url).counts() == {
        "unchanged": len(t["Resources"])
    }
