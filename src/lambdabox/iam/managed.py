"""The AWS-managed policies lambdabox has the real documents of (`arn:aws:iam::aws:policy/...`).

Documents, default versions and dates as AWS's managed policy reference gives them. Each is
served with its default version only (earlier versions are not listed). The rest of AWS's managed
policies, known by name and path only, are in `aws_policies.py`, which is also what IAM looks
policies up in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from lambdabox.iam.models import AWS_POLICY_PREFIX, ManagedPolicy, PolicyVersion


def _doc(statement: list[dict[str, object]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statement}, indent=4)


def _ts(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]

#: (path, name, description, default version, created, updated, document)
_POLICIES: list[tuple[str, str, str, str, float, float, str]] = [
    (
        "/service-role/",
        "AWSLambdaBasicExecutionRole",
        "Provides write permissions to CloudWatch Logs.",
        "v1",
        _ts(2015, 4, 9, 15, 3, 43),
        _ts(2015, 4, 9, 15, 3, 43),
        _doc([{"Effect": "Allow", "Action": _LOGS, "Resource": "*"}]),
    ),
    (
        "/service-role/",
        "AWSLambdaVPCAccessExecutionRole",
        "Provides minimum permissions for a Lambda function to execute while accessing a resource "
        "within a VPC - create, describe, delete network interfaces and write permissions to "
        "CloudWatch Logs. ",
        "v3",
        _ts(2016, 2, 11, 23, 15, 26),
        _ts(2024, 1, 5, 22, 38, 0),
        _doc(
            [
                {
                    "Sid": "AWSLambdaVPCAccessExecutionPermissions",
                    "Effect": "Allow",
                    "Action": [
                        *_LOGS,
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    "Resource": "*",
                }
            ]
        ),
    ),
    (
        "/service-role/",
        "AWSLambdaSQSQueueExecutionRole",
        "Provides receive message, delete message, and read attribute access to SQS queues, and "
        "write permissions to CloudWatch logs.",
        "v2",
        _ts(2016, 6, 14, 21, 50, 46),
        _ts(2023, 12, 12, 0, 0, 0),
        _doc(
            [
                {
                    "Effect": "Allow",
                    "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS],
                    "Resource": "*",
                }
            ]
        ),
    ),
    (
        "/service-role/",
        "AWSLambdaDynamoDBExecutionRole",
        "Provides list and read access to DynamoDB streams and write permissions to CloudWatch logs.",
        "v1",
        _ts(2015, 4, 9, 15, 9, 29),
        _ts(2015, 4, 9, 15, 9, 29),
        _doc(
            [
                {
                    "Effect": "Allow",
                    "Action": [
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                        "dynamodb:ListStreams",
                        *_LOGS,
                    ],
                    "Resource": "*",
                }
            ]
        ),
    ),
    (
        "/",
        "AWSXRayDaemonWriteAccess",
        "Allow the AWS X-Ray Daemon to relay raw trace segments data to the service's API and "
        "retrieve sampling data (rules, targets, etc.) to be used by the X-Ray SDK.",
        "v2",
        _ts(2018, 8, 28, 23, 0, 33),
        _ts(2024, 2, 13, 21, 58, 0),
        _doc(
            [
                {
                    "Sid": "AWSXRayDaemonWriteAccess",
                    "Effect": "Allow",
                    "Action": [
                        "xray:PutTraceSegments",
                        "xray:PutTelemetryRecords",
                        "xray:GetSamplingRules",
                        "xray:GetSamplingTargets",
                        "xray:GetSamplingStatisticSummaries",
                    ],
                    "Resource": ["*"],
                }
            ]
        ),
    ),
    (
        "/",
        "AdministratorAccess",
        "Provides full access to AWS services and resources.",
        "v1",
        _ts(2015, 2, 6, 18, 39, 46),
        _ts(2015, 2, 6, 18, 39, 46),
        _doc([{"Effect": "Allow", "Action": "*", "Resource": "*"}]),
    ),
]


def _build() -> dict[str, tuple[ManagedPolicy, PolicyVersion]]:
    out: dict[str, tuple[ManagedPolicy, PolicyVersion]] = {}
    for path, name, description, version, created, updated, document in _POLICIES:
        arn = f"{AWS_POLICY_PREFIX}{path[1:]}{name}"
        policy = ManagedPolicy(
            arn=arn,
            account="aws",
            name=name,
            path=path,
            policy_id="ANPA" + name.upper().encode().hex().upper()[:17].ljust(17, "0"),
            default_version=version,
            description=description,
            create_date=created,
            update_date=updated,
        )
        out[arn] = (policy, PolicyVersion(version, document, True, updated))
    return out


#: ARN -> (policy, its default version)
AWS_MANAGED: dict[str, tuple[ManagedPolicy, PolicyVersion]] = _build()
