"""Published versions through boto3: publishing, listing, qualified reads and invokes, deletion."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, make_zip
from versions_helpers import ACCOUNT, REGION, arn, run, source


def test_publish_version_lifecycle(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"), Description="latest's")
    before = lam.get_function(FunctionName=name)["Configuration"]
    v1 = lam.publish_version(FunctionName=name, Description="first")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["FunctionArn"] == arn(name, "1") and v1["Version"] == "1"
    assert v1["Description"] == "first" and v1["State"] == "Active"
    assert v1["LastUpdateStatus"] == "Successful" and "StateReason" not in v1
    assert v1["CodeSha256"] == before["CodeSha256"]
    latest = lam.get_function(FunctionName=name)["Configuration"]
    assert latest["Description"] == "latest's" and latest["Version"] == "$LATEST"
    assert latest["RevisionId"] != before["RevisionId"], "publishing is a new revision of $LATEST"
    # unchanged since version 1: version 1 again, as it is (its description kept)
    again = lam.publish_version(FunctionName=name, Description="ignored")
    assert (again["Version"], again["RevisionId"], again["Description"]) == ("1", v1["RevisionId"], "first")

    lam.update_function_code(FunctionName=name, ZipFile=make_zip(source("v2")))
    v2 = lam.publish_version(FunctionName=name)
    assert v2["Version"] == "2" and v2["Description"] == "latest's"
    assert v2["CodeSha256"] != v1["CodeSha256"]
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [(v["Version"], v["FunctionArn"]) for v in versions] == [
        ("$LATEST", arn(name, "$LATEST")),
        ("1", arn(name, "1")),
        ("2", arn(name, "2")),
    ]
    assert all("State" not in v and "LastUpdateStatus" not in v for v in versions)


def test_list_versions_pages(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("0"))
    for i in range(1, 4):
        lam.update_function_configuration(FunctionName=name, Description=str(i))
        assert lam.publish_version(FunctionName=name)["Version"] == str(i)
    seen, marker = [], None
    while True:
        page = lam.list_versions_by_function(
            FunctionName=name, MaxItems=1, **({"Marker": marker} if marker else {})
        )
        assert len(page["Versions"]) == 1
        seen += [v["Version"] for v in page["Versions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == ["$LATEST", "1", "2", "3"]
    pages = lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
    assert [v["Version"] for p in pages for v in p["Versions"]] == seen


def test_publish_preconditions(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"))
    conf = lam.get_function_configuration(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=name, CodeSha256="bogus")
    assert aws_error(exc) == (
        "InvalidParameterValueException",
        f"CodeSHA256 (bogus) is different from current CodeSHA256 in $LATEST ({conf['CodeSha256']}). "
        "Please try again with the CodeSHA256 in $LATEST.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=name, RevisionId="d3b3a6a9-0000-0000-0000-000000000000")
    assert aws_error(exc) == (
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        412,
    )
    assert lam.list_versions_by_function(FunctionName=name)["Versions"][-1]["Version"] == "$LATEST"
    ok = lam.publish_version(FunctionName=name, CodeSha256=conf["CodeSha256"], RevisionId=conf["RevisionId"])
    assert ok["Version"] == "1"
    # every update checks RevisionId
    for call in (
        lambda: lam.update_function_configuration(
            FunctionName=name, Timeout=9, RevisionId=conf["RevisionId"]
        ),
        lambda: lam.update_function_code(
            FunctionName=name, ZipFile=make_zip(source("x")), RevisionId="stale"
        ),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert aws_error(exc)[0::2] == ("PreconditionFailedException", 412)
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 3


def test_publish_on_create_and_on_update_code(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"), Publish=True)
    conf = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert conf["Version"] == "1" and conf["FunctionArn"] == arn(name, "1")
    updated = lam.update_function_code(FunctionName=name, ZipFile=make_zip(source("v2")), Publish=True)
    assert updated["Version"] == "2" and updated["FunctionArn"] == arn(name, "2")
    assert run(lam, name, Qualifier="1")[0]["code"] == "v1"
    assert run(lam, name, Qualifier="2")[0]["code"] == "v2"


def test_qualified_reads_in_every_name_form(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"))
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    partial = f"{ACCOUNT}:function:{name}"
    cases = {
        (name, None): (arn(name), "$LATEST"),
        (name, "$LATEST"): (arn(name, "$LATEST"), "$LATEST"),
        (name, "1"): (arn(name, "1"), "1"),
        (name, "live"): (arn(name, "live"), "1"),
        (f"{name}:1", None): (arn(name, "1"), "1"),
        (f"{name}:live", None): (arn(name, "live"), "1"),
        (arn(name, "1"), None): (arn(name, "1"), "1"),
        (arn(name, "live"), "live"): (arn(name, "live"), "1"),
        (f"{partial}:1", None): (arn(name, "1"), "1"),
        (f"{REGION}:{partial}:$LATEST", None): (arn(name, "$LATEST"), "$LATEST"),
    }
    for (fn, qualifier), want in cases.items():
        kw = {"Qualifier": qualifier} if qualifier else {}
        conf = lam.get_function_configuration(FunctionName=fn, **kw)
        assert (conf["FunctionArn"], conf["Version"]) == want, (fn, qualifier)
        got = lam.get_function(FunctionName=fn, **kw)["Configuration"]
        assert (got["FunctionArn"], got["Version"]) == want, (fn, qualifier)
        answer, executed = run(lam, fn, **kw)
        assert executed == want[1] and answer["version"] == want[1] == answer["env_version"]
        assert answer["arn"] == (want[0] if (qualifier or ":" in fn.removeprefix("arn:")) else arn(name))


def test_unknown_and_mismatched_qualifiers(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"))
    for qualifier in ("7", "nope", "$LATEST.PUBLISHED"):
        for call in (lam.get_function, lam.get_function_configuration, lam.invoke):
            with pytest.raises(ClientError) as exc:
                call(FunctionName=name, Qualifier=qualifier)
            assert aws_error(exc) == (
                "ResourceNotFoundException",
                f"Function not found: {arn(name, qualifier)}",
                404,
            )
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=f"{name}:1", Qualifier="2")
    assert aws_error(exc) == (
        "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=f"{name}:bad!")
    assert aws_error(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:  # another account's ARN
        lam.invoke(FunctionName=f"arn:aws:lambda:{REGION}:111111111111:function:{name}:1")
    assert aws_error(exc)[0::2] == ("AccessDeniedException", 403)
    with pytest.raises(ClientError) as exc:  # another region's
        lam.invoke(FunctionName=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{name}:1")
    assert aws_error(exc) == (
        "ResourceNotFoundException",
        f"Functions from 'eu-west-1' are not reachable in this region ('{REGION}')",
        404,
    )


def test_versions_run_in_their_own_environments(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"))
    lam.publish_version(FunctionName=name)
    first, _ = run(lam, name, Qualifier="1")
    latest, _ = run(lam, name)
    assert first["token"] != latest["token"], "a version shares $LATEST's environment"
    # updating $LATEST retires $LATEST's environments, never version 1's
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(source("v2")))
    lam.update_function_configuration(FunctionName=name, Timeout=10)
    again, executed = run(lam, name, Qualifier="1")
    assert (again["code"], again["token"], executed) == ("v1", first["token"], "1")
    now, executed = run(lam, name)
    assert (now["code"], executed) == ("v2", "$LATEST") and now["token"] != latest["token"]
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Timeout"] == 3


def test_delete_versions(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"))
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Description="2")
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert aws_error(exc) == (
        "InvalidParameterValueException",
        "$LATEST version cannot be deleted without deleting the function.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="1")
    assert aws_error(exc) == (
        "ResourceConflictException",
        "Unable to delete version because the following aliases reference it: [live]",
        409,
    )
    assert lam.delete_function(FunctionName=f"{name}:2")["ResponseMetadata"]["HTTPStatusCode"] == 204
    # deleting a version that is not there succeeds, as on AWS
    assert lam.delete_function(FunctionName=name, Qualifier="2")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name, Qualifier="2")
    assert aws_error(exc)[0] == "ResourceNotFoundException"
    # version numbers are never reused
    lam.update_function_configuration(FunctionName=name, Description="3")
    assert lam.publish_version(FunctionName=name)["Version"] == "3"
    assert run(lam, name, Qualifier="live")[1] == "1"
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=f"{name}-gone", Qualifier="1")
    assert aws_error(exc) == ("ResourceNotFoundException", f"Function not found: {arn(name + '-gone')}", 404)


def test_deleting_a_function_deletes_its_versions_aliases_and_policies(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"), Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.add_permission(FunctionName=name, StatementId="s", Action="lambda:InvokeFunction", Principal="*")
    lam.delete_function(FunctionName=name)
    create_fn(source("again"), FunctionName=name)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST"]
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []
    with pytest.raises(ClientError) as exc:
        lam.get_policy(FunctionName=name)
    assert aws_error(exc)[0] == "ResourceNotFoundException"
    # numbering starts again for the new function
    lam.update_function_configuration(FunctionName=name, Description="x")
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    assert run(lam, name, Qualifier="1")[0]["code"] == "again"


def test_list_functions_with_every_version(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"), Publish=True)
    every = [
        f["FunctionArn"]
        for p in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL")
        for f in p["Functions"]
        if f["FunctionName"] == name
    ]
    assert every == [arn(name, "$LATEST"), arn(name, "1")]
    plain = [f for f in lam.list_functions(MaxItems=10000)["Functions"] if f["FunctionName"] == name]
    assert [f["FunctionArn"] for f in plain] == [arn(name)]
    assert "State" not in plain[0] and "LastUpdateStatus" not in plain[0]


def test_tags_only_on_the_function(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"), Publish=True, Tags={"team": "a"})
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for qualifier in ("1", "live", "$LATEST"):
        for call in (
            lambda r: lam.tag_resource(Resource=r, Tags={"x": "y"}),
            lambda r: lam.untag_resource(Resource=r, TagKeys=["team"]),
            lambda r: lam.list_tags(Resource=r),
        ):
            with pytest.raises(ClientError) as exc:
                call(arn(name, qualifier))
            assert aws_error(exc) == (
                "InvalidParameterValueException",
                "Tags on function aliases and versions are not supported. Please specify a function ARN.",
                400,
            )
    assert lam.list_tags(Resource=arn(name))["Tags"] == {"team": "a"}


def test_version_numbers_are_written_one_way(lam: Any, create_fn: Any) -> None:
    """ "03" is not how version 3 is written: it names no version, so an alias cannot route to it
    past the check that keeps a routed-to version from being deleted (found by review)."""
    name = create_fn(source("v1"), Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(source("v2")), Publish=True)
    for qualifier in ("01", "002", "0"):
        with pytest.raises(ClientError) as exc:
            lam.get_function_configuration(FunctionName=name, Qualifier=qualifier)
        assert aws_error(exc) == (
            "ResourceNotFoundException",
            f"Function not found: {arn(name, qualifier)}",
            404,
        )
    for kw in (
        {"FunctionVersion": "01"},
        {"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"02": 0.5}}},
    ):
        with pytest.raises(ClientError) as exc:
            lam.create_alias(FunctionName=name, Name="padded", **kw)
        assert aws_error(exc)[0::2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        lam.add_permission(
            FunctionName=name, StatementId="s", Action="lambda:InvokeFunction", Principal="*", Qualifier="02"
        )
    assert aws_error(exc)[0::2] == ("ResourceNotFoundException", 404)
    lam.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    for version in ("1", "2"):
        with pytest.raises(ClientError) as exc:
            lam.delete_function(FunctionName=name, Qualifier=version)
        assert aws_error(exc)[0::2] == ("ResourceConflictException", 409)
    lam.delete_function(FunctionName=name, Qualifier="02")  # names no version: nothing deleted
    assert {run(lam, name, Qualifier="live")[1] for _ in range(20)} <= {"1", "2"}


def test_delete_function_does_not_delete_aliases(lam: Any, create_fn: Any) -> None:
    name = create_fn(source("v1"), Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for qualifier in ("live", "-1"):
        with pytest.raises(ClientError) as exc:
            lam.delete_function(FunctionName=name, Qualifier=qualifier)
        assert aws_error(exc) == (
            "InvalidParameterValueException",
            "Deletion of aliases is not currently supported.",
            400,
        )
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
