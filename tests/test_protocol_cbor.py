"""The smithy-rpc-v2-cbor codec against botocore itself (CloudWatch): requests built by botocore's
RpcV2CBORSerializer are parsed by us, our responses and errors are read by its RpcV2CBORParser
(and by a real boto3 client made to speak CBOR), and bad CBOR gets an AWS-shaped answer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import botocore.session
import cbor2
import pytest
from botocore.exceptions import ClientError
from botocore.model import Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdabox.aws.errors import InternalError, ServiceError, client_error
from lambdabox.aws.protocol import ServiceProtocol, WireRequest, WireResponse
from lambdabox.aws.protocol_cbor import MAX_DEPTH, CborCodec
from protocol_helpers import FakeAws, answer, botocore_parse, botocore_request, session_speaking

# The fixtures these tests use, re-exported here so that pytest finds them.
from protocol_helpers import lam_fixture as lam_fixture
from protocol_helpers import logs_fixture as logs_fixture
from test_protocol_responses import normalise, values_for

PATH = "/service/GraniteServiceVersion20100801/operation/"
CBOR_HEADERS = {"smithy-protocol": "rpc-v2-cbor", "content-type": "application/cbor"}
T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture(scope="module", name="cw")
def cw_fixture() -> ServiceProtocol:
    return ServiceProtocol("cloudwatch")


@pytest.fixture(scope="module", name="codec")
def codec_fixture(cw: ServiceProtocol) -> CborCodec:
    codec = cw.codec_for(botocore_request(cw.model, "ListMetrics", {}))
    assert isinstance(codec, CborCodec)
    return codec


def cbor_request(operation: str, body: bytes, method: str = "POST") -> WireRequest:
    return WireRequest(method, PATH + operation, {}, CBOR_HEADERS, body)


def answer_of(cw: ServiceProtocol, req: WireRequest, result: dict[str, Any]) -> WireResponse:
    op, _ = cw.parse(req)
    return cw.serialize(op, result, "rid", req=req)


# ------------------------------------------------------------------ protocol choice and matching


def test_cloudwatch_speaks_each_of_its_protocols_and_defaults_to_botocores_choice(
    cw: ServiceProtocol,
) -> None:
    assert cw.model.metadata["protocols"][0] == "smithy-rpc-v2-cbor"
    # what botocore's client sends by default (botocore 1.44 prefers json over cbor)
    client_choice = botocore.session.get_session().get_service_model("cloudwatch").resolved_protocol
    assert cw.protocol == client_choice
    assert set(cw.protocols) == {"smithy-rpc-v2-cbor", "json", "query"}


def test_single_protocol_services_are_unchanged(lam: ServiceProtocol, logs: ServiceProtocol) -> None:
    assert (lam.protocols, logs.protocols) == (("rest-json",), ("json",))


def test_each_service_matches_only_its_own_requests(
    cw: ServiceProtocol, lam: ServiceProtocol, logs: ServiceProtocol
) -> None:
    put = botocore_request(cw.model, "PutMetricData", {"Namespace": "n", "MetricData": []})
    assert put.path == PATH + "PutMetricData" and put.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert (cw.match(put), lam.match(put), logs.match(put)) == ("PutMetricData", None, None)
    logs_req = botocore_request(logs.model, "CreateLogGroup", {"logGroupName": "g"})
    invoke = botocore_request(lam.model, "Invoke", {"FunctionName": "f"})
    assert (cw.match(logs_req), cw.match(invoke)) == (None, None)


@pytest.mark.parametrize(
    "req",
    [
        WireRequest("POST", PATH + "ListMetrics", {}, {"content-type": "application/cbor"}, b"\xa0"),
        WireRequest("POST", PATH + "ListMetrics", {}, {"smithy-protocol": "rpc-v2-json"}, b"\xa0"),
        WireRequest("GET", PATH + "ListMetrics", {}, CBOR_HEADERS, b""),
        WireRequest("POST", "/service/Logs_20140328/operation/ListMetrics", {}, CBOR_HEADERS, b"\xa0"),
        WireRequest("POST", PATH + "ListMetrics/extra", {}, CBOR_HEADERS, b"\xa0"),
        WireRequest("POST", PATH + "NoSuchOperation", {}, CBOR_HEADERS, b"\xa0"),
    ],
)
def test_other_requests_are_not_matched(cw: ServiceProtocol, req: WireRequest) -> None:
    assert cw.match(req) is None


def test_cloudwatch_over_json_still_works(cw: ServiceProtocol) -> None:
    fake = answer(FakeAws("cloudwatch"), lambda op, params: {"Metrics": [{"MetricName": "m"}]})
    assert fake.proto.protocol == "json"
    assert fake.client.list_metrics(Namespace="n")["Metrics"] == [{"MetricName": "m"}]
    assert fake.seen == [("ListMetrics", {"Namespace": "n"})]


# ------------------------------------------------------------------ requests built by botocore

REQUESTS: list[tuple[str, dict[str, Any]]] = [
    (
        "PutMetricData",
        {
            "Namespace": "App/Orders",
            "MetricData": [
                {
                    "MetricName": "Latency",
                    "Dimensions": [{"Name": "Service", "Value": "api"}, {"Name": "Stage", "Value": "β"}],
                    "Timestamp": datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
                    "Value": 12.5,
                    "Unit": "Milliseconds",
                    "StorageResolution": 1,
                },
                {
                    "MetricName": "Count",
                    "Timestamp": T0,
                    "Values": [1.0, 2.5, -3.25],
                    "Counts": [10.0, 1.0, 2.0],
                    "StatisticValues": {"SampleCount": 3.0, "Sum": 0.25, "Minimum": -3.25, "Maximum": 2.5},
                },
            ],
            "StrictEntityValidation": True,
        },
    ),
    (
        "GetMetricData",
        {
            "MetricDataQueries": [
                {
                    "Id": "q1",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": "Errors",
                            "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                        },
                        "Period": 60,
                        "Stat": "Sum",
                    },
                    "ReturnData": False,
                },
                {"Id": "e1", "Expression": "q1 * 2", "Label": "double"},
            ],
            "StartTime": T0,
            "EndTime": datetime(2024, 5, 6, 8, 8, 9, 500000, tzinfo=UTC),
            "ScanBy": "TimestampDescending",
            "MaxDatapoints": 1000,
        },
    ),
    ("ListMetrics", {}),
    (
        "ListMetrics",
        {"Namespace": "AWS/Lambda", "Dimensions": [{"Name": "FunctionName"}], "RecentlyActive": "PT3H"},
    ),
    ("DescribeAlarms", {"AlarmNamePrefix": "high-", "StateValue": "ALARM", "MaxRecords": 50}),
    (
        "PutMetricAlarm",
        {
            "AlarmName": "high-errors",
            "MetricName": "Errors",
            "Namespace": "AWS/Lambda",
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 3,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
            "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:alerts"],
            "ActionsEnabled": True,
            "Tags": [{"Key": "team", "Value": "core"}],
        },
    ),
]


@pytest.mark.parametrize(("operation", "params"), REQUESTS)
def test_botocore_requests_parse_to_the_same_params(
    cw: ServiceProtocol, operation: str, params: dict[str, Any]
) -> None:
    req = botocore_request(cw.model, operation, params)
    assert cw.parse(req) == (operation, params)


def test_sub_second_timestamps_are_tag_1_floats(cw: ServiceProtocol) -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)
    body = cbor2.dumps(
        {
            "Namespace": "n",
            "MetricData": [{"MetricName": "m", "Timestamp": cbor2.CBORTag(1, when.timestamp())}],
        }
    )
    _, params = cw.parse(cbor_request("PutMetricData", body))
    assert params["MetricData"][0]["Timestamp"] == when
    body = cbor2.dumps(
        {"StartTime": cbor2.CBORTag(1, 1714979289), "EndTime": 1714979290, "MetricDataQueries": []}
    )
    _, params = cw.parse(cbor_request("GetMetricData", body))
    assert (params["StartTime"], params["EndTime"].second) == (datetime.fromtimestamp(1714979289, UTC), 10)


# ------------------------------------------------------------------ responses read by botocore

RESULTS: list[tuple[str, dict[str, Any]]] = [
    (
        "GetMetricData",
        {
            "MetricDataResults": [
                {
                    "Id": "q1",
                    "Label": "Errors",
                    "Timestamps": [T0, datetime(2024, 5, 6, 7, 9, 9, 500000, tzinfo=UTC)],
                    "Values": [0.0, 3.5],
                    "StatusCode": "Complete",
                    "Messages": [{"Code": "c", "Value": "v"}],
                }
            ],
            "NextToken": "tok",
        },
    ),
    (
        "ListMetrics",
        {
            "Metrics": [{"Namespace": "n", "MetricName": "m", "Dimensions": [{"Name": "a", "Value": "b"}]}],
            "OwningAccounts": ["000000000000"],
        },
    ),
    ("ListMetrics", {}),
    (
        "DescribeAlarms",
        {
            "MetricAlarms": [
                {
                    "AlarmName": "high-errors",
                    "AlarmArn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:high-errors",
                    "StateValue": "OK",
                    "StateUpdatedTimestamp": T0,
                    "Threshold": 1.0,
                    "EvaluationPeriods": 3,
                    "ActionsEnabled": False,
                    "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                }
            ],
            "CompositeAlarms": [],
        },
    ),
    ("GetMetricWidgetImage", {"MetricWidgetImage": b"\x89PNG\r\n\x00\xff"}),
]


@pytest.mark.parametrize(("operation", "result"), RESULTS)
def test_results_read_back_by_botocore(cw: ServiceProtocol, operation: str, result: dict[str, Any]) -> None:
    req = botocore_request(cw.model, operation, {})
    resp = cw.serialize(operation, result, "rid", req=req)
    assert resp.status == 200
    assert resp.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert resp.headers["Content-Type"] == "application/cbor"
    parsed = botocore_parse(cw.model, operation, resp)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "rid"
    assert parsed == result


def test_operation_without_output_answers_an_empty_body(cw: ServiceProtocol) -> None:
    req = botocore_request(cw.model, "PutMetricAlarm", {"AlarmName": "a"})
    resp = answer_of(cw, req, {})
    assert (resp.status, resp.body, resp.headers["smithy-protocol"]) == (200, b"", "rpc-v2-cbor")
    assert normalise(botocore_parse(cw.model, "PutMetricAlarm", resp)) == {}


def one_member_unions(shape: Shape, value: Any) -> Any:
    """`value` without the tagged unions that do not have exactly one member (invalid on the wire)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        out = {}
        for name, item in value.items():
            member = shape.members[name]
            if member.type_name == "structure" and member.is_tagged_union and len(item) != 1:
                continue
            out[name] = one_member_unions(member, item)
        return out
    if kind == "list":
        return [one_member_unions(shape.member, v) for v in value]
    if kind == "map":
        return {k: one_member_unions(shape.value, v) for k, v in value.items()}
    return value


ROUND_TRIP = ["PutMetricData", "GetMetricData", "ListMetrics", "DescribeAlarms", "PutMetricAlarm"]


@pytest.mark.parametrize("operation", ROUND_TRIP)
def test_round_trip_property(cw: ServiceProtocol, operation: str) -> None:
    op = cw.model.operation_model(operation)
    inputs = values_for(op.input_shape)
    out_shape = op.output_shape
    outputs = (
        values_for(out_shape).map(lambda r: one_member_unions(out_shape, r)) if out_shape else st.just({})
    )

    parsed = 0

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(params=inputs, result=outputs)
    def check(params: dict[str, Any], result: dict[str, Any]) -> None:
        nonlocal parsed
        req = botocore_request(cw.model, operation, params)
        try:
            got = cw.parse(req)
        except ServiceError as exc:  # the strategies do not know every constraint
            assert exc.code == "ValidationException", exc
        else:
            assert got == (operation, params)
            parsed += 1
        resp = cw.serialize(operation, result, "rid", req=req)
        assert normalise(botocore_parse(cw.model, operation, resp)) == normalise(result)

    check()
    assert parsed > 0


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("error", "status", "code", "query_code", "shape_id"),
    [
        (
            client_error("ResourceNotFound", "no such dashboard"),
            404,
            "ResourceNotFound",
            None,
            "ResourceNotFound",
        ),
        (
            client_error("InvalidParameterValue", "bad value"),
            400,
            "InvalidParameterValue",
            "InvalidParameterValueException",
            "InvalidParameterValueException",
        ),
        (
            client_error("InvalidParameterValueException", "bad value"),
            400,
            "InvalidParameterValue",
            "InvalidParameterValueException",
            "InvalidParameterValueException",
        ),
        (
            client_error("LimitExceeded", "too many", 400),
            400,
            "LimitExceeded",
            "LimitExceededFault",
            "LimitExceededFault",
        ),
        (
            client_error("ValidationError", "bad"),
            400,
            "ValidationError",
            "ValidationException",
            "ValidationException",
        ),
    ],
)
def test_modeled_errors_read_by_botocore(
    cw: ServiceProtocol,
    error: ServiceError,
    status: int,
    code: str,
    query_code: str | None,
    shape_id: str,
) -> None:
    req = botocore_request(cw.model, "DescribeAlarms", {})
    resp = cw.serialize_error(error, "rid", "DescribeAlarms", req=req)
    assert resp.status == status
    assert resp.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert resp.headers["x-amzn-query-error"] == f"{code};Sender"
    body = cbor2.loads(resp.body)
    assert body["__type"] == f"com.amazonaws.cloudwatch#{shape_id}"
    parsed = botocore_parse(cw.model, "DescribeAlarms", resp)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == error.message
    assert parsed["Error"]["Type"] == "Sender"
    assert parsed["Error"]["QueryErrorCode"] == (query_code or code)
    assert parsed["ResponseMetadata"]["RequestId"] == "rid"


def test_unmodeled_and_internal_errors(cw: ServiceProtocol) -> None:
    req = botocore_request(cw.model, "ListMetrics", {})
    resp = cw.serialize_error(InternalError("boom"), "rid", "ListMetrics", req=req)
    assert (resp.status, resp.headers["x-amzn-query-error"]) == (500, "ServiceException;Receiver")
    parsed = botocore_parse(cw.model, "ListMetrics", resp)
    assert (parsed["Error"]["Code"], parsed["Error"]["Message"]) == ("ServiceException", "boom")


def test_validation_errors_are_awss(cw: ServiceProtocol) -> None:
    req = botocore_request(cw.model, "PutMetricAlarm", {"AlarmName": ""})
    with pytest.raises(ServiceError) as info:
        cw.parse(req)
    assert info.value.code == "ValidationException"
    assert "Value '' at 'alarmName' failed to satisfy constraint" in info.value.message
    # CloudWatch models ValidationException with the query code ValidationError: botocore reports that
    parsed = botocore_parse(cw.model, "PutMetricAlarm", cw.serialize_error(info.value, "rid", req=req))
    assert (parsed["Error"]["Code"], parsed["Error"]["QueryErrorCode"]) == (
        "ValidationError",
        "ValidationException",
    )
    assert parsed["Error"]["Message"] == info.value.message


# ------------------------------------------------------------------ a real boto3 client over CBOR


@pytest.fixture(scope="module", name="cbor_client")
def cbor_client_fixture(tmp_path_factory: pytest.TempPathFactory) -> FakeAws:
    """FakeAws whose boto3 client speaks smithy-rpc-v2-cbor (as botocore would if it preferred it)."""
    session = session_speaking("cloudwatch", "smithy-rpc-v2-cbor", tmp_path_factory.mktemp("models"))
    return FakeAws("cloudwatch", validate_client_side=False, session=session)


def test_boto3_client_over_cbor(cbor_client: FakeAws) -> None:
    client = cbor_client.client
    assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    answer(cbor_client, lambda op, params: {})
    client.put_metric_data(**REQUESTS[0][1])
    assert cbor_client.last_request is not None
    assert cbor_client.last_request.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert cbor_client.seen == [("PutMetricData", REQUESTS[0][1])]
    answer(cbor_client, lambda op, params: RESULTS[3][1])
    got = client.describe_alarms(AlarmNamePrefix="high-")
    assert normalise(got) == RESULTS[3][1]


def test_boto3_client_over_cbor_errors(cbor_client: FakeAws) -> None:
    client = cbor_client.client

    def missing(op: str, params: dict[str, Any]) -> dict[str, Any]:
        raise client_error("ResourceNotFound", "Dashboard d does not exist")

    answer(cbor_client, missing)
    with pytest.raises(client.exceptions.ResourceNotFound) as info:
        client.get_dashboard(DashboardName="d")
    assert info.value.response["Error"]["Message"] == "Dashboard d does not exist"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    def invalid(op: str, params: dict[str, Any]) -> dict[str, Any]:
        raise client_error("InvalidParameterValue", "The value -1 for parameter Period is not valid.")

    answer(cbor_client, invalid)
    with pytest.raises(client.exceptions.InvalidParameterValueException) as info2:
        client.list_metrics()
    assert info2.value.response["Error"]["Code"] == "InvalidParameterValue"

    answer(cbor_client, lambda op, params: pytest.fail("reached the service"))
    with pytest.raises(ClientError) as info3:
        client.put_metric_alarm(AlarmName="")
    assert info3.value.response["Error"]["Code"] == "ValidationError"
    assert isinstance(info3.value, client.exceptions.ValidationException)


# ------------------------------------------------------------------ bad input


def _deep(levels: int) -> bytes:
    return b"\x81" * levels + b"\xa0"


BAD_BODIES = {
    "truncated": cbor2.dumps({"Namespace": "n"})[:-1],
    "not a map: array": cbor2.dumps(["Namespace"]),
    "not a map: int": cbor2.dumps(7),
    "not a map: text": cbor2.dumps("Namespace"),
    "trailing data": cbor2.dumps({}) + b"\x00",
    "break outside indefinite": b"\xff",
    "reserved additional info": b"\x1c",
    "bad utf-8": b"\xa1\x69Namespace\x62\xff\xfe",
    "utf-8 of a lone surrogate": b"\xa1\x69Namespace\x63\xed\xb3\xbf",
    "int map keys": b"\xa2\x01\x00\x02\x00",
    "wrong type: int for string": cbor2.dumps({"Namespace": 5}),
    "wrong type: text for list": cbor2.dumps({"Dimensions": "a"}),
    "wrong type: text for boolean": cbor2.dumps({"Namespace": "n", "RecentlyActive": True}),
    "huge declared array": b"\xa1\x6aDimensions\x9b" + (2**62).to_bytes(8, "big"),
    "huge declared map": b"\xbb" + (2**62).to_bytes(8, "big"),
    "huge declared text": b"\xa1\x69Namespace\x7b" + (2**62).to_bytes(8, "big"),
    "deeply nested": b"\xa1\x6aDimensions" + _deep(100_000),
    "deeply nested indefinite": b"\xa1\x6aDimensions" + b"\x9f" * 100_000,
    "shared reference cycle": b"\xa1\x6aDimensions\xd8\x1c\x81\xd8\x1d\x00",
    "undefined": b"\xa1\x69Namespace\xf7",
    "simple value": b"\xa1\x69Namespace\xf0",
    "unknown tag": b"\xa1\x69Namespace\xd9\x99\x99\x61x",
    "decimal fraction": b"\xa1\x69Namespace\xc4\x82\x21\x19\x6a\xb3",
    "tag 1 of text": b"\xa1\x69Namespace\xc1\x63abc",
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_cbor_is_a_serialization_exception(cw: ServiceProtocol, body: bytes) -> None:
    req = cbor_request("ListMetrics", body)
    started = time.monotonic()
    with pytest.raises(ServiceError) as info:
        cw.parse(req)
    assert time.monotonic() - started < 1.0
    assert (info.value.code, info.value.status) == ("SerializationException", 400)
    resp = cw.serialize_error(info.value, "rid", "ListMetrics", req=req)
    assert resp.headers["x-amzn-query-error"] == "SerializationException;Sender"
    assert botocore_parse(cw.model, "ListMetrics", resp)["Error"]["Code"] == "SerializationException"


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("GetMetricData", {"MetricDataQueries": [], "StartTime": T0, "EndTime": T0, "MaxDatapoints": 2**31}),
        ("GetMetricData", {"MetricDataQueries": [], "StartTime": T0, "EndTime": T0, "MaxDatapoints": 2**70}),
        ("GetMetricData", {"MetricDataQueries": [], "StartTime": "yesterday", "EndTime": T0}),
        ("GetMetricData", {"MetricDataQueries": [], "StartTime": cbor2.CBORTag(1, 10**20), "EndTime": T0}),
        ("PutMetricData", {"Namespace": "n", "MetricData": [{"MetricName": "m", "Value": "1.0"}]}),
        ("PutMetricData", {"Namespace": "n", "MetricData": [{"MetricName": "m", "Value": True}]}),
        ("PutMetricData", {"Namespace": "n", "MetricData": [{"MetricName": "m", "Dimensions": {"a": "b"}}]}),
        ("PutDashboard", {"DashboardName": b"bytes", "DashboardBody": "{}"}),
        ("GetMetricWidgetImage", {"MetricWidget": "{}", "OutputFormat": 1}),
    ],
)
def test_wrong_types_are_a_serialization_exception(
    cw: ServiceProtocol, operation: str, body: dict[str, Any]
) -> None:
    encoded = cbor2.dumps(body, datetime_as_timestamp=True, timezone=UTC)
    with pytest.raises(ServiceError) as info:
        cw.parse(cbor_request(operation, encoded))
    assert (info.value.code, info.value.status) == ("SerializationException", 400)


def test_nesting_up_to_the_limit_is_read(codec: CborCodec) -> None:
    # unknown members are skipped, whatever their depth (below the limit)
    body = b"\xa2\x69Namespace\x61n\x65Extra" + b"\x81" * (MAX_DEPTH - 2) + b"\xa0"
    assert codec.parse(cbor_request("ListMetrics", body)) == ("ListMetrics", {"Namespace": "n"})


def test_empty_body_and_null_are_no_params(cw: ServiceProtocol) -> None:
    assert cw.parse(cbor_request("ListMetrics", b"")) == ("ListMetrics", {})
    assert cw.parse(cbor_request("ListMetrics", b"\xf6")) == ("ListMetrics", {})
    with pytest.raises(ServiceError) as info:
        cw.parse(cbor_request("GetMetricData", b""))
    assert info.value.code == "ValidationException"


def test_unknown_operation_is_the_json_protocols_answer(cw: ServiceProtocol, logs: ServiceProtocol) -> None:
    req = cbor_request("NoSuchOperation", b"\xa0")
    err = cw.unknown_operation_error(req)
    with pytest.raises(ServiceError) as info:
        cw.parse(req)
    assert (
        (info.value.code, info.value.status) == (err.code, err.status) == ("UnknownOperationException", 400)
    )
    resp = cw.serialize_error(err, "rid", req=req)
    assert resp.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert cbor2.loads(resp.body) == {"__type": "UnknownOperationException"}
    assert botocore_parse(cw.model, "ListMetrics", resp)["Error"]["Code"] == "UnknownOperationException"
    # the json codec gives the same code and status for an unknown X-Amz-Target
    json_req = WireRequest("POST", "/", {}, {"x-amz-target": "Logs_20140328.NoSuchOperation"}, b"{}")
    json_err = logs.unknown_operation_error(json_req)
    assert (json_err.code, json_err.status) == (err.code, err.status)
    get = cbor_request("ListMetrics", b"", method="GET")
    assert cw.serialize_error(cw.unknown_operation_error(get), "rid", req=get).status == 404
