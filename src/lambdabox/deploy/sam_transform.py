"""The AWS::Serverless-2016-10-31 Transform, run by AWS's own aws-sam-translator as CloudFormation runs it.

`transform` takes a SAM template whose code already points at artifacts (CodeUri `s3://...`) and
returns plain CloudFormation. Nothing here calls AWS: the region and account are given, AWS managed
policy names resolve from a table (no IAM), there are no feature toggles (the translator's defaults)
and no Serverless Application Repository. The translator (pydantic, jsonschema, boto3: ~0.35 s) is
imported inside `transform`, so a process that never deploys a SAM template never pays for it.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

# AWS managed policies that SAM templates name most (Policies: [AWSLambdaBasicExecutionRole]); the
# translator's own bundled table (samtranslator/internal/data) is consulted first and covers the rest.
_MANAGED_POLICY_PATHS = {
    "AWSLambdaBasicExecutionRole": "service-role/",
    "AWSLambdaVPCAccessExecutionRole": "service-role/",
    "AWSLambdaRole": "service-role/",
    "AWSLambdaSQSQueueExecutionRole": "service-role/",
    "AWSLambdaDynamoDBExecutionRole": "service-role/",
    "AWSLambdaKinesisExecutionRole": "service-role/",
    "AWSLambdaMSKExecutionRole": "service-role/",
    "AWSLambdaExecute": "",
    "AWSLambda_FullAccess": "",
    "AWSXRayDaemonWriteAccess": "",
    "AWSXrayWriteOnlyAccess": "",
    "AmazonS3ReadOnlyAccess": "",
    "AmazonS3FullAccess": "",
    "AmazonDynamoDBFullAccess": "",
    "AmazonDynamoDBReadOnlyAccess": "",
    "AmazonSQSFullAccess": "",
    "AmazonSNSFullAccess": "",
    "AmazonEventBridgeFullAccess": "",
    "CloudWatchLogsFullAccess": "",
    "CloudWatchLambdaInsightsExecutionRolePolicy": "",
    "SecretsManagerReadWrite": "",
    "AmazonSSMReadOnlyAccess": "",
}


def managed_policy_map(partition: str = "aws") -> dict[str, str]:
    """AWS managed policy name -> ARN, as IAM would list them, without asking IAM."""
    table = {
        name: f"arn:{partition}:iam::aws:policy/{path}{name}" for name, path in _MANAGED_POLICY_PATHS.items()
    }
    try:  # the translator's bundled copy of IAM's list (an internal module: absent in some versions)
        from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
    except ImportError:
        return table
    return {**table, **(get_bundled_managed_policy_map(partition) or {})}


@dataclass(frozen=True)
class TransformError:
    """One reason the Transform failed: the resource (if known), a property path in it, AWS's message."""

    logical_id: str | None
    key: str | None  # "Properties.Events.Get" ...: relative to the resource
    message: str


class TransformFailed(Exception):
    """The translator rejected the template (InvalidDocumentException and friends)."""

    def __init__(self, errors: list[TransformError]) -> None:
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))


@dataclass(frozen=True)
class _Session:
    """What the translator reads of a boto3 Session (only region_name): no profile, no credentials."""

    region_name: str


def partition_of(region: str) -> str:
    """aws, aws-cn, aws-us-gov ... for a region, as the translator derives it."""
    from samtranslator.translator.arn_generator import ArnGenerator

    return str(ArnGenerator.get_partition_name(region))


def pseudo_parameters(*, region: str, account_id: str, stack_name: str) -> dict[str, str]:
    """The pseudo parameter values CloudFormation hands a Transform."""
    partition = partition_of(region)
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::StackName": stack_name,
        "AWS::Partition": partition,
        "AWS::URLSuffix": suffix,
    }


def transform(
    template: dict[str, Any],
    *,
    parameters: dict[str, Any],
    region: str,
    account_id: str,
    stack_name: str,
) -> dict[str, Any]:
    """SAM template -> CloudFormation template (no Transform). Raises TransformFailed."""
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
    from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # its notes ("Feature ... not available": toggles it reads without AWS AppConfig) are no one's business
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    values = {**parameters, **pseudo_parameters(region=region, account_id=account_id, stack_name=stack_name)}
    policies = managed_policy_map(values["AWS::Partition"])
    get_map: Callable[[], dict[str, str]] = lambda: policies  # noqa: E731
    # metrics published to nowhere (else the translator logs "There are unpublished metrics")
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(policies, Parser(), boto_session=cast(Any, _Session(region)), metrics=metrics)
    try:
        result = translator.translate(copy.deepcopy(template), values, get_managed_policy_map=get_map)
    except InvalidDocumentException as e:
        raise TransformFailed([_error(c) for c in e.causes]) from None
    except ExceptionWithMessage as e:
        raise TransformFailed([_error(e)]) from None
    except Exception as e:  # the translator assumes well-formed input in places (KeyError, TypeError ...)
        raise TransformFailed(
            [TransformError(None, None, f"Transform AWS::Serverless-2016-10-31 failed: {e!r}")]
        ) from None
    finally:
        metrics.publish()
    return cast(dict[str, Any], result)


_EVENT = re.compile(r"Event with id \[(\w+)\] is invalid")
_PROPERTY = re.compile(r"(?:property|Property) '?(\w+)'? not defined")


def _error(exc: Any) -> TransformError:
    """A translator exception -> (logical id, key, message); the message is the one CloudFormation shows."""
    logical_id = getattr(exc, "_logical_id", None)
    if isinstance(logical_id, list):
        logical_id = logical_id[0] if logical_id else None
    key_path = getattr(exc, "key_path", None)
    event_id = getattr(exc, "_event_id", None)
    message = str(exc.message)
    key: str | None = None
    if isinstance(key_path, str) and key_path:
        key = (
            key_path
            if key_path.split(".")[0] in {"Properties", "Type", "Metadata"}
            else f"Properties.{key_path}"
        )
    elif isinstance(event_id, str):
        key = f"Properties.Events.{event_id}"
    elif m := _EVENT.search(message):
        key = f"Properties.Events.{m[1]}"
    elif m := _PROPERTY.search(message):
        key = f"Properties.{m[1]}"
    return TransformError(logical_id if isinstance(logical_id, str) else None, key, message)
