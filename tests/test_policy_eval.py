"""The resource-policy evaluator (lambda_/policy_eval.py) on policies as Lambda's GetPolicy returns
them (tests/policies/: the statements AddPermission writes for SNS, S3, API Gateway, other
accounts, organizations, function URLs and Alexa; `deny-beats-allow.json` is written by hand, as
AddPermission only writes Allow statements), and on the statements lambdabox's AddPermission builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdabox.lambda_.permissions import statement
from lambdabox.lambda_.policy_eval import AccessRequest, Decision, Principal, evaluate
from lambdabox.lambda_.resource_access import FunctionUrlCaller, ServiceSource

POLICIES = Path(__file__).parent / "policies"
FN = "arn:aws:lambda:us-east-2:123456789012:function:my-function"
INVOKE = "lambda:InvokeFunction"
ALLOW, DENY, NO = Decision.ALLOW, Decision.DENY, Decision.NO_ALLOW


def policy(name: str) -> list[dict[str, Any]]:
    document = json.loads((POLICIES / f"{name}.json").read_text())
    assert (document["Version"], document["Id"]) == ("2012-10-17", "default")
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def service(name: str, source_arn: str, account: str, resource: str = FN, **context: str) -> AccessRequest:
    return ServiceSource(name, source_arn, account, context=context).request(resource)


def caller(arn: str, action: str = INVOKE, resource: str = FN, **context: str) -> AccessRequest:
    return AccessRequest(Principal.of_caller(arn), action, resource, context)


TOPIC = "arn:aws:sns:us-east-2:123456789012:my-topic"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (service("sns.amazonaws.com", TOPIC, "123456789012"), ALLOW),
        (service("sns.amazonaws.com", TOPIC + "-2", "123456789012"), NO),  # another topic
        (service("sns.amazonaws.com", TOPIC.replace("us-east-2", "eu-west-1"), "123456789012"), NO),
        (service("events.amazonaws.com", TOPIC, "123456789012"), NO),  # another service
        (caller("arn:aws:iam::123456789012:root"), NO),  # an account is not the service
        (service("sns.amazonaws.com", TOPIC, "123456789012", resource=FN + ":prod"), NO),  # an alias
    ],
)
def test_sns_topic_policy(request_: AccessRequest, expected: Decision) -> None:
    assert evaluate(policy("sns-topic"), request_) is expected


def test_s3_policy_needs_the_bucket_and_its_account() -> None:
    bucket = "arn:aws:s3:::amzn-s3-demo-bucket"
    statements = policy("s3-bucket")
    assert evaluate(statements, service("s3.amazonaws.com", bucket, "123456789012")) is ALLOW
    # a bucket of that name in another account (bucket ARNs name no account)
    assert evaluate(statements, service("s3.amazonaws.com", bucket, "999999999999")) is NO
    assert evaluate(statements, service("s3.amazonaws.com", bucket + "-logs", "123456789012")) is NO


def test_api_gateway_policy_on_an_alias_with_wildcards() -> None:
    statements = policy("apigateway-alias")
    prod = FN + ":prod"

    def gw(resource: str, target: str = prod) -> Decision:
        source = f"arn:aws:execute-api:us-east-2:123456789012:mnh1yprki7/{resource}"
        return evaluate(statements, service("apigateway.amazonaws.com", source, "123456789012", target))

    assert gw("prod/GET/pets/{id}") is ALLOW and gw("beta/GET/pets/42/toys") is ALLOW
    assert gw("prod/POST/pets/1") is NO and gw("prod/GET/owners") is NO
    assert gw("prod/GET/pets/1", target=FN) is NO  # the function's own ARN: not this statement's
    other_api = "arn:aws:execute-api:us-east-2:123456789012:otherapi00/prod/GET/pets/1"
    assert evaluate(statements, service("apigateway.amazonaws.com", other_api, "123456789012", prod)) is NO


def test_arn_like_matches_each_part_on_its_own() -> None:
    statements = [
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": INVOKE, "Resource": FN,
         "Condition": {"ArnLike": {"aws:sourcearn": "arn:aws:sns:*:123456789012:t?pic"}}},
    ]  # fmt: skip
    assert (
        evaluate(statements, service("sns.amazonaws.com", TOPIC.replace("my-topic", "topic"), "1")) is ALLOW
    )
    # a `*` does not reach over a colon into the account part
    assert evaluate(statements, service("sns.amazonaws.com", "arn:aws:sns:us-east-2:9:x:123456789012:topic", "1")) is NO  # fmt: skip
    assert evaluate(statements, service("sns.amazonaws.com", "not an arn", "1")) is NO


def test_cross_account_principals() -> None:
    statements = policy("cross-account")
    # an account's root principal stands for every identity of that account
    assert evaluate(statements, caller("arn:aws:iam::210987654321:root")) is ALLOW
    assert evaluate(statements, caller("arn:aws:iam::210987654321:user/anyone")) is ALLOW
    assert evaluate(statements, caller("arn:aws:sts::210987654321:assumed-role/R/s")) is ALLOW
    assert evaluate(statements, caller("arn:aws:iam::999999999999:root")) is NO
    assert evaluate(statements, caller("arn:aws:iam::210987654321:root", "lambda:GetFunction")) is NO
    # a user principal is that user only
    ops = "arn:aws:iam::111122223333:user/ops"
    assert evaluate(statements, caller(ops, "lambda:GetFunction")) is ALLOW
    assert evaluate(statements, caller("arn:aws:iam::111122223333:user/dev", "lambda:GetFunction")) is NO
    assert evaluate(statements, caller(ops)) is NO  # not granted Invoke
    # a role principal: its sessions (whose ARNs have no path)
    session = "arn:aws:sts::111122223333:assumed-role/Deployer/ci-run-7"
    assert evaluate(statements, caller(session, "lambda:GetFunctionConfiguration")) is ALLOW
    other_role = "arn:aws:sts::111122223333:assumed-role/Deployer2/x"
    assert evaluate(statements, caller(other_role, "lambda:GetFunctionConfiguration")) is NO
    # a service is not an account's identity
    assert evaluate(statements, service("sns.amazonaws.com", TOPIC, "210987654321")) is NO


def test_organization_condition() -> None:
    statements = policy("organization")
    somebody = "arn:aws:iam::444455556666:root"
    assert evaluate(statements, caller(somebody, **{"aws:PrincipalOrgID": "o-a1b2c3d4e5"})) is ALLOW
    assert evaluate(statements, caller(somebody, **{"aws:PrincipalOrgID": "o-other"})) is NO
    assert evaluate(statements, caller(somebody)) is NO  # the key absent: StringEquals fails


def test_function_url_auth_type() -> None:
    statements = policy("function-url-public")
    anyone = "arn:aws:iam::444455556666:root"
    url = "lambda:InvokeFunctionUrl"
    assert evaluate(statements, caller(anyone, url, **{"lambda:FunctionUrlAuthType": "NONE"})) is ALLOW
    assert evaluate(statements, caller(anyone, url, **{"lambda:FunctionUrlAuthType": "AWS_IAM"})) is NO
    assert evaluate(statements, caller(anyone, INVOKE, **{"lambda:FunctionUrlAuthType": "NONE"})) is NO


def test_event_source_token() -> None:
    statements = policy("alexa")
    alexa = ServiceSource("alexa-connectedhome.amazon.com", "", "")
    good = ServiceSource(alexa.service, "", "", context={"lambda:EventSourceToken": "amzn1.ask.skill.xxxx"})
    assert evaluate(statements, good.request(FN)) is ALLOW
    assert evaluate(statements, alexa.request(FN)) is NO


def test_explicit_deny_beats_allow() -> None:
    statements = policy("deny-beats-allow")
    noisy = "arn:aws:sns:us-east-2:123456789012:noisy-alerts"
    assert evaluate(statements, service("sns.amazonaws.com", noisy, "123456789012")) is DENY
    assert evaluate(statements, service("sns.amazonaws.com", TOPIC, "123456789012")) is ALLOW
    assert evaluate(statements, caller("arn:aws:iam::444455556666:root", "lambda:GetFunction")) is ALLOW
    assert evaluate(list(reversed(statements)), service("sns.amazonaws.com", noisy, "1")) is DENY


def test_no_statements_allow_nothing() -> None:
    assert evaluate([], service("sns.amazonaws.com", TOPIC, "123456789012")) is NO


@pytest.mark.parametrize(
    ("operator", "have", "expected"),
    [
        ("StringNotEquals", None, ALLOW),  # a negated operator holds for a key the request lacks
        ("StringNotEquals", "111122223333", NO),
        ("StringEqualsIfExists", None, ALLOW),
        ("StringEqualsIfExists", "999999999999", NO),
        ("StringLike", "111122223333", ALLOW),
        ("StringEqualsIgnoreCase", "111122223333", ALLOW),
        ("Null", None, NO),  # {"Null": {key: "false"}}: the key must be present
        ("Null", "111122223333", ALLOW),
        ("NumericLessThan", "1", NO),  # an operator not known here: the statement does not apply
        # IAM's set qualifiers: ForAllValues holds for a key the request lacks, ForAnyValue fails
        ("ForAllValues:StringEquals", None, ALLOW),
        ("ForAllValues:StringEquals", "111122223333", ALLOW),
        ("ForAllValues:StringEquals", "999999999999", NO),
        ("ForAnyValue:StringEquals", None, NO),
        ("ForAnyValue:StringNotEquals", None, NO),
        ("ForAnyValue:StringEquals", "111122223333", ALLOW),
        ("ForAnyValue:StringEqualsIfExists", None, ALLOW),
    ],
)
def test_condition_operators(operator: str, have: str | None, expected: Decision) -> None:
    value = "false" if operator == "Null" else "1111*" if operator == "StringLike" else "111122223333"
    statements = [
        {"Effect": "Allow", "Principal": "*", "Action": "lambda:*", "Resource": FN,
         "Condition": {operator: {"AWS:SourceAccount": value}}},
    ]  # fmt: skip
    context = {} if have is None else {"aws:SourceAccount": have}
    request = AccessRequest(Principal.of_service("events.amazonaws.com"), INVOKE, FN, context)
    assert evaluate(statements, request) is expected


def test_statements_add_permission_builds_are_evaluated_as_aws_does() -> None:
    """lambdabox's AddPermission statements (permissions.statement) against what the callers bring."""
    sns = statement(
        {"StatementId": "s", "Action": INVOKE, "Principal": "sns.amazonaws.com", "SourceArn": TOPIC,
         "SourceAccount": "123456789012"}, FN,
    )  # fmt: skip
    assert evaluate([sns], service("sns.amazonaws.com", TOPIC, "123456789012")) is ALLOW
    assert evaluate([sns], service("sns.amazonaws.com", TOPIC, "999999999999")) is NO
    account = statement({"StatementId": "a", "Action": "lambda:GetFunction", "Principal": "210987654321"}, FN)
    assert evaluate([account], caller("arn:aws:iam::210987654321:user/x", "lambda:GetFunction")) is ALLOW
    assert evaluate([account], caller("arn:aws:iam::210987654321:user/x")) is NO
    url = statement(
        {
            "StatementId": "u",
            "Action": "lambda:InvokeFunction",
            "Principal": "*",
            "InvokedViaFunctionUrl": True,
        },
        FN,
    )
    anyone = "arn:aws:iam::444455556666:root"
    assert evaluate([url], caller(anyone, **{"lambda:InvokedViaFunctionUrl": "true"})) is ALLOW
    assert evaluate([url], caller(anyone)) is NO


def test_what_cannot_be_evaluated_fails_closed() -> None:
    allow_all = {"Effect": "Allow", "Principal": "*", "Action": "lambda:*", "Resource": FN}
    unknown = {"NumericLessThan": {"aws:SourceAccount": "5"}}
    sns = service("sns.amazonaws.com", TOPIC, "123456789012")
    # a Deny that might apply does
    assert evaluate([allow_all, {**allow_all, "Effect": "Deny", "Condition": unknown}], sns) is DENY
    # a Deny with NotPrincipal applies to everyone it leaves out
    not_sns = {**allow_all, "Effect": "Deny", "NotPrincipal": {"Service": "sns.amazonaws.com"}}
    del not_sns["Principal"]
    assert evaluate([allow_all, not_sns], sns) is ALLOW
    assert evaluate([allow_all, not_sns], service("events.amazonaws.com", TOPIC, "1")) is DENY
    # an Allow with NotPrincipal never allows
    allow_not = {**not_sns, "Effect": "Allow"}
    assert evaluate([allow_not], service("events.amazonaws.com", TOPIC, "1")) is NO


def test_a_function_url_caller_as_the_hook_for_urls_builds_it() -> None:
    statements = policy("function-url-public")
    assert evaluate(statements, FunctionUrlCaller("NONE").request(FN)) is ALLOW
    assert (
        evaluate(statements, FunctionUrlCaller("AWS_IAM", "arn:aws:iam::444455556666:root").request(FN)) is NO
    )
    # an anonymous caller is matched by "*" principals only
    assert evaluate(policy("cross-account"), FunctionUrlCaller("NONE").request(FN)) is NO
