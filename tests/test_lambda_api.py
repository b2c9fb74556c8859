"""The Lambda control plane through boto3: shapes, paging, tags, and AWS's errors."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, aws_error, deploy, make_zip, unique

HELLO = {"app.py": "def handler(event, context):\n    return {'ok': True}\n"}


def test_create_get_list_update_delete(lam: Any) -> None:
    name = unique()
    zipped = make_zip(HELLO)
    created = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zipped},
        Description="first",
        Timeout=30,
        MemorySize=256,
        Environment={"Variables": {"STAGE": "dev"}},
        Tags={"team": "core"},
        Architectures=["x86_64"],
        EphemeralStorage={"Size": 1024},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert created["State"] == "Pending"
    assert created["CodeSize"] == len(zipped)
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(zipped).digest()).decode()
    assert created["Version"] == "$LATEST"
    assert created["Environment"] == {"Variables": {"STAGE": "dev"}}
    assert created["EphemeralStorage"] == {"Size": 1024}

    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["State"] == "Active"
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Tags"] == {"team": "core"}
    assert got["Code"]["RepositoryType"] == "S3"
    conf = lam.get_function_configuration(FunctionName=got["Configuration"]["FunctionArn"])
    assert conf["MemorySize"] == 256 and conf["Timeout"] == 30 and conf["Description"] == "first"

    names = [f["FunctionName"] for f in lam.list_functions(MaxItems=10000)["Functions"]]
    assert name in names

    upd = lam.update_function_configuration(FunctionName=name, Timeout=60, Description="second")
    assert upd["LastUpdateStatus"] == "InProgress"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    conf2 = lam.get_function_configuration(FunctionName=name)
    assert conf2["Timeout"] == 60 and conf2["Description"] == "second"
    assert conf2["RevisionId"] != conf["RevisionId"]

    new_zip = make_zip({"app.py": "def handler(e, c):\n    return 2\n"})
    code = lam.update_function_code(FunctionName=name, ZipFile=new_zip)
    assert code["CodeSha256"] == base64.b64encode(hashlib.sha256(new_zip).digest()).decode()

    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name)
    assert aws_error(exc) == (
        "ResourceNotFoundException",
        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}",
        404,
    )


def test_list_functions_pages_with_marker(lam: Any, create_fn: Any) -> None:
    made = {create_fn(HELLO, FunctionName=unique("page")) for _ in range(5)}
    seen: list[str] = []
    kwargs: dict[str, Any] = {"MaxItems": 2}
    while True:
        page = lam.list_functions(**kwargs)
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        if "NextMarker" not in page:
            break
        kwargs["Marker"] = page["NextMarker"]
    assert made <= set(seen)
    assert len(seen) == len(set(seen))
    paginated = [
        f["FunctionName"] for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]
    ]
    assert sorted(paginated) == sorted(seen)


def test_duplicate_create_conflicts(lam: Any, create_fn: Any) -> None:
    name = create_fn(HELLO)
    with pytest.raises(ClientError) as exc:
        deploy(lam, HELLO, FunctionName=name)
    assert aws_error(exc) == ("ResourceConflictException", f"Function already exist: {name}", 409)


@pytest.mark.parametrize(
    ("kwargs", "code", "fragment"),
    [
        ({"MemorySize": 100}, "ValidationException", "Member must have value greater than or equal to 128"),
        ({"MemorySize": 20000}, "ValidationException", "Member must have value less than or equal to 10240"),
        ({"Timeout": 0}, "ValidationException", "greater than or equal to 1"),
        ({"Timeout": 901}, "ValidationException", "less than or equal to 900"),
        ({"Runtime": "python2.7"}, "InvalidParameterValueException", "no longer supported"),
        ({"Runtime": "cobol1.0"}, "InvalidParameterValueException", "] or be a valid ARN"),
        ({"Runtime": "java21"}, "InvalidParameterValueException", "lambdabox does not run java21 functions"),
        ({"Role": "not-a-role"}, "ValidationException", "role"),
        (
            {"Environment": {"Variables": {"AWS_REGION": "x"}}},
            "InvalidParameterValueException",
            "reserved keys",
        ),
        ({"Environment": {"Variables": {"BIG": "x" * 5000}}}, "InvalidParameterValueException", "4KB"),
        ({"Code": {"ZipFile": b"this is not a zip"}}, "InvalidParameterValueException", "Could not unzip"),
        ({"EphemeralStorage": {"Size": 100}}, "ValidationException", "greater than or equal to 512"),
    ],
)
def test_create_validation_errors(lam_raw: Any, kwargs: dict[str, Any], code: str, fragment: str) -> None:
    params: dict[str, Any] = {
        "FunctionName": unique(),
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip(HELLO)},
    }
    params.update(kwargs)
    with pytest.raises(ClientError) as exc:
        lam_raw.create_function(**params)
    got_code, message, status = aws_error(exc)
    assert got_code == code, message
    assert fragment in message
    assert status == 400
    assert exc.value.response["Error"].get("Type", "User") == "User"


def test_zip_slip_and_zip_bomb_are_refused(lam: Any) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../evil.py", "x = 1")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        for i in range(3):
            zf.writestr(f"zeros{i}.bin", b"\0" * (100 * 1024 * 1024))
    for blob in (buf.getvalue(), bomb.getvalue()):
        with pytest.raises(ClientError) as exc:
            lam.create_function(
                FunctionName=unique(),
                Runtime="python3.11",
                Role=ROLE,
                Handler="app.handler",
                Code={"ZipFile": blob},
            )
        assert aws_error(exc)[0] == "InvalidParameterValueException"
        assert aws_error(exc)[2] == 400


def test_tags(lam: Any, create_fn: Any) -> None:
    name = create_fn(HELLO, Tags={"a": "1"})
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"b": "2", "c": "3"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1", "b": "2", "c": "3"}
    lam.untag_resource(Resource=arn, TagKeys=["a", "c"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    with pytest.raises(ClientError) as exc:
        lam.list_tags(Resource=arn + "-missing")
    assert aws_error(exc)[0] == "ResourceNotFoundException"


def test_account_settings(lam: Any, create_fn: Any) -> None:
    create_fn(HELLO)
    s = lam.get_account_settings()
    assert s["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert s["AccountLimit"]["CodeSizeUnzipped"] == 262144000
    assert s["AccountUsage"]["FunctionCount"] >= 1


def test_revision_id_precondition(lam: Any, create_fn: Any) -> None:
    name = create_fn(HELLO)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Timeout=5, RevisionId="stale")
    assert aws_error(exc)[0] == "PreconditionFailedException"
    assert aws_error(exc)[2] == 412


def test_unknown_function_and_qualifier(lam: Any, create_fn: Any) -> None:
    name = create_fn(HELLO)
    with pytest.raises(ClientError) as exc:
        lam.get_function_configuration(FunctionName=name, Qualifier="7")
    assert aws_error(exc)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName="does-not-exist")
    assert aws_error(exc)[:2] == (
        "ResourceNotFoundException",
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:does-not-exist",
    )
