"""What an outside-in review of `--enforce-resource-policies` (issue 19 part 3) checked, now as
lambdabox does it: the cross-account APIs AWS documents, each granted by its own action;
GetFunction's Tags only with lambda:ListTags; IAM's ForAllValues on a missing key; and, with
--verify-signatures, admin endpoints an unsigned caller cannot use to reach a tenant's function."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import deploy, make_zip
from lambdabox.lambda_.policy_eval import AccessRequest, Decision, Principal, evaluate
from lambdabox.testing import LocalLambdabox
from rest_helpers import send as http_send
from test_resource_policies import OTHER, _server, denied, other_account, refused

FN = "arn:aws:lambda:us-east-1:000000000000:function:f"
NEW_CODE = "def handler(event, context):\n    return 2\n"


@pytest.fixture(scope="module")
def lbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLambdabox]:
    with _server(tmp_path_factory.mktemp("review"), enforce=True) as server:
        yield server


def tagged_function(lbx: LocalLambdabox) -> tuple[str, str]:
    """A function of account 000000000000 with a tag: (name, ARN)."""
    lam = lbx.client("lambda")
    name = deploy(lam, {"app.py": "def handler(event, context):\n    return 1\n"}, Tags={"project": "apollo"})
    return name, str(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])


# AWS Lambda Developer Guide, "Using resource-based policies for Lambda" → "Cross-account APIs":
# Invoke, GetFunction, GetFunctionConfiguration, UpdateFunctionCode, DeleteFunction, PublishVersion,
# ListVersionsByFunction, CreateAlias, GetAlias, ListAliases, UpdateAlias, DeleteAlias, GetPolicy,
# PutFunctionConcurrency, DeleteFunctionConcurrency, ListTags, TagResource, UntagResource.
# lambdabox grants another account each of them by its own action; any other operation (e.g.
# UpdateFunctionConfiguration, GetFunctionConcurrency) stays AccessDeniedException.
@pytest.mark.parametrize("action", ["lambda:GetPolicy", "lambda:ListTags"])
def test_another_account_uses_the_cross_account_reads_aws_documents(lbx: LocalLambdabox, action: str) -> None:
    """A function policy granting another account lambda:GetPolicy or lambda:ListTags lets it
    read the policy or the tags through the function's ARN."""
    name, arn = tagged_function(lbx)
    lbx.client("lambda").add_permission(
        FunctionName=name, StatementId="grant", Action=action, Principal=OTHER
    )
    them = other_account(lbx)
    if action == "lambda:GetPolicy":
        statements = json.loads(them.get_policy(FunctionName=arn)["Policy"])["Statement"]
        assert [s["Sid"] for s in statements] == ["grant"]
    else:
        assert them.list_tags(Resource=arn)["Tags"] == {"project": "apollo"}


def test_get_function_of_another_account_leaves_the_tags_out(lbx: LocalLambdabox) -> None:
    """GetFunction answers Tags only to a caller allowed lambda:ListTags (botocore's GetFunction
    output doc): another account granted lambda:GetFunction alone gets no tags."""
    name, arn = tagged_function(lbx)
    lbx.client("lambda").add_permission(
        FunctionName=name, StatementId="get", Action="lambda:GetFunction", Principal=OTHER
    )
    got: dict[str, Any] = other_account(lbx).get_function(FunctionName=arn)
    assert got["Configuration"]["FunctionArn"] == arn
    assert "Tags" not in got


def test_get_function_of_another_account_allowed_list_tags_has_the_tags(lbx: LocalLambdabox) -> None:
    """Granted lambda:ListTags as well, another account's GetFunction answer carries the tags."""
    name, arn = tagged_function(lbx)
    for sid, action in (("get", "lambda:GetFunction"), ("tags", "lambda:ListTags")):
        lbx.client("lambda").add_permission(
            FunctionName=name, StatementId=sid, Action=action, Principal=OTHER
        )
    assert other_account(lbx).get_function(FunctionName=arn)["Tags"] == {"project": "apollo"}


def test_another_account_granted_tag_resource_tags_but_does_not_untag(lbx: LocalLambdabox) -> None:
    """lambda:TagResource lets another account tag the function; UntagResource needs its own
    lambda:UntagResource, and operations outside AWS's cross-account list
    (UpdateFunctionConfiguration) stay denied even under lambda:*."""
    name, arn = tagged_function(lbx)
    mine = lbx.client("lambda")
    mine.add_permission(FunctionName=name, StatementId="tag", Action="lambda:TagResource", Principal=OTHER)
    them = other_account(lbx)
    them.tag_resource(Resource=arn, Tags={"team": "blue"})
    assert mine.list_tags(Resource=arn)["Tags"] == {"project": "apollo", "team": "blue"}
    assert refused(lambda: them.untag_resource(Resource=arn, TagKeys=["team"])) == denied(
        arn, "lambda:UntagResource"
    )
    mine.add_permission(FunctionName=name, StatementId="all", Action="lambda:*", Principal=OTHER)
    them.untag_resource(Resource=arn, TagKeys=["team"])
    assert refused(lambda: them.update_function_configuration(FunctionName=arn, Timeout=9)) == denied(
        arn, "lambda:UpdateFunctionConfiguration"
    )
    assert mine.list_tags(Resource=arn)["Tags"] == {"project": "apollo"}


def test_another_account_granted_put_function_concurrency_reserves(lbx: LocalLambdabox) -> None:
    """lambda:PutFunctionConcurrency lets another account reserve the function's concurrency;
    DeleteFunctionConcurrency needs its own action, and GetFunctionConcurrency (not among AWS's
    cross-account APIs) stays denied even under lambda:*."""
    name, arn = tagged_function(lbx)
    mine = lbx.client("lambda")
    mine.add_permission(
        FunctionName=name, StatementId="put", Action="lambda:PutFunctionConcurrency", Principal=OTHER
    )
    them = other_account(lbx)
    them.put_function_concurrency(FunctionName=arn, ReservedConcurrentExecutions=3)
    assert mine.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 3
    assert refused(lambda: them.delete_function_concurrency(FunctionName=arn)) == denied(
        arn, "lambda:DeleteFunctionConcurrency"
    )
    mine.add_permission(FunctionName=name, StatementId="all", Action="lambda:*", Principal=OTHER)
    them.delete_function_concurrency(FunctionName=arn)
    assert "ReservedConcurrentExecutions" not in mine.get_function_concurrency(FunctionName=name)
    assert refused(lambda: them.get_function_concurrency(FunctionName=arn)) == denied(
        arn, "lambda:GetFunctionConcurrency"
    )


def test_another_account_granted_versions_and_aliases_manages_them(lbx: LocalLambdabox) -> None:
    """PublishVersion, CreateAlias, UpdateAlias and DeleteAlias by another account, each granted
    by its own action (none of them grants UpdateFunctionCode)."""
    name, arn = tagged_function(lbx)
    mine = lbx.client("lambda")
    them = other_account(lbx)
    assert refused(lambda: them.publish_version(FunctionName=arn)) == denied(arn, "lambda:PublishVersion")
    for action in ("PublishVersion", "CreateAlias", "UpdateAlias", "DeleteAlias"):
        mine.add_permission(FunctionName=name, StatementId=action, Action=f"lambda:{action}", Principal=OTHER)
    assert them.publish_version(FunctionName=arn)["Version"] == "1"
    assert them.create_alias(FunctionName=arn, Name="live", FunctionVersion="1")["AliasArn"] == f"{arn}:live"
    them.update_alias(FunctionName=arn, Name="live", Description="theirs")
    assert mine.get_alias(FunctionName=name, Name="live")["Description"] == "theirs"
    them.delete_alias(FunctionName=arn, Name="live")
    assert mine.list_aliases(FunctionName=name)["Aliases"] == []
    got = refused(lambda: them.update_function_code(FunctionName=arn, ZipFile=b"PK"))
    assert got == denied(arn, "lambda:UpdateFunctionCode")


def test_another_account_granted_update_code_and_delete_changes_and_deletes(lbx: LocalLambdabox) -> None:
    """lambda:UpdateFunctionCode lets another account replace the code, lambda:DeleteFunction
    delete the function (of the account its ARN names, not a function of the caller's own of
    that name); UpdateFunctionConfiguration stays denied even under lambda:*."""
    name, arn = tagged_function(lbx)
    mine = lbx.client("lambda")
    them = other_account(lbx)
    theirs = {"app.py": "def handler(event, context):\n    return 3\n"}
    deploy(them, theirs, FunctionName=name, role=f"arn:aws:iam::{OTHER}:role/lambda-role")
    for action in ("UpdateFunctionCode", "DeleteFunction", "GetFunction"):
        mine.add_permission(FunctionName=name, StatementId=action, Action=f"lambda:{action}", Principal=OTHER)
    them.update_function_code(FunctionName=arn, ZipFile=make_zip({"app.py": NEW_CODE}))
    mine.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert json.loads(mine.invoke(FunctionName=name)["Payload"].read()) == 2
    mine.add_permission(FunctionName=name, StatementId="all", Action="lambda:*", Principal=OTHER)
    got = refused(lambda: them.update_function_configuration(FunctionName=arn, Timeout=9))
    assert got == denied(arn, "lambda:UpdateFunctionConfiguration")
    them.delete_function(FunctionName=arn)
    assert refused(lambda: mine.get_function(FunctionName=name))[0] == "ResourceNotFoundException"
    assert json.loads(them.invoke(FunctionName=name)["Payload"].read()) == 3  # its own, untouched


@pytest.mark.parametrize("call", ["get_policy", "list_tags"])
def test_an_invoke_grant_lets_another_account_read_nothing(lbx: LocalLambdabox, call: str) -> None:
    """lambda:InvokeFunction grants invoking only: GetPolicy and ListTags stay denied."""
    name, arn = tagged_function(lbx)
    lbx.client("lambda").add_permission(
        FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal=OTHER
    )
    them = other_account(lbx)
    if call == "get_policy":
        got = refused(lambda: them.get_policy(FunctionName=arn))
        assert got == denied(arn, "lambda:GetPolicy")
    else:
        assert refused(lambda: them.list_tags(Resource=arn)) == denied(arn, "lambda:ListTags")


def test_a_deny_with_for_all_values_on_a_missing_key_denies() -> None:
    """IAM: a ForAllValues condition holds when the request lacks the key, so a Deny with it
    applies and denies."""
    statements = [
        {"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": FN},
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "lambda:InvokeFunction",
            "Resource": FN,
            "Condition": {"ForAllValues:StringLike": {"aws:TagKeys": "temp-*"}},
        },
    ]
    request = AccessRequest(Principal.of_caller(f"arn:aws:iam::{OTHER}:root"), "lambda:InvokeFunction", FN)
    assert evaluate(statements, request) is Decision.DENY


def test_an_unsigned_caller_cannot_inject_faults_into_a_tenant_s_function(tmp_path: Path) -> None:
    """With --verify-signatures an unsigned POST /_lambdabox/faults is refused (403) and the
    function runs unharmed."""
    with _server(tmp_path, enforce=True) as server:
        name, arn = tagged_function(server)
        status, _, _ = http_send(
            server, "POST", "/_lambdabox/faults",
            body=json.dumps({"function": arn, "kind": "error"}).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        out = server.client("lambda").invoke(FunctionName=name)
        assert (status, "FunctionError" in out) == (403, False)
