"""serverless.yml `sqs` and `sns` events and SAM `SQS` and `SNS` events compiled as the frameworks
compile them (the Framework's logical ids and properties, SAM through AWS's translator), bad
events refused naming file, line and key, and both deployed into a real lambdabox where a message
reaches the function."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, wait_until
from lambdabox.deploy.apply import apply_plan, remove_stack
from lambdabox.deploy.plan import plan_project
from lambdabox.deploy.project import Project, ProjectError
from lambdabox.deploy.serverless import compile_serverless
from sam_helpers import compile_, resources, write

HANDLER = "def main(event, context):\n    print('EVENT ' + __import__('json').dumps(event))\n"


def serverless(tmp_path: Path, functions: str, extra: str = "", service: str = "svc") -> Project:
    (tmp_path / "serverless.yml").write_text(
        f"service: {service}\nprovider:\n  name: aws\n  runtime: python3.12\nfunctions:\n{functions}{extra}"
    )
    (tmp_path / "handler.py").write_text(HANDLER)
    return compile_serverless(tmp_path / "serverless.yml", options={}, env={})


def test_sqs_events_become_event_source_mappings_and_role_statements(tmp_path: Path) -> None:
    p = serverless(
        tmp_path,
        """\
  work:
    handler: handler.main
    events:
      - sqs: arn:aws:sqs:us-east-1:123456789012:jobs
      - sqs:
          arn: !GetAtt Queue.Arn
          batchSize: 5
          maximumBatchingWindow: 2
          enabled: false
          functionResponseType: ReportBatchItemFailures
          filterPatterns:
            - body: {kind: [order]}
          maximumConcurrency: 3
""",
        "resources:\n  Resources:\n    Queue: {Type: AWS::SQS::Queue}\n",
    )
    res = p.template["Resources"]
    assert res["WorkEventSourceMappingSQSJobs"] == {
        "Type": "AWS::Lambda::EventSourceMapping",
        "DependsOn": ["IamRoleLambdaExecution"],
        "Properties": {
            "BatchSize": 10,
            "EventSourceArn": "arn:aws:sqs:us-east-1:123456789012:jobs",
            "FunctionName": {"Fn::GetAtt": ["WorkLambdaFunction", "Arn"]},
            "Enabled": True,
        },
    }
    assert res["WorkEventSourceMappingSQSQueue"]["Properties"] == {
        "BatchSize": 5,
        "MaximumBatchingWindowInSeconds": 2,
        "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
        "FunctionName": {"Fn::GetAtt": ["WorkLambdaFunction", "Arn"]},
        "Enabled": False,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]},
        "ScalingConfig": {"MaximumConcurrency": 3},
    }
    statements = res["IamRoleLambdaExecution"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert {
        "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
        "Resource": ["arn:aws:sqs:us-east-1:123456789012:jobs", {"Fn::GetAtt": ["Queue", "Arn"]}],
    } in statements
    assert not p.problems


def test_sns_events_become_topics_subscriptions_and_permissions(tmp_path: Path) -> None:
    p = serverless(
        tmp_path,
        """\
  on-order:
    handler: handler.main
    events:
      - sns: new-orders
      - sns: arn:aws:sns:us-east-1:123456789012:shared
      - sns:
          arn: !Ref Alerts
          topicName: alerts
          filterPolicy: {level: [high]}
          filterPolicyScope: MessageAttributes
          redrivePolicy: {deadLetterTargetRef: Dead}
      - sns: {topicName: billing, displayName: Billing}
""",
        "resources:\n  Resources:\n    Alerts: {Type: AWS::SNS::Topic}\n    Dead: {Type: AWS::SQS::Queue}\n",
    )
    res = p.template["Resources"]
    fn_arn = {"Fn::GetAtt": ["OnDashorderLambdaFunction", "Arn"]}
    assert res["SNSTopicNeworders"] == {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "new-orders"}}
    assert res["SNSTopicBilling"]["Properties"] == {"TopicName": "billing", "DisplayName": "Billing"}
    assert res["OnDashorderSnsSubscriptionNeworders"] == {
        "Type": "AWS::SNS::Subscription",
        "Properties": {"TopicArn": {"Ref": "SNSTopicNeworders"}, "Protocol": "lambda", "Endpoint": fn_arn},
    }
    assert res["OnDashorderLambdaPermissionNewordersSNS"]["Properties"] == {
        "FunctionName": fn_arn,
        "Action": "lambda:InvokeFunction",
        "Principal": "sns.amazonaws.com",
        "SourceArn": {"Ref": "SNSTopicNeworders"},
    }
    assert "SNSTopicShared" not in res
    shared = res["OnDashorderSnsSubscriptionShared"]["Properties"]
    assert shared["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:shared"
    alerts = res["OnDashorderSnsSubscriptionAlerts"]["Properties"]
    assert alerts["TopicArn"] == {"Ref": "Alerts"} and alerts["FilterPolicy"] == {"level": ["high"]}
    assert alerts["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["Dead", "Arn"]}}
    dlq_policy = res["OnDashorderAlertsDLQPolicy"]["Properties"]
    assert dlq_policy["Queues"] == [{"Ref": "Dead"}]
    assert dlq_policy["PolicyDocument"]["Statement"][0]["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Ref": "Alerts"}}
    }
    assert not p.problems


def test_bad_queue_and_topic_events_name_file_line_and_key(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as err:
        serverless(
            tmp_path,
            """\
  work:
    handler: handler.main
    events:
      - sqs: {batchSize: 5}
      - sqs: {arn: "arn:aws:sqs:us-east-1:1:q", batchSize: 0}
      - sqs: {arn: "arn:aws:sqs:us-east-1:1:q", functionResponseType: Everything}
      - sns: {arn: !Ref T}
      - sns: {topicName: t, filterPolicyScope: Body}
      - sns: 7
""",
        )
    assert [str(p) for p in err.value.problems] == [
        "serverless.yml:9: functions.work.events.0.sqs: error: sqs needs the queue's ARN: a string or Fn::GetAtt / Fn::ImportValue / Fn::Join",
        "serverless.yml:10: functions.work.events.1.sqs.batchSize: error: batchSize must be an integer from 1 to 10000",
        "serverless.yml:11: functions.work.events.2.sqs.functionResponseType: error: functionResponseType must be ReportBatchItemFailures",
        "serverless.yml:12: functions.work.events.3.sns.topicName: error: topicName is required when arn is not a string",
        "serverless.yml:13: functions.work.events.4.sns.filterPolicyScope: error: filterPolicyScope must be MessageAttributes or MessageBody",
        "serverless.yml:14: functions.work.events.5.sns: error: sns needs a topic: its name, its arn, or {arn | topicName, ...}",
    ]


SAM = """
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: 20}
  Topic:
    Type: AWS::SNS::Topic
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.12
      Events:
        FromQueue:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 4
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: 2}
        FromTopic:
          Type: SNS
          Properties:
            Topic: !Ref Topic
            FilterPolicy: {kind: [direct]}
        ThroughQueue:
          Type: SNS
          Properties:
            Topic: !Ref Topic
            SqsSubscription: true
            FilterPolicy: {kind: [queued]}
"""
APP = "import json\n\ndef handler(event, context):\n    print('EVENT ' + json.dumps(event))\n    return {}\n"


def test_sam_sqs_and_sns_events_compile_to_what_the_engine_deploys(tmp_path: Path) -> None:
    project = compile_(write(tmp_path / "sam", SAM, code={"src/app.py": APP}))
    assert not project.problems
    kinds = sorted(r["Type"] for r in resources(project).values())
    assert kinds.count("AWS::Lambda::EventSourceMapping") == 2  # the queue's and SqsSubscription's
    assert kinds.count("AWS::SNS::Subscription") == 2
    assert kinds.count("AWS::SQS::Queue") == 2 and "AWS::SQS::QueuePolicy" in kinds
    mapping = resources(project)["FnFromQueue"]["Properties"]
    assert mapping["BatchSize"] == 4 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def records(server: Server, function: str) -> list[dict[str, Any]]:
    logs = server.client("logs")
    try:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern='"EVENT "')
    except logs.exceptions.ResourceNotFoundException:
        return []
    events = [
        json.loads(e["message"].split("EVENT ", 1)[1]) for e in found["events"] if "EVENT " in e["message"]
    ]
    return [r for ev in events for r in ev.get("Records", [])]


def test_a_sam_stack_with_queue_and_topic_events_delivers_and_redeploys_unchanged(
    server: Server, tmp_path: Path
) -> None:
    stack = f"samq-{uuid.uuid4().hex[:6]}"
    project = compile_(write(tmp_path / "sam", SAM, code={"src/app.py": APP}), stack_name=stack)
    try:
        plan = plan_project(copy.deepcopy(project), server.url)
        applied = apply_plan(plan, project, server.url)
        assert plan_project(copy.deepcopy(project), server.url).counts() == {
            "unchanged": len(project.template["Resources"])
        }
        fn = str(applied.physical_ids["Fn"])
        sqs, sns = server.client("sqs"), server.client("sns")
        sqs.send_message(QueueUrl=applied.physical_ids["Queue"], MessageBody="straight")
        topic = applied.physical_ids["Topic"]
        for kind in ("direct", "queued"):
            sns.publish(
                TopicArn=topic,
                Message=f"{kind} note",
                MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
            )
        wait_until(lambda: len(records(server, fn)) == 3)
        got = records(server, fn)
        assert sorted(r.get("eventSource") or r.get("EventSource") for r in got) == [
            "aws:sns",
            "aws:sqs",
            "aws:sqs",
        ]
        direct = next(r for r in got if r.get("EventSource") == "aws:sns")
        assert direct["Sns"]["Message"] == "direct note"
        bodies = [r["body"] for r in got if r.get("eventSource") == "aws:sqs"]
        assert "straight" in bodies  # the queue's own message
        (note,) = [json.loads(b) for b in bodies if b != "straight"]  # through the SqsSubscription queue
        assert (note["Type"], note["Message"]) == ("Notification", "queued note")
    finally:
        remove_stack(stack, server.url)
