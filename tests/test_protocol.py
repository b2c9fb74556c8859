"""The AWS protocol layer against botocore itself: requests built by botocore's serializers (or a
real boto3 client) are parsed by us; our responses and errors are read back by botocore's parsers
(or the client), so what is asserted is what a boto3 user sees. No server involved.

This file: service matching, rest-json parsing, malformed bodies and validation (protocol_helpers).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdabox.aws.errors import ServiceError
from lambdabox.aws.protocol import ServiceProtocol, WireRequest
from lambdabox.aws.protocol_restjson import RestJsonCodec
from lambdabox.aws.validation import _compile_pattern
from protocol_helpers import (
    FN_ARN,
    FakeAws,
    answer,
    botocore_parse,
    botocore_request,
)

# The fixtures these tests use, re-exported here so that pytest finds them.
from protocol_helpers import lam_fixture as lam_fixture
from protocol_helpers import lambda_client_fixture as lambda_client_fixture
from protocol_helpers import logs_client_fixture as logs_client_fixture
from protocol_helpers import logs_fixture as logs_fixture
from protocol_helpers import raw_lambda_client_fixture as raw_lambda_client_fixture
from protocol_helpers import widgets_fixture as widgets_fixture

# ------------------------------------------------------------------ metadata and matching


def test_service_metadata(lam: ServiceProtocol, logs: ServiceProtocol) -> None:
    assert (lam.protocol, lam.api_version, lam.signing_name, lam.endpoint_prefix) == (
        "rest-json",
        "2015-03-31",
        "lambda",
        "lambda",
    )
    assert lam.target_prefix is None
    assert (logs.protocol, logs.target_prefix, logs.signing_name) == ("json", "Logs_20140328", "logs")


def test_each_service_matches_only_its_own_requests(lam: ServiceProtocol, logs: ServiceProtocol) -> None:
    invoke = botocore_request(lam.model, "Invoke", {"FunctionName": "f"})
    put = botocore_request(
        logs.model, "PutLogEvents", {"logGroupName": "g", "logStreamName": "s", "logEvents": []}
    )
    assert (lam.match(invoke), logs.match(invoke)) == ("Invoke", None)
    assert (lam.match(put), logs.match(put)) == (None, "PutLogEvents")


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("ListLayers", {}),
        ("GetLayerVersionByArn", {"Arn": "arn:aws:lambda:us-east-1:000000000000:layer:l:3"}),
        ("ListProvisionedConcurrencyConfigs", {"FunctionName": "f"}),
        ("GetProvisionedConcurrencyConfig", {"FunctionName": "f", "Qualifier": "live"}),
        ("ListAliases", {"FunctionName": "f"}),
        ("GetAlias", {"FunctionName": "f", "Name": "live"}),
        ("ListTags", {"Resource": FN_ARN}),
        ("RemovePermission", {"FunctionName": "f", "StatementId": "s1"}),
        ("ListFunctionEventInvokeConfigs", {"FunctionName": "f"}),
    ],
)
def test_lambda_routes_to_the_most_specific_template(
    lam: ServiceProtocol, operation: str, params: dict[str, Any]
) -> None:
    req = botocore_request(lam.model, operation, params)
    assert lam.parse(req) == (operation, params)


def test_every_lambda_operation_routes_to_itself(lam: ServiceProtocol) -> None:
    # labels filled with a value that satisfies no literal, so every template is exercised
    for name in lam.model.operation_names:
        op = lam.model.operation_model(name)
        uri = op.http["requestUri"].split("?")[0]
        path = uri.replace("{", "x").replace("}", "").replace("+", "")
        query = {
            k: [v]
            for k, _, v in (p.partition("=") for p in op.http["requestUri"].partition("?")[2].split("&") if p)
        }
        req = WireRequest(op.http["method"], path, query, {}, b"")
        assert lam.match(req) == name, op.http


def test_unknown_paths_and_methods_are_not_ours(lam: ServiceProtocol) -> None:
    for method, path in [
        ("GET", "/"),
        ("GET", "/2015-03-31/nope"),
        ("PATCH", "/2015-03-31/functions/f"),
        ("GET", "/2015-03-31/functions//configuration"),
    ]:
        assert lam.match(WireRequest(method, path, {}, {}, b"")) is None


# ------------------------------------------------------------------ rest-json parsing


def test_invoke_parse_keeps_payload_raw_and_decodes_labels(lam: ServiceProtocol) -> None:
    params = {
        "FunctionName": FN_ARN + ":prod",
        "InvocationType": "RequestResponse",
        "LogType": "Tail",
        "ClientContext": base64.b64encode(b'{"custom":{}}').decode(),
        "Payload": b'{"key": "value", "bytes": "\xc3\xa9"}',
        "Qualifier": "$LATEST",
    }
    req = botocore_request(lam.model, "Invoke", params)
    assert "%3A" in req.path  # botocore percent-encodes the ARN's colons
    assert lam.parse(req) == ("Invoke", params)


def test_invoke_without_payload_has_no_payload_param(lam: ServiceProtocol) -> None:
    assert lam.parse(botocore_request(lam.model, "Invoke", {"FunctionName": "f"})) == (
        "Invoke",
        {"FunctionName": "f"},
    )


def test_create_function_body_blobs_are_bytes(lam: ServiceProtocol) -> None:
    params = {
        "FunctionName": "my-fn",
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::000000000000:role/lambda-role",
        "Handler": "app.handler",
        "Code": {"ZipFile": b"PK\x03\x04\x00\xff binary"},
        "MemorySize": 256,
        "Timeout": 30,
        "Publish": True,
        "Environment": {"Variables": {"AA": "1", "B_2": "two"}},
        "Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:deps:2"],
        "Tags": {"team": "core"},
    }
    assert lam.parse(botocore_request(lam.model, "CreateFunction", params)) == ("CreateFunction", params)


def test_query_members_are_typed(lam: ServiceProtocol) -> None:
    params = {"MaxItems": 50, "Marker": "", "FunctionVersion": "ALL", "MasterRegion": "us-east-1"}
    assert lam.parse(botocore_request(lam.model, "ListFunctions", params)) == ("ListFunctions", params)
    untag = {"Resource": FN_ARN, "TagKeys": ["a", "b c", "ü"]}
    assert lam.parse(botocore_request(lam.model, "UntagResource", untag)) == ("UntagResource", untag)


def test_greedy_labels_and_literal_query_parts(widgets: RestJsonCodec) -> None:
    model = widgets.model
    key = {"Bucket": "bkt", "Key": "dir/sub dir/é%file.txt"}
    assert widgets.parse(botocore_request(model, "GetObject", key)) == ("GetObject", key)
    assert widgets.parse(botocore_request(model, "GetObjectTagging", key)) == ("GetObjectTagging", key)
    assert widgets.parse(botocore_request(model, "ListVersions", {"Bucket": "bkt"}))[0] == "ListVersions"
    assert widgets.parse(botocore_request(model, "ListObjects", {"Bucket": "bkt"}))[0] == "ListObjects"
    assert widgets.parse(botocore_request(model, "GetManifest", {"Name": "v1"})) == (
        "GetManifest",
        {"Name": "v1"},
    )
    # an encoded slash stays inside a one-segment label
    req = WireRequest("GET", "/manifests/a%2Fb.json", {}, {}, b"")
    assert widgets.parse(req) == ("GetManifest", {"Name": "a/b"})


def test_typed_query_headers_header_maps_and_structure_payload(widgets: RestJsonCodec) -> None:
    model = widgets.model
    listing = {
        "Bucket": "bkt",
        "MaxKeys": 7,
        "Since": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        "Flag": False,
        "Ratio": 0.25,
        "Ids": [1, 2, 3],
        "Filters": {"colour": ["red", "blue"], "size": ["L"]},
    }
    assert widgets.parse(botocore_request(model, "ListObjects", listing)) == ("ListObjects", listing)
    put = {
        "Id": 42,
        "When": datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC),
        "Dry": True,
        "Doc": {"nested": [1, "two", None]},
        "Labels": ["plain", "with,comma", 'with"quote'],
        "Meta": {"Owner": "me"},
        "Gadget": {"Name": "g", "Weight": 1.5, "Raw": b"\x00\x01", "Parts": ["a"], "Renamed": "r"},
    }
    op, params = widgets.parse(botocore_request(model, "PutGadget", put))
    assert op == "PutGadget"
    assert {k.lower(): v for k, v in params.pop("Meta").items()} == {"owner": "me"}
    put.pop("Meta")
    assert params == put


def test_uri_and_query_values_of_the_wrong_type_are_a_400(
    widgets: RestJsonCodec, lam: ServiceProtocol
) -> None:
    with pytest.raises(ServiceError) as info:
        widgets.parse(WireRequest("PUT", "/gadgets/abc", {}, {}, b""))
    assert (info.value.code, info.value.status) == ("SerializationException", 400)
    with pytest.raises(ServiceError) as info:
        lam.parse(WireRequest("GET", "/2015-03-31/functions", {"MaxItems": ["ten"]}, {}, b""))
    assert (info.value.code, info.value.status) == ("InvalidRequestContentException", 400)


# ------------------------------------------------------------------ malformed bodies


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"FunctionName": "f", "Role": 5}',
        b'{"Code": {"ZipFile": "***"}}',
        b"\xff\xfe",
    ],
)
def test_lambda_unreadable_body_is_invalid_request_content(lam: ServiceProtocol, body: bytes) -> None:
    req = WireRequest("POST", "/2015-03-31/functions", {}, {"content-type": "application/json"}, body)
    with pytest.raises(ServiceError) as info:
        lam.parse(req)
    err = info.value
    assert (err.code, err.status, err.type) == ("InvalidRequestContentException", 400, "User")
    assert err.message.startswith("Could not parse request body into json: ")
    parsed = botocore_parse(lam.model, "CreateFunction", lam.serialize_error(err, "r1"))
    assert parsed["Error"]["Code"] == "InvalidRequestContentException"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{oops", None),
        (b'{"logGroupName": ["g"]}', "Start of list found where not expected"),
        (b'{"logGroupName": "g", "retentionInDays": "7"}', "STRING_VALUE can not be converted to an Integer"),
        (b'{"logGroupName": {"a": 1}}', "Start of structure or map found where not expected."),
    ],
)
def test_logs_unreadable_body_is_serialization_exception(
    logs: ServiceProtocol, body: bytes, message: str | None
) -> None:
    req = WireRequest("POST", "/", {}, {"x-amz-target": "Logs_20140328.PutRetentionPolicy"}, body)
    with pytest.raises(ServiceError) as info:
        logs.parse(req)
    assert (info.value.code, info.value.status) == ("SerializationException", 400)
    if message is not None:
        assert info.value.message == message
    parsed = botocore_parse(logs.model, "PutRetentionPolicy", logs.serialize_error(info.value, "r1"))
    assert parsed["Error"]["Code"] == "SerializationException"


def test_absurdly_nested_json_is_a_400_not_a_crash(lam: ServiceProtocol, logs: ServiceProtocol) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ServiceError) as info:
        lam.parse(WireRequest("POST", "/2015-03-31/functions", {}, {}, deep))
    assert info.value.status == 400
    with pytest.raises(ServiceError) as info:
        logs.parse(WireRequest("POST", "/", {}, {"x-amz-target": "Logs_20140328.CreateLogGroup"}, deep))
    assert info.value.status == 400


# ------------------------------------------------------------------ validation


def validation_message(fake: FakeAws, call: Callable[[], Any]) -> str:
    answer(fake, lambda op, params: pytest.fail(f"{op} reached the service"))
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    assert err["Error"]["Code"] == "ValidationException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    if fake.proto.protocol == "rest-json":
        assert err["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ValidationException"
    message: str = err["Error"]["Message"]
    return message


def test_validation_message_is_awss(raw_lambda_client: FakeAws) -> None:
    c = raw_lambda_client.client
    msg = validation_message(
        raw_lambda_client, lambda: c.update_function_configuration(FunctionName="f", MemorySize=100)
    )
    assert msg == (
        "1 validation error detected: Value '100' at 'memorySize' failed to satisfy constraint: "
        "Member must have value greater than or equal to 128"
    )


def test_several_validation_errors_are_counted_and_joined(raw_lambda_client: FakeAws) -> None:
    c = raw_lambda_client.client
    msg = validation_message(
        raw_lambda_client,
        lambda: c.update_function_configuration(FunctionName="f", MemorySize=100_000, Timeout=0),
    )
    assert msg == (
        "2 validation errors detected: "  # in the model's member order
        "Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1; "
        "Value '100000' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 32768"
    )


def test_missing_required_members_and_nested_paths(raw_lambda_client: FakeAws) -> None:
    c = raw_lambda_client.client
    msg = validation_message(
        raw_lambda_client,
        lambda: c.create_function(
            FunctionName="f",
            Code={"S3Bucket": "ab", "S3Key": "k"},
            Layers=["not-an-arn"],
        ),
    )
    layer_pattern = lam_pattern("LayerVersionArn")
    assert msg == (
        "3 validation errors detected: "
        "Value null at 'role' failed to satisfy constraint: Member must not be null; "
        "Value 'ab' at 'code.s3Bucket' failed to satisfy constraint: Member must have length greater than or equal to 3; "
        f"Value 'not-an-arn' at 'layers.1.member' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {layer_pattern}"
    )


def lam_pattern(shape: str) -> str:
    pattern: str = ServiceProtocol("lambda").model.shape_for(shape).metadata["pattern"]
    return pattern


def test_uri_labels_are_validated_and_sensitive_values_not_echoed(raw_lambda_client: FakeAws) -> None:
    c = raw_lambda_client.client
    msg = validation_message(raw_lambda_client, lambda: c.get_function(FunctionName="bad name!"))
    assert msg == (
        "1 validation error detected: Value 'bad name!' at 'functionName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {lam_pattern('NamespacedFunctionName')}"
    )
    msg = validation_message(
        raw_lambda_client,
        lambda: c.update_function_configuration(
            FunctionName="f", Environment={"Variables": {"1BAD": "secret"}}
        ),
    )
    assert "secret" not in msg
    assert msg == (
        "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
    )


def test_enums_are_validated(lambda_client: FakeAws) -> None:
    c = lambda_client.client
    msg = validation_message(lambda_client, lambda: c.invoke(FunctionName="f", InvocationType="Bogus"))
    assert msg == (
        "1 validation error detected: Value 'Bogus' at 'invocationType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
    )


def test_enums_the_service_checks_reach_it(lambda_client: FakeAws) -> None:
    """Lambda judges Runtime itself (it may also be a runtime ARN) and words the answer its own
    way (InvalidParameterValueException), so the protocol layer hands it over unchecked."""
    answer(lambda_client, lambda op, params: {})
    lambda_client.client.update_function_configuration(FunctionName="f", Runtime="cobol85")
    assert lambda_client.seen == [
        ("UpdateFunctionConfiguration", {"FunctionName": "f", "Runtime": "cobol85"})
    ]


def test_json_protocol_validation(logs_client: FakeAws) -> None:
    c = logs_client.client
    msg = validation_message(logs_client, lambda: c.create_log_group(logGroupName=""))
    assert msg == (
        "2 validation errors detected: "
        "Value '' at 'logGroupName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+; "
        "Value '' at 'logGroupName' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )
    msg = validation_message(
        logs_client,
        lambda: c.put_log_events(
            logGroupName="g", logStreamName="s", logEvents=[{"timestamp": 1, "message": ""}]
        ),
    )
    assert msg == (
        "1 validation error detected: Value '' at 'logEvents.1.member.message' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_patterns_read_as_java_reads_them() -> None:
    assert _compile_pattern(r"[\p{L}\p{Z}]*") is None  # Java-only syntax: left to the service
    assert _compile_pattern(r"[\w-_]*") is None
    account = _compile_pattern(r"\d{12}")
    assert account is not None
    assert account.fullmatch("000000000000")
    assert account.fullmatch("\u0660" * 12) is None  # Java's \d is ASCII-only
