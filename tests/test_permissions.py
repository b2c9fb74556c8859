"""Resource-based policies through boto3: statements as AWS writes them, per qualifier, revisions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error
from versions_helpers import ACCOUNT, arn, run, source

INVOKE = "lambda:InvokeFunction"


def _policy(lam: Any, name: str, **kw: Any) -> tuple[list[dict[str, Any]], str]:
    out = lam.get_policy(FunctionName=name, **kw)
    doc = json.loads(out["Policy"])
    assert (doc["Version"], doc["Id"]) == ("2012-10-17", "default")
    assert out["Policy"] == json.dumps(doc, separators=(",", ":")), "AWS's policy text is compact"
    return doc["Statement"], out["RevisionId"]


def test_statements_as_aws_writes_them(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"))
    resource = arn(name)
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"Principal": "s3.amazonaws.com"}, {"Principal": {"Service": "s3.amazonaws.com"}}),
        ({"Principal": "111122223333"}, {"Principal": {"AWS": "arn:aws:iam::111122223333:root"}}),
        ({"Principal": "*"}, {"Principal": "*"}),
        (
            {"Principal": "arn:aws:iam::111122223333:role/caller"},
            {"Principal": {"AWS": "arn:aws:iam::111122223333:role/caller"}},
        ),
        (
            {"Principal": "sns.amazonaws.com", "SourceArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:topic"},
            {
                "Principal": {"Service": "sns.amazonaws.com"},
                "Condition": {"ArnLike": {"AWS:SourceArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:topic"}},
            },
        ),
        (
            {
                "Principal": "*",
                "SourceArn": "arn:aws:s3:::bucket",
                "SourceAccount": ACCOUNT,
                "PrincipalOrgID": "o-1234567890",
                "FunctionUrlAuthType": "NONE",
            },
            {
                "Principal": "*",
                "Condition": {
                    "StringEquals": {
                        "lambda:FunctionUrlAuthType": "NONE",
                        "aws:PrincipalOrgID": "o-1234567890",
                        "AWS:SourceAccount": ACCOUNT,
                    },
                    "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"},
                },
            },
        ),
        (
            {"Principal": "alexa-appkit.amazon.com", "EventSourceToken": "amzn1.ask.skill.abc"},
            {
                "Principal": {"Service": "alexa-appkit.amazon.com"},
                "Condition": {"StringEquals": {"lambda:EventSourceToken": "amzn1.ask.skill.abc"}},
            },
        ),
    ]
    want_statements = []
    for i, (params, expected) in enumerate(cases):
        out = lam.add_permission(FunctionName=name, StatementId=f"s{i}", Action=INVOKE, **params)
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
        want = {
            "Sid": f"s{i}",
            "Effect": "Allow",
            "Principal": expected["Principal"],
            "Action": INVOKE,
            "Resource": resource,
        }
        if "Condition" in expected:
            want["Condition"] = expected["Condition"]
        assert out["Statement"] == json.dumps(want, separators=(",", ":")), "keys in AWS's order"
        want_statements.append(want)
    statements, revision = _policy(lam, name)
    assert statements == want_statements
    assert revision == lam.get_function_configuration(FunctionName=name)["RevisionId"]


def test_policies_belong_to_each_qualifier(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"), Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.add_permission(FunctionName=name, StatementId="fn", Action=INVOKE, Principal="*")
    lam.add_permission(FunctionName=name, StatementId="v1", Action=INVOKE, Principal="*", Qualifier="1")
    lam.add_permission(FunctionName=f"{name}:live", StatementId="live", Action="lambda:*", Principal="*")
    assert [(s["Sid"], s["Resource"]) for s in _policy(lam, name)[0]] == [("fn", arn(name))]
    assert [(s["Sid"], s["Resource"]) for s in _policy(lam, name, Qualifier="1")[0]] == [
        ("v1", arn(name, "1"))
    ]
    live, live_rev = _policy(lam, arn(name, "live"))
    assert [(s["Sid"], s["Resource"], s["Action"]) for s in live] == [("live", arn(name, "live"), "lambda:*")]
    assert live_rev == lam.get_alias(FunctionName=name, Name="live")["RevisionId"]
    # publishing does not copy the function's policy to the version
    lam.update_function_configuration(FunctionName=name, Description="2")
    lam.publish_version(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lam.get_policy(FunctionName=name, Qualifier="2")
    assert aws_error(exc) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(ClientError) as exc:
        lam.get_policy(FunctionName=name, Qualifier="9")
    assert aws_error(exc) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    # removing the last statement removes the policy
    assert (
        lam.remove_permission(FunctionName=name, StatementId="v1", Qualifier="1")["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 204
    )
    with pytest.raises(ClientError) as exc:
        lam.get_policy(FunctionName=name, Qualifier="1")
    assert aws_error(exc)[0::2] == ("ResourceNotFoundException", 404)
    assert [s["Sid"] for s in _policy(lam, name)[0]] == ["fn"]


def test_policy_revisions(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"), Publish=True)
    first = run(lam, name)[0]["token"]
    v1 = lam.get_function_configuration(FunctionName=name, Qualifier="1")["RevisionId"]
    lam.add_permission(
        FunctionName=name, StatementId="a", Action=INVOKE, Principal="*", Qualifier="1", RevisionId=v1
    )
    _, rev = _policy(lam, name, Qualifier="1")
    assert rev != v1 and rev == lam.get_function_configuration(FunctionName=name, Qualifier="1")["RevisionId"]
    for call in (
        lambda: lam.add_permission(
            FunctionName=name, StatementId="b", Action=INVOKE, Principal="*", Qualifier="1", RevisionId=v1
        ),
        lambda: lam.remove_permission(FunctionName=name, StatementId="a", Qualifier="1", RevisionId=v1),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert aws_error(exc)[0::2] == ("PreconditionFailedException", 412)
    assert [s["Sid"] for s in _policy(lam, name, Qualifier="1")[0]] == ["a"]
    lam.remove_permission(FunctionName=name, StatementId="a", Qualifier="1", RevisionId=rev)
    # a policy change is a new revision of $LATEST but keeps its environments
    before = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    lam.add_permission(FunctionName=name, StatementId="x", Action=INVOKE, Principal="*")
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] != before
    assert run(lam, name)[0]["token"] == first


def test_permission_errors(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"), Publish=True)
    lam.add_permission(FunctionName=name, StatementId="s3", Action=INVOKE, Principal="s3.amazonaws.com")
    policy = lam.get_policy(FunctionName=name)
    user = "User"
    cases: list[tuple[Any, tuple[str, str, int]]] = [
        (
            lambda: lam.add_permission(FunctionName=name, StatementId="s3", Action=INVOKE, Principal="*"),
            (
                "ResourceConflictException",
                "The statement id (s3) provided already exists. Please provide a new statement id, or remove "
                "the existing statement.",
                409,
            ),
        ),
        (
            lambda: lam.add_permission(
                FunctionName=name, StatementId="n", Action=INVOKE, Principal="invalid.nonaws.com"
            ),
            (
                "InvalidParameterValueException",
                "The provided principal was invalid. Please check the principal and try again.",
                400,
            ),
        ),
        (
            lambda: lam.add_permission(
                FunctionName=name, StatementId="n", Action=INVOKE, Principal="*", Qualifier="$LATEST"
            ),
            (
                "InvalidParameterValueException",
                "We currently do not support adding policies for $LATEST.",
                400,
            ),
        ),
        (
            lambda: lam.add_permission(
                FunctionName=name, StatementId="n", Action=INVOKE, Principal="*", Qualifier="nope"
            ),
            ("ResourceNotFoundException", f"Cannot find alias arn: {arn(name, 'nope')}", 404),
        ),
        (
            lambda: lam.add_permission(
                FunctionName=name, StatementId="n", Action=INVOKE, Principal="*", Qualifier="42"
            ),
            ("ResourceNotFoundException", f"Function not found: {arn(name, '42')}", 404),
        ),
        (
            lambda: lam.add_permission(
                FunctionName=f"{name}-x", StatementId="n", Action=INVOKE, Principal="*"
            ),
            ("ResourceNotFoundException", f"Function not found: {arn(name + '-x')}", 404),
        ),
        (
            lambda: lam.remove_permission(FunctionName=name, StatementId="other"),
            ("ResourceNotFoundException", "Statement other is not found in resource policy.", 404),
        ),
        (
            lambda: lam.remove_permission(FunctionName=name, StatementId="s3", Qualifier="1"),
            ("ResourceNotFoundException", "No policy is associated with the given resource.", 404),
        ),
        (
            lambda: lam.remove_permission(FunctionName=f"{name}-x", StatementId="s3"),
            ("ResourceNotFoundException", f"No policy found for: {arn(name + '-x')}", 404),
        ),
        (
            lambda: lam.get_policy(FunctionName=f"{name}-x"),
            ("ResourceNotFoundException", f"Function not found: {arn(name + '-x')}", 404),
        ),
        (
            lambda: lam.add_permission(FunctionName=name, StatementId="ex.com", Action=INVOKE, Principal="*"),
            (
                "ValidationException",
                "1 validation error detected: Value 'ex.com' at 'statementId' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
                400,
            ),
        ),
    ]
    for call, want in cases:
        with pytest.raises(ClientError) as exc:
            call()
        assert aws_error(exc) == want
        if want[0] != "ValidationException":
            assert exc.value.response["Error"].get("Type", user) == user
    assert lam.get_policy(FunctionName=name)["Policy"] == policy["Policy"], (
        "a refused change changed the policy"
    )
    assert lam.get_policy(FunctionName=name)["RevisionId"] == policy["RevisionId"]
