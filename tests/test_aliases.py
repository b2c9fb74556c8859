"""Aliases through boto3: lifecycle, routing weights, AWS's errors, invokes through an alias."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import aws_error, make_zip
from lambdabox.lambda_.models import Alias
from versions_helpers import arn, run, source


def _two_versions(create_fn: Any, lam: Any) -> str:
    name = create_fn(source("v1"), Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(source("v2")), Publish=True)
    return name


def test_alias_lifecycle(lam: Any, create_fn: Any) -> None:
    name = _two_versions(create_fn, lam)
    created = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="prod")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert {k: v for k, v in created.items() if k != "ResponseMetadata"} == {
        "AliasArn": arn(name, "live"),
        "Name": "live",
        "FunctionVersion": "1",
        "Description": "prod",
        "RevisionId": created["RevisionId"],
    }
    got = lam.get_alias(FunctionName=name, Name="live")
    assert got["RevisionId"] == created["RevisionId"] and "RoutingConfig" not in got
    updated = lam.update_alias(
        FunctionName=name,
        Name="live",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
        RevisionId=created["RevisionId"],
    )
    assert updated["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert updated["FunctionVersion"] == "1" and updated["Description"] == "prod"
    assert updated["RevisionId"] != created["RevisionId"]
    with pytest.raises(ClientError) as exc:  # the revision read before the update is stale now
        lam.update_alias(
            FunctionName=name, Name="live", FunctionVersion="2", RevisionId=created["RevisionId"]
        )
    assert aws_error(exc)[0::2] == ("PreconditionFailedException", 412)
    # empty weights end the split; the alias then has no RoutingConfig
    cleared = lam.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {}})
    assert "RoutingConfig" not in cleared
    lam.create_alias(FunctionName=name, Name="beta", FunctionVersion="$LATEST")
    listed = lam.list_aliases(FunctionName=name)["Aliases"]
    assert [(a["Name"], a["FunctionVersion"]) for a in listed] == [("beta", "$LATEST"), ("live", "1")]
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]] == [
        "live"
    ]
    pages = lam.get_paginator("list_aliases").paginate(FunctionName=name, PaginationConfig={"PageSize": 1})
    assert [a["Name"] for p in pages for a in p["Aliases"]] == ["beta", "live"]
    deleted = lam.delete_alias(FunctionName=name, Name="beta")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    # deleting an alias that is not there succeeds, as on AWS
    assert lam.delete_alias(FunctionName=name, Name="beta")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["live"]


def test_alias_errors_change_nothing(lam: Any, lam_raw: Any, create_fn: Any) -> None:
    name = _two_versions(create_fn, lam)
    live = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    invalid = "InvalidParameterValueException"
    cases: list[tuple[dict[str, Any], tuple[str, str, int]]] = [
        (
            {"FunctionVersion": "$LATEST", "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}},
            (invalid, "$LATEST is not supported for an alias pointing to more than 1 version", 400),
        ),
        (
            {"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}},
            (
                invalid,
                "Invalid function version 1. Function version 1 is already included in routing configuration.",
                400,
            ),
        ),
        (
            {"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}}},
            (invalid, "Number of items in AdditionalVersionWeights cannot be greater than 1", 400),
        ),
        (
            {"FunctionVersion": "9"},
            ("ResourceNotFoundException", f"Function not found: {arn(name, '9')}", 404),
        ),
        (
            {"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"9": 0.1}}},
            ("ResourceNotFoundException", f"Function not found: {arn(name, '9')}", 404),
        ),
    ]
    for kw, want in cases:
        for call in (
            lambda kw=kw: lam.create_alias(FunctionName=name, Name="other", **kw),
            lambda kw=kw: lam.update_alias(FunctionName=name, Name="live", **kw),
        ):
            with pytest.raises(ClientError) as exc:
                call()
            assert aws_error(exc) == want, kw
    for weight in (1.5, -1.0):  # the model's range, checked as AWS words it (the client would refuse -1)
        with pytest.raises(ClientError) as exc:
            lam_raw.update_alias(
                FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": weight}}
            )
        assert aws_error(exc) == (
            "ValidationException",
            f"1 validation error detected: Value '{{2={weight}}}' at 'routingConfig.additionalVersionWeights' "
            "failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than "
            "or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]",
            400,
        )
    with pytest.raises(ClientError) as exc:
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert aws_error(exc) == ("ResourceConflictException", f"Alias already exists: {arn(name, 'live')}", 409)
    with pytest.raises(ClientError) as exc:
        lam.create_alias(FunctionName=name, Name="2024", FunctionVersion="1")
    assert aws_error(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        lam.create_alias(FunctionName=f"{name}-gone", Name="x", FunctionVersion="1")
    assert aws_error(exc) == (
        "ResourceNotFoundException",
        f"Function not found: {arn(name + '-gone', '1')}",
        404,
    )
    with pytest.raises(ClientError) as exc:
        lam.get_alias(FunctionName=name, Name="nope")
    assert aws_error(exc) == ("ResourceNotFoundException", f"Cannot find alias arn: {arn(name, 'nope')}", 404)
    with pytest.raises(ClientError) as exc:
        lam.update_alias(FunctionName=name, Name="nope", FunctionVersion="1")
    assert aws_error(exc) == ("ResourceNotFoundException", f"Alias not found: {arn(name, 'nope')}", 404)
    # nothing changed
    now = lam.get_alias(FunctionName=name, Name="live")
    assert (now["FunctionVersion"], now["RevisionId"]) == (
        "1",
        live["RevisionId"],
    ) and "RoutingConfig" not in now
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["live"]


def test_invoke_through_an_alias(lam: Any, create_fn: Any) -> None:
    name = _two_versions(create_fn, lam)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    answer, executed = run(lam, name, Qualifier="live")
    assert (answer["code"], answer["version"], executed) == ("v1", "1", "1")
    assert answer["arn"] == arn(name, "live")
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    answer, executed = run(lam, f"{name}:live")
    assert (answer["code"], executed) == ("v2", "2")
    # an alias may name $LATEST
    lam.create_alias(FunctionName=name, Name="edge", FunctionVersion="$LATEST")
    assert run(lam, arn(name, "edge"))[1] == "$LATEST"
    # the whole weight on the additional version
    lam.update_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 1.0}},
    )
    assert {run(lam, name, Qualifier="live")[1] for _ in range(5)} == {"2"}


def test_alias_pick_follows_the_weights() -> None:
    alias = Alias("r", "a", "f", "live", "1", weights=(("2", 0.1),))
    draws = [i / 10_000 for i in range(10_000)]  # a uniform grid over [0, 1)
    picked = [alias.pick(d) for d in draws]
    assert picked.count("2") == 1_000 and picked.count("1") == 9_000
    assert Alias("r", "a", "f", "live", "1").pick(0.99) == "1"
    assert Alias("r", "a", "f", "live", "1", weights=(("2", 0.0),)).pick(0.0) == "1"


@pytest.mark.slow
def test_canary_split_over_ten_thousand_invokes(server: Any, create_fn: Any, lam: Any) -> None:
    """10 % of the alias to version 2: within ±2 % over 10,000 invokes (the binomial standard
    deviation is 0.3 %: a ±2 % bound fails about once in 10^11 runs), as ExecutedVersion says."""
    name = _two_versions(create_fn, lam)
    lam.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    n, workers = 10_000, 8

    def count(share: int) -> Counter[str]:
        client = server.client("lambda")
        seen: Counter[str] = Counter()
        for _ in range(share):
            out = client.invoke(FunctionName=name, Qualifier="canary", Payload=b"{}")
            body = json.loads(out["Payload"].read())
            assert body["version"] == out["ExecutedVersion"] == {"v1": "1", "v2": "2"}[body["code"]]
            seen[out["ExecutedVersion"]] += 1
        return seen

    with ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(count, [n // workers] * workers), Counter())
    assert sum(total.values()) == n
    assert abs(total["2"] / n - 0.1) <= 0.02, total
