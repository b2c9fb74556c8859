"""Lambda's answers to bad and unusual requests, operation by operation, as AWS words them (issue 13).

Each test drives the real server with boto3 (validation switched off where the request is one
boto3 would refuse) and asserts the error code, message and HTTP status AWS sends, and that the
server goes on serving. The comment above each test names the source of AWS's wording.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, aws_error, deploy, make_zip, unique
from lambdabox.lambda_.runtime_catalog import BLOCKED

HELLO = {"app.py": "def handler(event, context):\n    return 'hello'\n"}
ACCOUNT = "000000000000"


def fn_arn(name: str, region: str = "us-east-1", account: str = ACCOUNT) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def create_params(**kw: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": unique(),
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip(HELLO)},
    }
    params.update(kw)
    return params


def refused(call: Callable[[], Any]) -> tuple[str, str, int]:
    """The error `call` gets: (code, message, HTTP status)."""
    with pytest.raises(ClientError) as exc:
        call()
    return aws_error(exc)


def assert_serving(lam: Any) -> None:
    """The server still answers (after an error it refused)."""
    assert lam.get_account_settings()["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.fixture
def fn(create_fn: Callable[..., str]) -> str:
    return create_fn(HELLO)


@pytest.fixture
def cleanup(lam: Any) -> Iterator[list[str]]:
    """Names of functions a test may have created; deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(ClientError):
            lam.delete_function(FunctionName=name)


# ---------------------------------------------------------------------------------------------
# Runtime
# ---------------------------------------------------------------------------------------------


def accepted_runtimes(lam: Any) -> list[str]:
    """The runtimes AWS accepts for new functions: the model's Runtime enum less the blocked ones."""
    return [r for r in lam.meta.service_model.shape_for("Runtime").enum if r not in BLOCKED]


# Lambda checks Runtime itself (it may be a runtime ARN too) and answers InvalidParameterValueException
# with the valid runtimes: "Value dotnetcore2.2 at 'runtime' failed to satisfy constraint: Member must
# satisfy enum value set: [java8, nodejs8.10, ...] or be a valid ARN (Service: AWSLambdaInternal; Status
# Code: 400; Error Code: InvalidParameterValueException" (quoted from CloudFormation in
# awslabs/amazon-redshift-monitoring PR 25 and Serverless users' reports); LocalStack's snapshot of AWS
# (localstack services/lambda_/runtimes.py VALID_RUNTIMES) lists only runtimes still open for new functions.
@pytest.mark.parametrize("operation", ["create_function", "update_function_configuration"])
def test_unknown_runtime_is_invalid_parameter_value_listing_the_runtimes_aws_accepts(
    lam_raw: Any, fn: str, operation: str
) -> None:
    if operation == "create_function":
        params = create_params(Runtime="cobol85")
    else:
        params = {"FunctionName": fn, "Runtime": "cobol85"}
    code, message, status = refused(lambda: getattr(lam_raw, operation)(**params))
    listed = ", ".join(accepted_runtimes(lam_raw))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == (
        "Value cobol85 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        f"[{listed}] or be a valid ARN"
    )
    for current in ("python3.13", "python3.14", "nodejs22.x", "nodejs24.x", "java21", "provided.al2023"):
        assert current in listed.split(", ")
    for retired in ("python2.7", "nodejs12.x", "go1.x", "provided"):
        assert retired not in listed.split(", ")
    assert_serving(lam_raw)


# "The runtime parameter of nodejs12.x is no longer supported for creating or updating AWS Lambda
# functions. We recommend you use a supported runtime while creating or updating functions.
# (Service: Lambda, Status Code: 400, ...)" (CloudFormation, quoted in an FSx workshop README; the
# same for python3.7 in a CDK sample). The older wording named a runtime ("use the new runtime
# (nodejs18.x)"); LocalStack notes AWS no longer sends it.
@pytest.mark.parametrize("runtime", ["python2.7", "python3.7", "nodejs12.x", "nodejs14.x", "go1.x"])
def test_blocked_runtimes_are_no_longer_supported_on_create_and_update(
    lam_raw: Any, fn: str, runtime: str
) -> None:
    expected = (
        "InvalidParameterValueException",
        f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
        "functions. We recommend you use a supported runtime while creating or updating functions.",
        400,
    )
    assert refused(lambda: lam_raw.create_function(**create_params(Runtime=runtime))) == expected
    assert (
        refused(lambda: lam_raw.update_function_configuration(FunctionName=fn, Runtime=runtime)) == expected
    )
    assert lam_raw.get_function_configuration(FunctionName=fn)["Runtime"] == "python3.11"
    assert_serving(lam_raw)


def test_every_python_and_nodejs_runtime_aws_accepts_is_accepted(lam: Any, cleanup: list[str]) -> None:
    """Runtimes missing on this machine run on the nearest installed interpreter (with a warning)."""
    ours = [r for r in accepted_runtimes(lam) if r.startswith(("python3.", "nodejs", "provided.al"))]
    assert {"python3.8", "python3.9", "python3.14", "nodejs18.x", "nodejs24.x"} <= set(ours)
    for runtime in ours:
        name = unique()
        cleanup.append(name)
        files = (
            {"index.js": "exports.handler = async () => 'hello';\n"} if runtime.startswith("node") else HELLO
        )
        handler = "index.handler" if runtime.startswith("node") else "app.handler"
        if runtime.startswith("provided"):
            files, handler = {"bootstrap": "#!/bin/sh\n"}, "bootstrap"
        created = deploy(lam, files, runtime=runtime, handler=handler, FunctionName=name)
        assert lam.get_function_configuration(FunctionName=created)["Runtime"] == runtime
    for runtime in ("python3.9", "python3.14"):
        name = unique()
        cleanup.append(name)
        deploy(lam, HELLO, runtime=runtime, FunctionName=name)
        out = lam.invoke(FunctionName=name)
        assert "FunctionError" not in out and json.loads(out["Payload"].read()) == "hello"


# AWS accepts java21 and the like; lambdabox has no runtime client for them and says so (its own words).
def test_runtimes_lambdabox_does_not_run_are_refused_in_its_own_words(lam: Any) -> None:
    code, message, status = refused(lambda: lam.create_function(**create_params(Runtime="java21")))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("lambdabox does not run java21 functions; it runs the runtimes [")
    assert "python3.13" in message and "java21" not in message.split("[", 1)[1]


# ---------------------------------------------------------------------------------------------
# FunctionName: the model's pattern and lengths, Lambda's 64 characters, other regions and accounts
# ---------------------------------------------------------------------------------------------


def model_pattern(lam: Any, shape: str) -> str:
    pattern: str = lam.meta.service_model.shape_for(shape).metadata["pattern"]
    return pattern


# AWS validates FunctionName against the model's pattern (NamespacedFunctionName for reads and
# Invoke, FunctionName for CreateFunction and updates): "1 validation error detected: Value
# 'lambdarole' at 'role' failed to satisfy constraint: Member must satisfy regular expression
# pattern: ..." is the form (aarondfrancis/sidecar issue 147); lambdabox's own older copy of the
# pattern had drifted from the model's (no eusc-/iso regions, no $LATEST.PUBLISHED).
def test_function_name_pattern_is_the_models(lam_raw: Any) -> None:
    for call, value, shape in [
        (lambda: lam_raw.get_function(FunctionName="bad name!"), "bad name!", "NamespacedFunctionName"),
        (lambda: lam_raw.invoke(FunctionName="bad name!"), "bad name!", "NamespacedFunctionName"),
        (
            lambda: lam_raw.update_function_code(FunctionName="bad name!", ZipFile=b"x"),
            "bad name!",
            "FunctionName",
        ),
        (
            lambda: lam_raw.create_function(**create_params(FunctionName="bad.name")),
            "bad.name",
            "FunctionName",
        ),
    ]:
        code, message, status = refused(call)
        assert (code, status) == ("ValidationException", 400)
        assert message == (
            f"1 validation error detected: Value '{value}' at 'functionName' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {model_pattern(lam_raw, shape)}"
        )
    assert_serving(lam_raw)


# A function name is at most 64 characters: CreateFunction answers InvalidParameterValueException in
# validation wording (LocalStack's AWS-validated api_utils / CreateFunction: "Edge-case where the
# error type is not ValidationException"); elsewhere a longer name (the model allows 140 or 256
# characters, for ARNs) is simply no function.
def test_names_longer_than_64_characters(lam_raw: Any) -> None:
    long = "a" * 65
    assert refused(lambda: lam_raw.create_function(**create_params(FunctionName=long))) == (
        "InvalidParameterValueException",
        f"1 validation error detected: Value '{long}' at 'functionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64",
        400,
    )
    assert refused(lambda: lam_raw.get_function(FunctionName=long)) == (
        "ResourceNotFoundException",
        f"Function not found: {fn_arn(long)}",
        404,
    )
    # a name of 64 is fine
    name = "b" * 54 + unique("")[-10:]
    lam_raw.create_function(**create_params(FunctionName=name))
    lam_raw.delete_function(FunctionName=name)


# CreateFunction's FunctionName may be an ARN but not name a version (LocalStack, AWS-validated:
# a qualified name is a ValidationException quoting the pattern).
def test_create_with_a_qualified_name_is_a_validation_error(lam_raw: Any) -> None:
    code, message, status = refused(lambda: lam_raw.create_function(**create_params(FunctionName="fn-x:1")))
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "1 validation error detected: Value 'fn-x:1' at 'functionName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {model_pattern(lam_raw, 'FunctionName')}"
    )
    assert refused(lambda: lam_raw.get_function(FunctionName="fn-x")) == (
        "ResourceNotFoundException",
        f"Function not found: {fn_arn('fn-x')}",
        404,
    )


# "operation error Lambda: Invoke, https response error StatusCode: 404, ... ResourceNotFoundException:
# Functions from 'us-east-1' are not reachable in this region ('ap-southeast-2')" (a Go SDK error quoted
# in a deployment tool's source; CDK users quote the same for cross-region function URLs).
@pytest.mark.parametrize(
    "call",
    [
        lambda lam, arn: lam.get_function(FunctionName=arn),
        lambda lam, arn: lam.get_function_configuration(FunctionName=arn),
        lambda lam, arn: lam.invoke(FunctionName=arn),
        lambda lam, arn: lam.update_function_configuration(FunctionName=arn, Timeout=5),
        lambda lam, arn: lam.update_function_code(FunctionName=arn, ZipFile=make_zip(HELLO)),
        lambda lam, arn: lam.delete_function(FunctionName=arn),
        lambda lam, arn: lam.list_tags(Resource=arn),
        lambda lam, arn: lam.tag_resource(Resource=arn, Tags={"a": "b"}),
        lambda lam, arn: lam.create_function(**create_params(FunctionName=arn)),
    ],
)
def test_function_arn_of_another_region_is_not_found(lam: Any, fn: str, call: Callable[..., Any]) -> None:
    assert refused(lambda: call(lam, fn_arn(fn, region="eu-west-1"))) == (
        "ResourceNotFoundException",
        "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')",
        404,
    )
    assert lam.get_function(FunctionName=fn)["Configuration"]["Timeout"] == 3
    assert_serving(lam)


# "User: arn:aws:iam::281655567048:root is not authorized to perform: lambda:GetLayerVersion on
# resource: arn:aws:lambda:us-east-1:667743079194:layer:serverless-bash:35 because no resource-based
# policy allows the lambda:GetLayerVersion action" (crucial-project/serverless-shell issue 2): the
# answer for another account's resource (lambdabox has no resource-based policies); Invoke's action
# is lambda:InvokeFunction.
@pytest.mark.parametrize(
    ("call", "action"),
    [
        (lambda lam, arn: lam.get_function(FunctionName=arn), "GetFunction"),
        (lambda lam, arn: lam.invoke(FunctionName=arn), "InvokeFunction"),
        (
            lambda lam, arn: lam.update_function_configuration(FunctionName=arn, Timeout=5),
            "UpdateFunctionConfiguration",
        ),
    ],
)
def test_function_arn_of_another_account_is_access_denied(
    lam: Any, fn: str, call: Callable[..., Any], action: str
) -> None:
    other = fn_arn(fn, account="111111111111")
    assert refused(lambda: call(lam, other)) == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: lambda:{action} on resource: "
        f"{other} because no resource-based policy allows the lambda:{action} action",
        403,
    )
    assert_serving(lam)


# ---------------------------------------------------------------------------------------------
# ListFunctions: MaxItems is the model's 1..10000
# ---------------------------------------------------------------------------------------------


def test_max_items_out_of_range_is_the_models_validation_error(lam_raw: Any) -> None:
    for value, constraint in [
        (0, "Member must have value greater than or equal to 1"),
        (10001, "Member must have value less than or equal to 10000"),
    ]:
        assert refused(lambda v=value: lam_raw.list_functions(MaxItems=v)) == (
            "ValidationException",
            f"1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy constraint: {constraint}",
            400,
        )
    assert lam_raw.list_functions(MaxItems=10000)["ResponseMetadata"]["HTTPStatusCode"] == 200


# Lambda's error bodies carry its `Type` member (User for the caller's faults), ValidationException's too.
def test_validation_exception_body_carries_type_user(server: Server) -> None:
    request = urllib.request.Request(f"{server.url}/2015-03-31/functions?MaxItems=0")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=10)
    assert exc.value.code == 400
    assert exc.value.headers["x-amzn-ErrorType"] == "ValidationException"
    assert json.loads(exc.value.read()) == {
        "Type": "User",
        "message": "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    }


# ---------------------------------------------------------------------------------------------
# Environment, code limits
# ---------------------------------------------------------------------------------------------


# LocalStack's AWS-validated CreateFunction keeps `Environment.Variables` as sent, `{}` included,
# and reports it; without Environment (or Variables) the member is absent.
def test_empty_environment_variables_are_echoed(lam: Any, create_fn: Callable[..., str]) -> None:
    created = lam.create_function(**create_params(Environment={"Variables": {}}))
    try:
        assert created["Environment"] == {"Variables": {}}
        assert lam.get_function_configuration(FunctionName=created["FunctionName"])["Environment"] == {
            "Variables": {}
        }
    finally:
        lam.delete_function(FunctionName=created["FunctionName"])
    bare = create_fn(HELLO)
    assert "Environment" not in lam.get_function_configuration(FunctionName=bare)
    no_variables = create_fn(HELLO, Environment={})
    assert "Environment" not in lam.get_function_configuration(FunctionName=no_variables)
    updated = lam.update_function_configuration(FunctionName=bare, Environment={"Variables": {}})
    assert updated["Environment"] == {"Variables": {}}
    assert lam.get_function_configuration(FunctionName=bare)["Environment"] == {"Variables": {}}


# "Lambda was unable to configure your environment variables because the environment variables you
# have provided exceeded the 4KB limit. String measured: {...}" (AWS's InvalidParameterValueException,
# quoted in Serverless Framework and SAM issues).
def test_environment_over_4kb_names_the_limit_and_the_string_measured(lam: Any, fn: str) -> None:
    variables = {"BIG": "x" * 4090}
    measured = json.dumps(variables, separators=(",", ":"))
    expected = (
        "InvalidParameterValueException",
        "Lambda was unable to configure your environment variables because the environment variables you "
        f"have provided exceeded the 4KB limit. String measured: {measured}",
        400,
    )
    env = {"Variables": variables}
    assert refused(lambda: lam.create_function(**create_params(Environment=env))) == expected
    assert refused(lambda: lam.update_function_configuration(FunctionName=fn, Environment=env)) == expected
    assert_serving(lam)


# "InvalidParameterValueException: Unzipped size must be smaller than 262144000 bytes" (Serverless
# Framework issue 6792, jkehler/awslambda-psycopg2 issue 82: "(Service: Lambda, Status Code: 400)").
def test_code_unzipping_over_250_mb_is_refused_with_awss_message(lam: Any, fn: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("app.py", HELLO["app.py"])
        with zf.open("zeros.bin", "w", force_zip64=True) as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(251):
                member.write(chunk)
    big = buf.getvalue()
    expected = ("InvalidParameterValueException", "Unzipped size must be smaller than 262144000 bytes", 400)
    assert refused(lambda: lam.create_function(**create_params(Code={"ZipFile": big}))) == expected
    assert refused(lambda: lam.update_function_code(FunctionName=fn, ZipFile=big)) == expected
    assert_serving(lam)


# ---------------------------------------------------------------------------------------------
# RevisionId and LastUpdateStatus
# ---------------------------------------------------------------------------------------------


# LocalStack's AWS-validated TestLambdaRevisions.test_function_revisions_basic: the revision of
# CreateFunction's answer differs from the Active function's; UpdateFunctionCode's and
# UpdateFunctionConfiguration's answers carry a new one and the finished update another (aws/aws-sdk
# issue 377: "returns a new revisionId that changes shortly after"). Updates answer LastUpdateStatus
# InProgress with reason "The function is being created." / "Creating" (LocalStack's snapshots) and end
# Successful without reason fields. Tags live outside the configuration and keep the revision.
def test_revision_ids_and_update_status_follow_awss_lifecycle(lam: Any) -> None:
    created = lam.create_function(**create_params())
    name = created["FunctionName"]
    try:
        rev1 = created["RevisionId"]
        assert created["State"] == "Pending" and "LastUpdateStatus" not in created
        active = lam.get_function_configuration(FunctionName=name)
        rev2 = active["RevisionId"]
        assert active["State"] == "Active" and rev2 != rev1
        assert refused(
            lambda: lam.update_function_code(FunctionName=name, ZipFile=make_zip(HELLO), RevisionId=rev1)
        ) == (
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            412,
        )

        code = lam.update_function_code(FunctionName=name, ZipFile=make_zip(HELLO), RevisionId=rev2)
        rev3 = code["RevisionId"]
        assert rev3 != rev2
        assert (
            code["LastUpdateStatus"],
            code["LastUpdateStatusReason"],
            code["LastUpdateStatusReasonCode"],
        ) == (
            "InProgress",
            "The function is being created.",
            "Creating",
        )
        done = lam.get_function_configuration(FunctionName=name)
        rev4 = done["RevisionId"]
        assert rev4 not in (rev2, rev3)
        assert done["LastUpdateStatus"] == "Successful"
        assert "LastUpdateStatusReason" not in done and "LastUpdateStatusReasonCode" not in done

        conf = lam.update_function_configuration(FunctionName=name, Timeout=9, RevisionId=rev4)
        rev5 = conf["RevisionId"]
        assert rev5 != rev4 and conf["LastUpdateStatus"] == "InProgress"
        rev6 = lam.get_function_configuration(FunctionName=name)["RevisionId"]
        assert rev6 not in (rev4, rev5)

        lam.tag_resource(Resource=created["FunctionArn"], Tags={"team": "core"})
        lam.untag_resource(Resource=created["FunctionArn"], TagKeys=["team"])
        assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == rev6
    finally:
        lam.delete_function(FunctionName=name)


# ---------------------------------------------------------------------------------------------
# UpdateFunctionCode DryRun (issue 13, item 4)
# ---------------------------------------------------------------------------------------------


# API_UpdateFunctionCode: "DryRun - Set to true to validate the request parameters and access
# permissions without modifying the function code." Nothing is stored or unpacked, the function's
# code, revision and behaviour stay as they were; a bad zip is still refused.
def test_dry_run_update_function_code_changes_nothing(lam: Any, fn: str, server: Server) -> None:
    code_dir = server.data_dir / "code"
    before = sorted(os.listdir(code_dir))
    conf = lam.get_function_configuration(FunctionName=fn)
    other = make_zip({"app.py": "def handler(event, context):\n    return 'changed'\n"})
    dry = lam.update_function_code(FunctionName=fn, ZipFile=other, DryRun=True)
    assert dry["CodeSize"] == len(other)
    assert sorted(os.listdir(code_dir)) == before
    after = lam.get_function_configuration(FunctionName=fn)
    assert (after["CodeSha256"], after["CodeSize"], after["RevisionId"]) == (
        conf["CodeSha256"],
        conf["CodeSize"],
        conf["RevisionId"],
    )
    assert json.loads(lam.invoke(FunctionName=fn)["Payload"].read()) == "hello"
    assert refused(lambda: lam.update_function_code(FunctionName=fn, ZipFile=b"not a zip", DryRun=True)) == (
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
        400,
    )
    assert sorted(os.listdir(code_dir)) == before
