"""Event source mappings' tags (CreateEventSourceMapping's Tags; TagResource, UntagResource and
ListTags on the mapping's ARN) and MetricsConfig (EventCount: the mapping's event counts in
CloudWatch), through boto3 against a real server, durable across a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Gate, deploy, wait_until
from lambdabox.testing import LocalLambdabox
from test_esm_scaling import _in_flight, _setup


@pytest.fixture
def lbx(tmp_path: Path) -> Iterator[LocalLambdabox]:
    with LocalLambdabox(tmp_path / "data", manual_clock=True) as server:
        yield server


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.close()


def test_a_mapping_takes_tags_and_a_metrics_config(lbx: LocalLambdabox, gate: Gate) -> None:
    _, lam, _, arn, name = _setup(lbx, gate, 0)
    created = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, Tags={"team": "a"}, MetricsConfig={"Metrics": ["EventCount"]}
    )
    esm_arn = created["EventSourceMappingArn"]
    assert created["MetricsConfig"] == {"Metrics": ["EventCount"]}
    assert lam.list_tags(Resource=esm_arn)["Tags"] == {"team": "a"}
    lam.tag_resource(Resource=esm_arn, Tags={"env": "test"})
    lam.untag_resource(Resource=esm_arn, TagKeys=["team"])
    assert lam.list_tags(Resource=esm_arn)["Tags"] == {"env": "test"}
    got = lam.get_event_source_mapping(UUID=created["UUID"])
    assert (
        got["MetricsConfig"] == {"Metrics": ["EventCount"]} and got["LastModified"] == created["LastModified"]
    )
    updated = lam.update_event_source_mapping(UUID=created["UUID"], MetricsConfig={"Metrics": []})
    assert "MetricsConfig" not in updated
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.tag_resource(Resource=esm_arn, Tags={"aws:x": "y"})
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_event_source_mapping(UUID=created["UUID"], MetricsConfig={"Metrics": ["KafkaMetrics"]})
    missing = esm_arn.rsplit(":", 1)[0] + ":00000000-0000-0000-0000-000000000000"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.list_tags(Resource=missing)
    lam.delete_event_source_mapping(UUID=created["UUID"])
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.tag_resource(Resource=esm_arn, Tags={"a": "b"})


def test_tags_and_metrics_config_survive_a_restart(tmp_path: Path) -> None:
    gate = Gate()
    try:
        with LocalLambdabox(tmp_path / "data", manual_clock=True) as first:
            _, lam, _, arn, name = _setup(first, gate, 0)
            created = lam.create_event_source_mapping(
                EventSourceArn=arn,
                FunctionName=name,
                Tags={"k": "v"},
                MetricsConfig={"Metrics": ["EventCount"]},
            )
        with LocalLambdabox(tmp_path / "data", manual_clock=True) as second:
            lam = second.client("lambda")
            assert lam.list_tags(Resource=created["EventSourceMappingArn"])["Tags"] == {"k": "v"}
            got = lam.get_event_source_mapping(UUID=created["UUID"])
            assert got["MetricsConfig"] == {"Metrics": ["EventCount"]}
    finally:
        gate.close()


OK = "def handler(event, context):\n    return None\n"


def test_metrics_config_event_count_records_the_mapping_s_event_counts(lbx: LocalLambdabox) -> None:
    sqs, lam = lbx.client("sqs"), lbx.client("lambda")
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = deploy(lam, {"app.py": OK})
    for body in ("keep 1", "keep 2", "drop"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    uuid = lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=name,
        MetricsConfig={"Metrics": ["EventCount"]},
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": [{"prefix": "keep"}]})}]},
    )["UUID"]
    wait_until(lambda: _in_flight(sqs, url) == (0, 0))
    cw = lbx.client("cloudwatch")
    now = lbx.clock.now()

    def total(metric: str) -> float:
        got = cw.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=[{"Name": "EventSourceMappingUUID", "Value": uuid}],
            StartTime=now - 600,
            EndTime=now + 60,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in got)

    wait_until(lambda: total("DeletedEventCount") == 2)
    assert total("PolledEventCount") == 3 and total("FilteredOutEventCount") == 1
    assert total("InvokedEventCount") == 2 and total("FailedInvokeEventCount") == 0
