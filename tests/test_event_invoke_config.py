"""Asynchronous invocation configuration through boto3: Put/Update/Get/List/Delete
FunctionEventInvokeConfig on a function, a version and an alias, AWS's errors, paging, what the
async dispatcher reads, persistence across a restart, and deletion with the function, version or
alias it belongs to.

Expected answers are AWS's: the shape of LocalStack's AWS-recorded snapshots
(tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestLambdaEventInvokeConfig: an empty
`{}` OnSuccess/OnFailure when there is no destination, settings never set left out, `$LATEST` in
the ARN of an unqualified configuration), the botocore examples (LastModified as epoch seconds
with milliseconds) and the error messages AWS gives (for an S3 on-success destination, see
aws/aws-cdk#37115).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, aws_error, deploy, make_zip, unique
from lambdabox.testing import LocalLambdabox
from versions_helpers import ACCOUNT, REGION, arn

ECHO = {"app.py": "def handler(event, context):\n    return event\n"}
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:failed"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:done"
BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
BUCKET = "arn:aws:s3:::failed-events"
EMPTY = {"OnSuccess": {}, "OnFailure": {}}
INVALID = "InvalidParameterValueException"
NOT_FOUND = "ResourceNotFoundException"


def body(out: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in out.items() if k not in ("ResponseMetadata", "LastModified")}


def error(call: Any, **kw: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call(**kw)
    return aws_error(exc)


def _versioned(create_fn: Any, lam: Any) -> str:
    """A function with version 1 and alias `live` → 1."""
    name = create_fn(ECHO, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name


def test_put_get_update_list_delete(lam: Any, create_fn: Any) -> None:
    name = create_fn(ECHO)
    before = dt.datetime.now(dt.UTC)
    put = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert body(put) == {
        "FunctionArn": arn(name, "$LATEST"),
        "MaximumRetryAttempts": 0,
        "DestinationConfig": EMPTY,
    }
    # a timestamp (epoch seconds in the JSON), which boto3 reads as a datetime
    assert isinstance(put["LastModified"], dt.datetime)
    assert before - dt.timedelta(seconds=5) <= put["LastModified"] <= before + dt.timedelta(seconds=60)

    # Put replaces the whole configuration: the retries set before are gone
    put = lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60)
    assert body(put) == {
        "FunctionArn": arn(name, "$LATEST"),
        "MaximumEventAgeInSeconds": 60,
        "DestinationConfig": EMPTY,
    }

    # Update merges: the age stays, retries and destinations are added
    upd = lam.update_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": QUEUE}}
    )
    expected = {
        "FunctionArn": arn(name, "$LATEST"),
        "MaximumEventAgeInSeconds": 60,
        "MaximumRetryAttempts": 1,
        "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": QUEUE}},
    }
    assert body(upd) == expected
    assert upd["LastModified"] >= put["LastModified"]
    assert body(lam.get_function_event_invoke_config(FunctionName=name)) == expected
    assert body(lam.get_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST")) == expected
    assert body(lam.get_function_event_invoke_config(FunctionName=arn(name))) == expected
    # an Update that names destinations replaces them
    upd = lam.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": TOPIC}}
    )
    assert upd["DestinationConfig"] == {"OnSuccess": {"Destination": TOPIC}, "OnFailure": {}}
    assert upd["MaximumRetryAttempts"] == 1 and upd["MaximumEventAgeInSeconds"] == 60

    listed = lam.list_function_event_invoke_configs(FunctionName=name)
    assert [body(c) for c in listed["FunctionEventInvokeConfigs"]] == [body(upd)]
    assert "NextMarker" not in listed

    deleted = lam.delete_function_event_invoke_config(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []
    assert error(lam.get_function_event_invoke_config, FunctionName=name) == (
        NOT_FOUND, f"The function {arn(name, '$LATEST')} doesn't have an EventInvokeConfig", 404,
    )  # fmt: skip
    # deleting again: there is nothing to delete (named as asked for)
    assert error(lam.delete_function_event_invoke_config, FunctionName=name) == (
        NOT_FOUND, f"The function {arn(name)} doesn't have an EventInvokeConfig", 404,
    )  # fmt: skip


def test_every_destination_kind(lam: Any, create_fn: Any) -> None:
    name = create_fn(ECHO)
    other = create_fn(ECHO, Publish=True)
    cases = [
        {"OnSuccess": {"Destination": QUEUE}, "OnFailure": {"Destination": TOPIC}},
        {"OnSuccess": {"Destination": BUS}, "OnFailure": {"Destination": BUCKET}},
        {"OnSuccess": {"Destination": arn(other)}, "OnFailure": {"Destination": arn(other, "1")}},
        {"OnSuccess": {"Destination": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:elsewhere.fifo"}, "OnFailure": {}},
    ]
    for dest in cases:
        out = lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig=dest)
        assert out["DestinationConfig"] == dest
        assert "MaximumRetryAttempts" not in out and "MaximumEventAgeInSeconds" not in out
    # members without a destination, or an empty one, are no destination
    for dest in ({"OnSuccess": {}}, {"OnFailure": {}}, {}, {"OnSuccess": {"Destination": ""}}):
        out = lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig=dest)
        assert out["DestinationConfig"] == EMPTY


def test_qualifiers(lam: Any, create_fn: Any) -> None:
    name = _versioned(create_fn, lam)
    # a published version has no configuration of $LATEST's
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert error(lam.get_function_event_invoke_config, FunctionName=name, Qualifier="1") == (
        NOT_FOUND, f"The function {arn(name, '1')} doesn't have an EventInvokeConfig", 404,
    )  # fmt: skip
    v1 = lam.put_function_event_invoke_config(FunctionName=name, Qualifier="1", MaximumEventAgeInSeconds=120)
    assert v1["FunctionArn"] == arn(name, "1")
    # an alias, named by the Qualifier, by a qualified name or by its ARN (with a matching Qualifier)
    for kw in (
        {"FunctionName": name, "Qualifier": "live"},
        {"FunctionName": f"{name}:live"},
        {"FunctionName": arn(name, "live")},
        {"FunctionName": arn(name, "live"), "Qualifier": "live"},
    ):
        out = lam.put_function_event_invoke_config(**kw, MaximumRetryAttempts=1)
        assert out["FunctionArn"] == arn(name, "live")
    assert lam.put_function_event_invoke_config(FunctionName=f"{name}:1", MaximumRetryAttempts=2)[
        "FunctionArn"
    ] == (arn(name, "1"))
    assert lam.put_function_event_invoke_config(
        FunctionName=f"{name}:$LATEST", Qualifier="$LATEST", MaximumRetryAttempts=1
    )["FunctionArn"] == arn(name, "$LATEST")
    conflict = (
        INVALID,
        "The derived qualifier from the function name does not match the specified qualifier.",
        400,
    )
    assert (
        error(
            lam.put_function_event_invoke_config,
            FunctionName=f"{name}:live",
            Qualifier="other",
            MaximumRetryAttempts=1,
        )
        == conflict
    )
    assert (
        error(
            lam.put_function_event_invoke_config,
            FunctionName=f"{name}:1",
            Qualifier="$LATEST",
            MaximumRetryAttempts=1,
        )
        == conflict
    )
    missing = (NOT_FOUND, "The function doesn't exist.", 404)
    for q in ("nope", "7"):
        assert (
            error(
                lam.put_function_event_invoke_config, FunctionName=name, Qualifier=q, MaximumRetryAttempts=1
            )
            == missing
        )
        assert (
            error(
                lam.update_function_event_invoke_config,
                FunctionName=name,
                Qualifier=q,
                MaximumRetryAttempts=1,
            )
            == missing
        )
    # each qualifier has its own
    got = {
        q: lam.get_function_event_invoke_config(FunctionName=name, Qualifier=q)
        for q in ("$LATEST", "1", "live")
    }
    assert {q: (g.get("MaximumRetryAttempts"), g.get("MaximumEventAgeInSeconds")) for q, g in got.items()} == {
        "$LATEST": (1, None), "1": (2, None), "live": (1, None),
    }  # fmt: skip
    lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="live")
    assert [c["FunctionArn"] for c in lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]] == [
        arn(name, "$LATEST"), arn(name, "1"),
    ]  # fmt: skip


def test_paging(lam: Any, create_fn: Any) -> None:
    name = create_fn(ECHO, Publish=True)
    for n in range(2, 4):
        lam.update_function_configuration(FunctionName=name, Description=f"v{n}")
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        lam.publish_version(FunctionName=name)
    for alias in ("blue", "green"):
        lam.create_alias(FunctionName=name, Name=alias, FunctionVersion="1")
    qualifiers = ["$LATEST", "1", "2", "3", "blue", "green"]
    for q in reversed(qualifiers):
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier=q, MaximumRetryAttempts=0)
    arns = [arn(name, q) for q in qualifiers]
    everything = lam.list_function_event_invoke_configs(FunctionName=name)
    assert [c["FunctionArn"] for c in everything["FunctionEventInvokeConfigs"]] == arns
    first = lam.list_function_event_invoke_configs(FunctionName=name, MaxItems=4)
    assert [c["FunctionArn"] for c in first["FunctionEventInvokeConfigs"]] == arns[:4]
    rest = lam.list_function_event_invoke_configs(FunctionName=name, MaxItems=4, Marker=first["NextMarker"])
    assert [c["FunctionArn"] for c in rest["FunctionEventInvokeConfigs"]] == arns[4:]
    assert "NextMarker" not in rest
    pages = lam.get_paginator("list_function_event_invoke_configs").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 1}
    )
    assert [c["FunctionArn"] for p in pages for c in p["FunctionEventInvokeConfigs"]] == arns


def test_missing_function_and_settings(lam: Any, lam_raw: Any, create_fn: Any) -> None:
    name = create_fn(ECHO)
    gone = unique("gone")
    missing = (NOT_FOUND, "The function doesn't exist.", 404)
    for fn in (gone, arn(gone)):
        assert error(lam.put_function_event_invoke_config, FunctionName=fn, MaximumRetryAttempts=1) == missing
        assert (
            error(lam.update_function_event_invoke_config, FunctionName=fn, MaximumRetryAttempts=1) == missing
        )
    assert error(lam.list_function_event_invoke_configs, FunctionName=gone) == missing
    assert error(lam.get_function_event_invoke_config, FunctionName=gone) == (
        NOT_FOUND, f"The function {arn(gone, '$LATEST')} doesn't have an EventInvokeConfig", 404,
    )  # fmt: skip
    assert error(lam.delete_function_event_invoke_config, FunctionName=gone, Qualifier="live") == (
        NOT_FOUND, f"The function {arn(gone, 'live')} doesn't have an EventInvokeConfig", 404,
    )  # fmt: skip
    nothing = (INVALID, "You must specify at least one of error handling or destination setting.", 400)
    assert error(lam.put_function_event_invoke_config, FunctionName=gone) == nothing  # before the lookup
    assert error(lam.put_function_event_invoke_config, FunctionName=name) == nothing
    assert error(lam.update_function_event_invoke_config, FunctionName=name) == nothing
    # Update needs a configuration to change
    assert error(lam.update_function_event_invoke_config, FunctionName=name, MaximumRetryAttempts=1) == (
        NOT_FOUND, f"The function {arn(name, '$LATEST')} doesn't have an EventInvokeConfig", 404,
    )  # fmt: skip
    # the model's ranges, checked before anything else (as AWS's front end does)
    for kw, field, value, rule in (
        ({"MaximumRetryAttempts": 3}, "maximumRetryAttempts", 3, "less than or equal to 2"),
        ({"MaximumRetryAttempts": -1}, "maximumRetryAttempts", -1, "greater than or equal to 0"),
        ({"MaximumEventAgeInSeconds": 59}, "maximumEventAgeInSeconds", 59, "greater than or equal to 60"),
        (
            {"MaximumEventAgeInSeconds": 21601},
            "maximumEventAgeInSeconds",
            21601,
            "less than or equal to 21600",
        ),
    ):
        code, message, status = error(lam_raw.put_function_event_invoke_config, FunctionName=name, **kw)
        assert (code, status) == ("ValidationException", 400)
        assert message == (
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must have value {rule}"
        )
    # nothing was stored by the refused calls
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []


def test_bad_destinations(lam: Any, lam_raw: Any, create_fn: Any) -> None:
    name = create_fn(ECHO)
    other = create_fn(ECHO)
    gone = arn(unique("gone"))

    def put(dest: dict[str, Any]) -> tuple[str, str, int]:
        return error(lam.put_function_event_invoke_config, FunctionName=name, DestinationConfig=dest)

    def bad_arn(value: str) -> tuple[str, str, int]:
        return (INVALID, f"The destination ARN {value} is invalid.", 400)

    assert put({"OnSuccess": {"Destination": gone}}) == bad_arn(gone)
    assert put({"OnFailure": {"Destination": arn(other, "9")}}) == bad_arn(arn(other, "9"))
    assert put({"OnSuccess": {"Destination": arn(name)}}) == (
        INVALID, "You can't specify the function as a destination for itself.", 400,
    )  # fmt: skip
    assert put({"OnFailure": {"Destination": arn(name, "$LATEST")}})[1] == (
        "You can't specify the function as a destination for itself."
    )
    # another account's or another region's destination
    for value in (
        f"arn:aws:sqs:{REGION}:111122223333:queue",
        f"arn:aws:sns:{REGION}:111122223333:topic",
        f"arn:aws:events:{REGION}:111122223333:event-bus/default",
        f"arn:aws:lambda:{REGION}:111122223333:function:{other}",
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{other}",
    ):
        assert put({"OnFailure": {"Destination": value}}) == bad_arn(value)
    # not what such an ARN names
    for value in (
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:bad/queue",
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/x",
        f"arn:aws:sqs::{ACCOUNT}:queue",
        f"arn:aws:s3:{REGION}:{ACCOUNT}:bucket",
    ):
        assert put({"OnFailure": {"Destination": value}}) == bad_arn(value)
    # a kind of destination Lambda does not take there
    iam = f"arn:aws:iam::{ACCOUNT}:role/x"
    assert put({"OnSuccess": {"Destination": iam}}) == (
        INVALID,
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={iam}), "
        "onFailure=null) is invalid.",
        400,
    )
    assert put({"OnSuccess": {"Destination": BUCKET}, "OnFailure": {"Destination": QUEUE}}) == (
        INVALID,
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={BUCKET}), "
        f"onFailure=OnFailure(destination={QUEUE})) is invalid.",
        400,
    )
    # not an ARN at all: the model's pattern
    code, message, status = error(
        lam_raw.put_function_event_invoke_config,
        FunctionName=name,
        DestinationConfig={"OnFailure": {"Destination": "not-an-arn"}},
    )
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(
        "1 validation error detected: Value 'not-an-arn' at 'destinationConfig.onFailure.destination' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
    )
    # Update checks them too, and changes nothing when refused
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": QUEUE}}
    )
    assert error(
        lam.update_function_event_invoke_config,
        FunctionName=name,
        DestinationConfig={"OnSuccess": {"Destination": gone}},
    ) == bad_arn(gone)
    assert lam.get_function_event_invoke_config(FunctionName=name)["DestinationConfig"] == {
        "OnSuccess": {}, "OnFailure": {"Destination": QUEUE},
    }  # fmt: skip


def test_deleted_with_its_function_version_or_alias(lam: Any, create_fn: Any) -> None:
    name = _versioned(create_fn, lam)
    lam.update_function_configuration(FunctionName=name, Description="v2")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.publish_version(FunctionName=name)
    for q in ("$LATEST", "1", "2", "live"):
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier=q, MaximumRetryAttempts=0)
    lam.delete_alias(FunctionName=name, Name="live")
    lam.delete_function(FunctionName=name, Qualifier="2")
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn(name, "$LATEST"), arn(name, "1")]
    # an alias or version made again under the same name starts without one
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert error(lam.get_function_event_invoke_config, FunctionName=name, Qualifier="live")[0] == NOT_FOUND
    lam.delete_function(FunctionName=name)
    deploy(lam, ECHO, FunctionName=name)
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def lbx(data_dir: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(data_dir, manual_clock=True) as server:
        yield server


def _create(client: Any, name: str, publish: bool = False) -> None:
    client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip(ECHO)}, Publish=publish,
    )  # fmt: skip


def test_what_the_dispatcher_reads(lbx: LocalLambdabox) -> None:
    client = lbx.client("lambda")
    service = lbx.app.lambda_service
    region, account = lbx.settings.region, ACCOUNT
    _create(client, "fn", publish=True)
    _create(client, "dest")
    client.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")
    # nothing configured: AWS's defaults, no destinations
    for q in (None, "$LATEST", "1", "live"):
        assert service.async_limits(region, account, "fn", q) == (2, 21600)
        assert service.destinations(region, account, "fn", q) == (None, None)
    assert service.async_limits(region, account, "nothing", None) == (2, 21600)
    client.put_function_event_invoke_config(FunctionName="fn", MaximumRetryAttempts=0)
    client.put_function_event_invoke_config(
        FunctionName="fn", Qualifier="live", MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnSuccess": {"Destination": arn("dest")}, "OnFailure": {"Destination": QUEUE}},
    )  # fmt: skip
    # unqualified is $LATEST; each qualifier its own (a version's alias does not share it)
    assert service.async_limits(region, account, "fn", None) == (0, 21600)
    assert service.async_limits(region, account, "fn", "$LATEST") == (0, 21600)
    assert service.async_limits(region, account, "fn", "1") == (2, 21600)
    assert service.async_limits(region, account, "fn", "live") == (2, 60)
    assert service.destinations(region, account, "fn", "live") == (arn("dest"), QUEUE)
    assert service.destinations(region, account, "fn", None) == (None, None)


def test_survives_a_restart(data_dir: Path) -> None:
    dest = {"OnSuccess": {"Destination": TOPIC}, "OnFailure": {"Destination": BUCKET}}
    with LocalLambdabox(data_dir, manual_clock=True) as first:
        client = first.client("lambda")
        _create(client, "fn", publish=True)
        client.create_alias(FunctionName="fn", Name="live", FunctionVersion="1")
        latest = client.put_function_event_invoke_config(
            FunctionName="fn", MaximumRetryAttempts=1, DestinationConfig=dest
        )
        alias = client.put_function_event_invoke_config(
            FunctionName="fn", Qualifier="live", MaximumEventAgeInSeconds=300
        )
        client.put_function_event_invoke_config(FunctionName="fn", Qualifier="1", MaximumRetryAttempts=0)
        client.delete_function_event_invoke_config(FunctionName="fn", Qualifier="1")
    with LocalLambdabox(data_dir, manual_clock=True) as second:
        client = second.client("lambda")
        listed = client.list_function_event_invoke_configs(FunctionName="fn")["FunctionEventInvokeConfigs"]
        assert listed == [
            {k: v for k, v in latest.items() if k != "ResponseMetadata"},
            {k: v for k, v in alias.items() if k != "ResponseMetadata"},
        ]
        assert second.app.lambda_service.async_limits(second.settings.region, ACCOUNT, "fn", "live") == (
            2,
            300,
        )
        client.delete_function(FunctionName="fn")
    with LocalLambdabox(data_dir, manual_clock=True) as third:
        client = third.client("lambda")
        _create(client, "fn")
        assert (
            client.list_function_event_invoke_configs(FunctionName="fn")["FunctionEventInvokeConfigs"] == []
        )
