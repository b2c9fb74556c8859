"""Lambda's CloudWatch metrics: what invocations (errors, throttles, aliases), asynchronous events
and failed destination deliveries record under AWS/Lambda, read back with GetMetricStatistics,
GetMetricData and ListMetrics, custom metrics through PutMetricData, AWS's errors for bad input,
the Prometheus text of /_lambdabox/metrics, and all of it after a restart."""

from __future__ import annotations

import asyncio
import base64
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import aws_error, deploy, wait_until
from lambdabox.clock import ManualClock
from lambdabox.lambda_.metric_hooks import Subject
from lambdabox.metrics import store as metrics_store
from lambdabox.metrics.lambda_metrics import LambdaRecorder
from lambdabox.metrics.recorder import Recorder
from lambdabox.store.db import Store
from lambdabox.testing import LocalLambdabox
from protocol_helpers import session_speaking
from test_async_invoke import FAILS, OK, invoke_event, settled

ACCOUNT = "000000000000"


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


def window(lbx: LocalLambdabox) -> dict[str, datetime]:
    now = lbx.now()
    return {
        "StartTime": datetime.fromtimestamp(now - 1800, UTC),
        "EndTime": datetime.fromtimestamp(now + 600, UTC),
    }


def statistic(
    lbx: LocalLambdabox, metric: str, dims: dict[str, str], stat: str = "Sum", namespace: str = "AWS/Lambda"
) -> float:
    """The statistic of a metric over the last half hour, in one period (0 when there is no data)."""
    got = lbx.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        Period=3600,
        Statistics=[stat],
        **window(lbx),
    )
    points = got["Datapoints"]
    assert len(points) <= 1
    return float(points[0][stat]) if points else 0.0


def prometheus(lbx: LocalLambdabox) -> tuple[str, str]:
    with urllib.request.urlopen(lbx.url + "/_lambdabox/metrics", timeout=30) as resp:
        return resp.headers["Content-Type"], resp.read().decode()


def test_invocations_errors_throttles_and_durations_are_recorded_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        lam = lbx.client("lambda")
        ok = deploy(lam, OK)
        fails = deploy(lam, FAILS)
        version = lam.publish_version(FunctionName=ok)["Version"]
        lam.create_alias(FunctionName=ok, Name="live", FunctionVersion=version)
        lam.invoke(FunctionName=ok)
        lam.invoke(FunctionName=ok)
        lam.invoke(FunctionName=ok, Qualifier="live")
        assert lam.invoke(FunctionName=fails)["FunctionError"] == "Unhandled"
        lbx.inject_fault(function=ok, kind="throttle", count=1)
        with pytest.raises(ClientError) as exc:
            lam.invoke(FunctionName=ok)
        assert aws_error(exc)[0] == "TooManyRequestsException"

        assert statistic(lbx, "Invocations", {"FunctionName": ok}) == 3
        assert statistic(lbx, "Errors", {"FunctionName": ok}) == 0
        assert statistic(lbx, "Throttles", {"FunctionName": ok}) == 1
        assert statistic(lbx, "Invocations", {"FunctionName": fails}) == 1
        assert statistic(lbx, "Errors", {"FunctionName": fails}) == 1
        assert statistic(lbx, "Invocations", {}) == 4  # the account's aggregate
        assert statistic(lbx, "Duration", {"FunctionName": ok}, "SampleCount") == 3
        assert statistic(lbx, "Duration", {"FunctionName": ok}, "Maximum") > 0
        assert statistic(lbx, "ConcurrentExecutions", {"FunctionName": ok}, "Maximum") == 1
        resource = {"FunctionName": ok, "Resource": f"{ok}:live"}
        assert statistic(lbx, "Invocations", resource) == 1
        assert statistic(lbx, "Invocations", {**resource, "ExecutedVersion": version}) == 1

        cw = lbx.client("cloudwatch")
        data = cw.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "inv",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": "Invocations",
                            "Dimensions": [{"Name": "FunctionName", "Value": ok}],
                        },
                        "Period": 60,
                        "Stat": "Sum",
                    },
                },
                {
                    "Id": "err",
                    "Label": "fails' errors",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": "Errors",
                            "Dimensions": [{"Name": "FunctionName", "Value": fails}],
                        },
                        "Period": 60,
                        "Stat": "Sum",
                    },
                },
            ],
            ScanBy="TimestampAscending",
            **window(lbx),
        )
        by_id = {r["Id"]: r for r in data["MetricDataResults"]}
        assert sum(by_id["inv"]["Values"]) == 3 and by_id["inv"]["StatusCode"] == "Complete"
        assert by_id["inv"]["Label"] == "Invocations"
        assert len(by_id["inv"]["Timestamps"]) == len(by_id["inv"]["Values"]) >= 1
        assert (by_id["err"]["Values"], by_id["err"]["Label"]) == ([1.0], "fails' errors")

        listed = cw.list_metrics(Namespace="AWS/Lambda", Dimensions=[{"Name": "FunctionName", "Value": ok}])
        names = {
            (m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in listed["Metrics"]
        }
        assert {
            ("Invocations", ("FunctionName",)),
            ("Throttles", ("FunctionName",)),
            ("Duration", ("FunctionName",)),
            ("ConcurrentExecutions", ("FunctionName",)),
            ("Invocations", ("FunctionName", "Resource")),
            ("Invocations", ("ExecutedVersion", "FunctionName", "Resource")),
        } <= names
        assert all(m["Namespace"] == "AWS/Lambda" for m in listed["Metrics"])
        only_errors = cw.list_metrics(
            MetricName="Errors", Dimensions=[{"Name": "FunctionName", "Value": fails}]
        )
        assert [m["Dimensions"] for m in only_errors["Metrics"]] == [
            [{"Name": "FunctionName", "Value": fails}]
        ]

        content_type, text = prometheus(lbx)
        assert content_type.startswith("text/plain; version=0.0.4")
        labels = f'{{region="us-east-1",account="{ACCOUNT}",function="{ok}"}}'
        assert f"lambdabox_lambda_invocations_total{labels} 3\n" in text
        assert f"lambdabox_lambda_throttles_total{labels} 1\n" in text
        assert f"lambdabox_lambda_duration_milliseconds_count{labels} 3\n" in text
        assert (
            f'lambdabox_lambda_errors_total{{region="us-east-1",account="{ACCOUNT}",function="{fails}"}} 1\n'
            in text
        )
        assert "# TYPE lambdabox_lambda_invocations_total counter\n" in text

    with LocalLambdabox(tmp_path / "data", manual_clock=True) as again:
        assert statistic(again, "Invocations", {"FunctionName": ok}) == 3
        assert statistic(again, "Errors", {"FunctionName": fails}) == 1
        _, text = prometheus(again)
        assert f"lambdabox_lambda_invocations_total{labels} 3\n" in text
        again.client("lambda").invoke(FunctionName=ok)
        assert statistic(again, "Invocations", {"FunctionName": ok}) == 4
        assert f"lambdabox_lambda_invocations_total{labels} 4\n" in prometheus(again)[1]


def test_async_events_their_age_drops_and_a_failed_destination_delivery(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    dest = deploy(lam, OK)
    dest_arn = lam.get_function(FunctionName=dest)["Configuration"]["FunctionArn"]
    ok = deploy(lam, OK)
    lam.put_function_event_invoke_config(
        FunctionName=ok, DestinationConfig={"OnSuccess": {"Destination": dest_arn}}
    )
    lam.delete_function(FunctionName=dest)
    fails = deploy(lam, FAILS)
    lam.put_function_event_invoke_config(FunctionName=fails, MaximumRetryAttempts=0)

    invoke_event(lbx, ok)
    invoke_event(lbx, fails)
    wait_until(lambda: settled(lbx) and lbx.app.async_engine.backlog == 0)
    wait_until(lambda: statistic(lbx, "DestinationDeliveryFailures", {"FunctionName": ok}) >= 1)
    failures = statistic(lbx, "DestinationDeliveryFailures", {"FunctionName": ok})
    assert lbx.app.outbox.backlog == 1  # the record is kept, to be tried again
    lbx.advance(600)  # its retries come due (1 s doubling)
    wait_until(lambda: statistic(lbx, "DestinationDeliveryFailures", {"FunctionName": ok}) > failures)
    assert lbx.app.outbox.backlog == 1  # retried, still not lost

    assert statistic(lbx, "AsyncEventsReceived", {"FunctionName": ok}) == 1
    assert statistic(lbx, "AsyncEventsReceived", {}) == 2
    assert statistic(lbx, "AsyncEventAge", {"FunctionName": ok}, "SampleCount") == 1
    assert statistic(lbx, "Invocations", {"FunctionName": ok}) == 1
    assert statistic(lbx, "AsyncEventsDropped", {"FunctionName": ok}) == 0
    assert statistic(lbx, "AsyncEventsDropped", {"FunctionName": fails}) == 1
    assert statistic(lbx, "Errors", {"FunctionName": fails}) == 1
    text = prometheus(lbx)[1]
    labels = f'{{region="us-east-1",account="{ACCOUNT}",function="{ok}"}}'
    assert f"lambdabox_lambda_async_events_received_total{labels} 1\n" in text
    assert f"lambdabox_lambda_destination_delivery_failures_total{labels} " in text


def test_put_metric_data_is_read_back_and_listed(lbx: LocalLambdabox) -> None:
    cw = lbx.client("cloudwatch")
    now = datetime.fromtimestamp(lbx.now(), UTC)
    dims = [{"Name": "Shop", "Value": "north"}]
    cw.put_metric_data(
        Namespace="Shop/Orders",
        MetricData=[
            {"MetricName": "Placed", "Dimensions": dims, "Value": 3, "Unit": "Count", "Timestamp": now},
            {
                "MetricName": "Placed",
                "Dimensions": dims,
                "StatisticValues": {"SampleCount": 2, "Sum": 10, "Minimum": 1, "Maximum": 9},
                "Unit": "Count",
            },
            {"MetricName": "Placed", "Dimensions": dims, "Values": [4, 5], "Counts": [1, 2], "Unit": "Count"},
            {"MetricName": "Latency", "Value": 12.5, "Unit": "Milliseconds"},
        ],
    )
    shop = {"Shop": "north"}
    assert statistic(lbx, "Placed", shop, "Sum", "Shop/Orders") == 3 + 10 + 4 + 10
    assert statistic(lbx, "Placed", shop, "SampleCount", "Shop/Orders") == 1 + 2 + 1 + 2
    assert statistic(lbx, "Placed", shop, "Minimum", "Shop/Orders") == 1
    assert statistic(lbx, "Placed", shop, "Maximum", "Shop/Orders") == 9
    assert statistic(lbx, "Latency", {}, "Average", "Shop/Orders") == 12.5
    assert statistic(lbx, "Placed", {}, "Sum", "Shop/Orders") == 0  # another dimension set
    got = cw.get_metric_statistics(
        Namespace="Shop/Orders",
        MetricName="Latency",
        Period=60,
        Statistics=["Sum"],
        Unit="Seconds",
        **window(lbx),
    )
    assert got["Datapoints"] == []  # the unit filters
    cw.put_metric_data(
        Namespace="Shop/Orders",
        EntityMetricData=[
            {
                "Entity": {"KeyAttributes": {"Type": "Service", "Name": "shop", "Environment": "test"}},
                "MetricData": [{"MetricName": "Placed", "Dimensions": dims, "Value": 1, "Unit": "Count"}],
            }
        ],
    )
    assert statistic(lbx, "Placed", shop, "Sum", "Shop/Orders") == 3 + 10 + 4 + 10 + 1
    listed = cw.list_metrics(Namespace="Shop/Orders")["Metrics"]
    assert sorted((m["MetricName"], str(m["Dimensions"])) for m in listed) == [
        ("Latency", "[]"),
        ("Placed", str(dims)),
    ]


def error_of(call: Any, **kw: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as exc:
        call(**kw)
    return aws_error(exc)


def test_bad_input_gets_aws_s_errors(lbx: LocalLambdabox) -> None:
    cw = lbx.client("cloudwatch")
    span = window(lbx)
    base = {"Namespace": "AWS/Lambda", "MetricName": "Invocations", **span}
    code, message, status = error_of(cw.get_metric_statistics, Period=61, Statistics=["Sum"], **base)
    assert (code, status) == ("InvalidParameterValue", 400) and "Period" in message
    code, _, _ = error_of(cw.get_metric_statistics, Period=60, **base)
    assert code == "InvalidParameterCombination"
    reversed_span = {"StartTime": span["EndTime"], "EndTime": span["StartTime"]}
    code, message, _ = error_of(
        cw.get_metric_statistics,
        Namespace="AWS/Lambda", MetricName="Invocations", Period=60, Statistics=["Sum"], **reversed_span,
    )  # fmt: skip
    assert code == "InvalidParameterValue" and "StartTime" in message
    code, message, _ = error_of(cw.get_metric_statistics, Period=1, Statistics=["Sum"], **base)
    assert code == "InvalidParameterCombination" and "1,440" in message

    code, message, status = error_of(
        cw.get_metric_data, MetricDataQueries=[{"Id": "e1", "Expression": "SUM(METRICS())"}], **span
    )
    assert (code, status) == ("ValidationError", 400) and "e1" in message

    code, message, _ = error_of(
        cw.put_metric_data, Namespace="AWS/Lambda", MetricData=[{"MetricName": "X", "Value": 1}]
    )
    assert (code, message) == (
        "InvalidParameterValue",
        "The value AWS/Lambda for parameter Namespace is invalid.",
    )
    code, _, _ = error_of(
        cw.put_metric_data,
        Namespace="Mine",
        MetricData=[
            {
                "MetricName": "X",
                "Value": 1,
                "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1},
            }
        ],
    )
    assert code == "InvalidParameterCombination"
    code, _, _ = error_of(cw.put_metric_data, Namespace="Mine")
    assert code == "MissingParameter"
    code, message, _ = error_of(
        cw.put_metric_data, Namespace="Mine", MetricData=[{"MetricName": "X", "Values": [1.0] * 151}]
    )
    assert code == "InvalidParameterValue" and "MetricData.member.1.Values" in message
    code, _, _ = error_of(
        cw.put_metric_data, Namespace="Mine", MetricData=[{"MetricName": "X", "Value": 1}] * 1001
    )
    assert code == "InvalidParameterValue"
    code, message, _ = error_of(
        cw.put_metric_data,
        Namespace="Mine",
        MetricData=[{"MetricName": "X", "Value": 1}, {"MetricName": "X", "Value": 2.0**400}],
    )
    assert code == "InvalidParameterValue" and "MetricData.member.2.Value" in message
    assert cw.list_metrics(Namespace="Mine")["Metrics"] == []  # nothing of a refused request was kept


@pytest.mark.parametrize("protocol", ["query", "smithy-rpc-v2-cbor"])
def test_the_other_protocols_cloudwatch_speaks_are_answered_in_kind(
    lbx: LocalLambdabox, tmp_path: Path, protocol: str
) -> None:
    session = session_speaking("cloudwatch", protocol, tmp_path / "models")
    cw = boto3.Session(botocore_session=session).client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=lbx.url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )
    cw.put_metric_data(Namespace="Mine", MetricData=[{"MetricName": "Hits", "Value": 2, "Unit": "Count"}])
    got = cw.get_metric_statistics(
        Namespace="Mine", MetricName="Hits", Period=60, Statistics=["Sum", "Average"], **window(lbx)
    )
    ((point,),) = [got["Datapoints"]]
    assert (point["Sum"], point["Average"], point["Unit"]) == (2.0, 2.0, "Count")
    assert isinstance(point["Timestamp"], datetime)
    assert [m["MetricName"] for m in cw.list_metrics(Namespace="Mine")["Metrics"]] == ["Hits"]
    values = [n / 3 for n in range(1000)]  # over 10 KiB: botocore gzips the body
    cw.put_metric_data(Namespace="Mine", MetricData=chunked("Many", values))
    got = cw.get_metric_statistics(
        Namespace="Mine", MetricName="Many", Period=3600, Statistics=["SampleCount"], **window(lbx)
    )
    assert got["Datapoints"][0]["SampleCount"] == 1000
    code, _, status = error_of(
        cw.put_metric_data, Namespace="AWS/X", MetricData=[{"MetricName": "X", "Value": 1}]
    )
    assert (code, status) == ("InvalidParameterValue", 400)


def chunked(name: str, values: list[float]) -> list[dict[str, Any]]:
    """`values` as data of at most 150 values each (AWS's limit)."""
    return [{"MetricName": name, "Values": values[i : i + 150]} for i in range(0, len(values), 150)]


def extended(lbx: LocalLambdabox, namespace: str, metric: str, *percentiles: str) -> dict[str, float]:
    got = lbx.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Period=3600,
        ExtendedStatistics=list(percentiles),
        **window(lbx),
    )
    ((point,),) = [got["Datapoints"]]
    return {k: float(v) for k, v in point["ExtendedStatistics"].items()}


def test_percentiles_of_values_and_of_lambda_durations(lbx: LocalLambdabox) -> None:
    cw = lbx.client("cloudwatch")
    cw.put_metric_data(
        Namespace="Mine",
        MetricData=[
            {"MetricName": "Latency", "Values": [float(v) for v in range(1, 101)], "Unit": "Milliseconds"}
        ],
    )
    got = extended(lbx, "Mine", "Latency", "p50", "p90", "p99.9", "p100")
    assert got == {"p50": 50, "p90": 90, "p99.9": 100, "p100": 100}  # few values: exact
    many = [v / 7 for v in range(1, 1001)]  # many: within 1 %
    cw.put_metric_data(Namespace="Mine", MetricData=chunked("Many", many[:150]))
    cw.put_metric_data(Namespace="Mine", MetricData=chunked("Many", many[150:]))  # gzipped: over 10 KiB
    got = extended(lbx, "Mine", "Many", "p50", "p99")
    assert abs(got["p50"] - 500 / 7) <= 500 / 7 * 0.01 and abs(got["p99"] - 990 / 7) <= 990 / 7 * 0.01
    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "p90",
                "MetricStat": {
                    "Metric": {"Namespace": "Mine", "MetricName": "Latency"},
                    "Period": 3600,
                    "Stat": "p90",
                },
            }
        ],
        **window(lbx),
    )
    assert data["MetricDataResults"][0]["Values"] == [90.0]

    # a statistic set's values are unknown (SampleCount > 1, Minimum < Maximum): no percentiles
    cw.put_metric_data(
        Namespace="Mine",
        MetricData=[
            {"MetricName": "Set", "StatisticValues": {"SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2}}
        ],
    )
    assert extended(lbx, "Mine", "Set", "p50") == {}

    lam = lbx.client("lambda")
    ok = deploy(lam, OK)
    for _ in range(3):
        lam.invoke(FunctionName=ok)
    p99 = extended(lbx, "AWS/Lambda", "Duration", "p99")["p99"]
    assert 0 < p99 <= statistic(lbx, "Duration", {}, "Maximum")
    assert re.search(
        rf'lambdabox_lambda_duration_milliseconds{{region="us-east-1",account="{ACCOUNT}",function="{ok}",'
        r'quantile="0.99"} [0-9.e+-]+\n',
        prometheus(lbx)[1],
    )

    base = {"Namespace": "Mine", "MetricName": "Latency", "Period": 60, **window(lbx)}
    code, _, _ = error_of(
        lbx.client("cloudwatch").get_metric_statistics, Statistics=["Sum"], ExtendedStatistics=["p50"], **base
    )
    assert code == "InvalidParameterCombination"
    code, message, _ = error_of(
        lbx.client("cloudwatch").get_metric_statistics, ExtendedStatistics=["p101"], **base
    )
    assert code == "InvalidParameterValue" and "p101" in message


def test_get_metric_data_pages_by_max_datapoints(lbx: LocalLambdabox) -> None:
    cw = lbx.client("cloudwatch")
    now = lbx.now()
    cw.put_metric_data(
        Namespace="Mine",
        MetricData=[
            {"MetricName": "Hits", "Value": n, "Timestamp": datetime.fromtimestamp(now - 60 * n, UTC)}
            for n in range(1, 6)
        ],
    )
    query = {
        "MetricDataQueries": [
            {
                "Id": "hits",
                "MetricStat": {
                    "Metric": {"Namespace": "Mine", "MetricName": "Hits"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
            {
                "Id": "none",
                "MetricStat": {
                    "Metric": {"Namespace": "Mine", "MetricName": "Nothing"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
        ],
        "MaxDatapoints": 2,
        **window(lbx),
    }
    pages = [cw.get_metric_data(**query)]
    while "NextToken" in pages[-1]:
        pages.append(cw.get_metric_data(NextToken=pages[-1]["NextToken"], **query))
    assert len(pages) == 3
    hits = [r for page in pages for r in page["MetricDataResults"] if r["Id"] == "hits"]
    assert [r["StatusCode"] for r in hits] == ["PartialData", "PartialData", "Complete"]
    assert [v for r in hits for v in r["Values"]] == [1.0, 2.0, 3.0, 4.0, 5.0]  # newest first
    assert [r["Values"] for page in pages for r in page["MetricDataResults"] if r["Id"] == "none"] == [[]]
    everything = cw.get_paginator("get_metric_data").paginate(**{**query, "MaxDatapoints": 3})
    assert sum(len(r["Values"]) for page in everything for r in page["MetricDataResults"]) == 5

    bad = base64.urlsafe_b64encode(b"nonsense").decode()
    code, _, status = error_of(cw.get_metric_data, NextToken=bad, **query)
    assert (code, status) == ("InvalidNextToken", 400)


#: one sample line of the text format: a name, optional labels, a number
SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (?:[-+]?[0-9.]+(?:e[-+]?[0-9]+)?|[-+]Inf|NaN)$'
)


def test_the_prometheus_text_is_well_formed(lbx: LocalLambdabox) -> None:
    lam = lbx.client("lambda")
    ok = deploy(lam, OK)
    lam.invoke(FunctionName=ok)
    _, text = prometheus(lbx)
    assert text.endswith("\n")
    typed: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "summary") and name not in typed
            typed[name] = kind
        elif line.startswith("# HELP "):
            assert len(line.split(" ", 3)) == 4
        else:
            assert SAMPLE.match(line), line
            name = line.split("{")[0].split(" ")[0]
            family = re.sub(r"_(sum|count)$", "", name) if name not in typed else name
            assert family in typed, line
    assert typed["lambdabox_lambda_invocations_total"] == "counter"
    assert typed["lambdabox_lambda_duration_milliseconds"] == "summary"


def test_minutes_older_than_fifteen_days_are_dropped_but_the_totals_stay(tmp_path: Path) -> None:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as lbx:
        lam = lbx.client("lambda")
        ok = deploy(lam, OK)
        lam.invoke(FunctionName=ok)
        then = window(lbx)
        assert statistic(lbx, "Invocations", {"FunctionName": ok}) == 1
        lbx.advance(16 * 86400)
        got = lbx.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/Lambda", MetricName="Invocations", Period=3600, Statistics=["Sum"], **then
        )
        assert got["Datapoints"] == []
        assert lbx.client("cloudwatch").list_metrics(Namespace="AWS/Lambda")["Metrics"] == []
        labels = f'{{region="us-east-1",account="{ACCOUNT}",function="{ok}"}}'
        assert f"lambdabox_lambda_invocations_total{labels} 1\n" in prometheus(lbx)[1]
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as again:
        assert f"lambdabox_lambda_invocations_total{labels} 1\n" in prometheus(again)[1]


def test_a_gzipped_put_is_verified_as_sent_and_read_decompressed(tmp_path: Path) -> None:
    with LocalLambdabox(
        tmp_path / "data", manual_clock=True, verify_signatures=True, root_keys="test:test"
    ) as lbx:
        cw = lbx.client("cloudwatch")
        values = [n / 3 for n in range(2000)]  # over 10 KiB: botocore gzips it, then signs
        cw.put_metric_data(Namespace="Mine", MetricData=chunked("Many", values))
        assert statistic(lbx, "Many", {}, "SampleCount", "Mine") == 2000

        req = urllib.request.Request(
            lbx.url + "/",
            data=b"not gzip at all",
            method="POST",
            headers={
                "Content-Encoding": "gzip",
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/monitoring/aws4_request, "
                "SignedHeaders=host, Signature=00",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=30)
        assert exc.value.code == 400 and b"not valid gzip" in exc.value.read()


def test_a_long_invocation_shows_in_every_minute_of_concurrent_executions(tmp_path: Path) -> None:
    """The sampler of a running count, over a real store and the manual clock (no server: a
    function held running for minutes of the clock is the case)."""

    async def go() -> list[tuple[int, float, float]]:
        store = Store(tmp_path / "metrics.sqlite")
        store.open()
        store.migrate("metrics", metrics_store.SCHEMA)
        clock = ManualClock(start=1_800_000_000.0)
        recorder = Recorder(store, clock)
        running = LambdaRecorder(recorder)
        subject = Subject("us-east-1", ACCOUNT, "slow")
        running.running(subject, 1)  # minute 0: begins
        clock.advance(30)
        running.running(subject, 1)  # minute 0: a second one
        await recorder.flush()
        clock.advance(60)  # minute 1: both still running, no start
        await recorder.flush()
        await recorder.flush()  # sampled once a minute
        running.running(subject, -1)
        clock.advance(60)  # minute 2: one left
        await recorder.flush()
        running.running(subject, -1)
        clock.advance(60)  # minute 3: none
        await recorder.flush()
        points = await recorder.points("us-east-1", ACCOUNT, "AWS/Lambda", "ConcurrentExecutions", 0, 2e9)
        await recorder.close()
        store.close()
        return sorted(
            (minute, agg.maximum, agg.count)
            for key, minute, agg in points
            if key.dims == (("FunctionName", "slow"),)
        )

    start = 1_800_000_000 // 60 * 60
    assert asyncio.run(go()) == [(start, 2, 2), (start + 60, 2, 1), (start + 120, 1, 1)]
