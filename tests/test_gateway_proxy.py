"""HTTP API Lambda proxy payloads (formats 1.0 and 2.0), checked against events shaped as AWS shows
them (tests/events/apigw-http-*.json) and every response rule of
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html.

The fixtures follow AWS's examples, made consistent where the page's own are not: the 2.0 example's
``time`` and ``timeEpoch`` name different days, and its body is text with no Content-Type; the 1.0
``queryStringParameters`` hold the last of repeated values, as HTTP APIs send them (the page shows the
first for query strings and the last for headers)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdabox.gateway.proxy import (
    GatewayRequest,
    GatewayResponse,
    error_response,
    event_v1,
    event_v2,
    response_v1,
    response_v2,
)

EVENTS = Path(__file__).parent / "events"
INTERNAL = GatewayResponse(
    500, [("Content-Type", "application/json")], b'{"message":"Internal Server Error"}'
)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]


def request(**changes: Any) -> GatewayRequest:
    base = GatewayRequest(
        method="POST",
        raw_path="/my/path",
        path="/my/path",
        raw_query="parameter1=value1&parameter1=value2&parameter2=value",
        headers=[
            ("Content-Type", "text/plain"),
            ("Header1", "value1"),
            ("Header2", "value1"),
            ("Cookie", "cookie1; cookie2"),
            ("header2", "value2"),
            ("User-Agent", "agent"),
        ],
        body=b"Hello from Lambda",
        source_ip="192.0.2.1",
        api_id="api-id",
        account_id="123456789012",
        stage="$default",
        domain_name="id.execute-api.us-east-1.amazonaws.com",
        request_id="id",
        time_epoch_ms=1583348638390,
        route_key="POST /my/{parameter1}",
        path_parameters={"parameter1": "path"},
        stage_variables={"stageVariable1": "value1", "stageVariable2": "value2"},
    )
    return replace(base, **changes)


# --- events ---------------------------------------------------------------------------------------


def test_v2_event_is_the_aws_shape() -> None:
    assert event_v2(request()) == fixture("apigw-http-v2-post.json")


def test_v2_event_of_a_named_stage_greedy_route_and_binary_body() -> None:
    req = request(
        method="PUT",
        raw_path="/agents/1234/photo",
        path="/agents/1234/photo",
        raw_query="",
        headers=[
            ("Host", "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"),
            ("User-Agent", "curl/8.2.1"),
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "4"),
        ],
        body=b"\x89PNG",
        source_ip="198.51.100.7",
        api_id="a1b2c3d4e5",
        stage="dev",
        domain_name="a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        request_id="JKJaXmPLvHcESHA=",
        time_epoch_ms=1630923330123,
        route_key="ANY /agents/{proxy+}",
        path_parameters={"proxy": "1234/photo"},
        stage_variables={},
    )
    event = event_v2(req)
    expected = fixture("apigw-http-v2-binary.json")
    assert event == expected
    assert list(event["headers"]) == ["host", "user-agent", "content-type", "content-length"]


def test_v1_event_is_the_aws_shape() -> None:
    req = request(
        method="GET",
        headers=[
            ("Content-Type", "text/plain"),
            ("Header1", "value1"),
            ("Header2", "value1"),
            ("Header2", "value2"),
            ("User-Agent", "user-agent"),
        ],
        body=b"Hello from Lambda!",
        api_id="id",
        request_id="id=",
        time_epoch_ms=1583349317135,
        route_key="$default",
        path_parameters={},
        stage_variables={},
    )
    assert event_v1(req) == fixture("apigw-http-v1.json")


def test_v2_omits_what_is_empty_and_v1_sends_null() -> None:
    req = request(
        method="GET",
        raw_query="",
        headers=[],
        body=b"",
        route_key="$default",
        path_parameters={},
        stage_variables={},
    )
    v2 = event_v2(req)
    for key in ("cookies", "queryStringParameters", "pathParameters", "stageVariables", "body"):
        assert key not in v2
    assert v2["headers"] == {} and v2["rawQueryString"] == "" and v2["isBase64Encoded"] is False
    assert v2["requestContext"]["http"]["userAgent"] == ""
    v1 = event_v1(req)
    for key in (
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
    ):
        assert v1[key] is None
    assert v1["isBase64Encoded"] is False


def test_v2_cookies_from_every_cookie_header_and_not_in_headers() -> None:
    req = request(headers=[("Cookie", "a=1; b=2;"), ("X", "y"), ("cookie", "c=3;d=4"), ("COOKIE", " ; ")])
    event = event_v2(req)
    assert event["cookies"] == ["a=1", "b=2", "c=3", "d=4"]
    assert event["headers"] == {"x": "y"}


def test_v1_keeps_the_cookie_header() -> None:
    event = event_v1(request(headers=[("Cookie", "a=1; b=2"), ("Cookie", "c=3")]))
    assert event["headers"]["cookie"] == "c=3"
    assert event["multiValueHeaders"]["cookie"] == ["a=1; b=2", "c=3"]


def test_duplicate_headers_of_any_case_join_in_order() -> None:
    headers = [("X-Multi", "1"), ("x-multi", ""), ("X-MULTI", "3,4")]
    assert event_v2(request(headers=headers))["headers"] == {"x-multi": "1,,3,4"}
    v1 = event_v1(request(headers=headers))
    assert v1["headers"] == {"x-multi": "3,4"}
    assert v1["multiValueHeaders"] == {"x-multi": ["1", "", "3,4"]}


def test_query_parameters_decoded_duplicates_joined() -> None:
    raw = "multi=1&multi&multi=2&enco%2Fded=qu%2Fery&plus=a+b&&empty="
    v2 = event_v2(request(raw_query=raw))
    assert v2["rawQueryString"] == raw
    assert v2["queryStringParameters"] == {"multi": "1,,2", "enco/ded": "qu/ery", "plus": "a+b", "empty": ""}
    v1 = event_v1(request(raw_query=raw))
    assert v1["queryStringParameters"] == {"multi": "2", "enco/ded": "qu/ery", "plus": "a+b", "empty": ""}
    assert v1["multiValueQueryStringParameters"]["multi"] == ["1", "", "2"]


def test_paths_are_decoded_and_carry_a_named_stage() -> None:
    req = request(raw_path="/a%20b/%C3%A9", path="/a b/é", stage="prod", route_key="ANY /{proxy+}")
    v2 = event_v2(req)
    assert v2["rawPath"] == v2["requestContext"]["http"]["path"] == "/prod/a b/é"
    v1 = event_v1(req)
    assert v1["path"] == v1["requestContext"]["path"] == "/prod/a b/é"
    assert v1["resource"] == v1["requestContext"]["resourcePath"] == "/{proxy+}"
    assert v1["requestContext"]["stage"] == "prod"


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain", True),
        ("text/html; charset=utf-8", True),
        ("TEXT/CSV", True),
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("application/xml", True),
        ("application/javascript", True),
        (None, False),
        ("application/x-www-form-urlencoded", False),
        ("application/octet-stream", False),
        ("image/png", False),
        ("multipart/form-data; boundary=x", False),
    ],
)
def test_which_bodies_are_base64(content_type: str | None, text: bool) -> None:
    headers = [] if content_type is None else [("Content-Type", content_type)]
    for event in (
        event_v2(request(headers=headers, body=b"a=1")),
        event_v1(request(headers=headers, body=b"a=1")),
    ):
        assert event["isBase64Encoded"] is (not text)
        assert event["body"] == ("a=1" if text else "YT0x")


def test_text_type_body_that_is_not_utf8_goes_as_base64() -> None:
    event = event_v2(request(headers=[("Content-Type", "text/plain")], body=b"\xff\xfe"))
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\xfe"


@given(st.binary(min_size=1))
def test_binary_bodies_survive(body: bytes) -> None:
    event = event_v2(request(headers=[("Content-Type", "application/octet-stream")], body=body))
    assert base64.b64decode(event["body"]) == body


def test_request_time_is_in_english_and_utc() -> None:
    event = event_v2(request(time_epoch_ms=1704067199999))
    assert event["requestContext"]["time"] == "31/Dec/2023:23:59:59 +0000"
    assert event_v1(request(time_epoch_ms=0))["requestContext"]["requestTime"] == "01/Jan/1970:00:00:00 +0000"


# --- responses ------------------------------------------------------------------------------------


def payload(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_v2_full_response() -> None:
    result = {
        "statusCode": 201,
        "headers": {"Content-Type": "text/html", "X-Num": 3, "X-Flag": True},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": "<p>hi</p>",
    }
    assert response_v2(payload(result)) == GatewayResponse(
        201,
        [
            ("Content-Type", "text/html"),
            ("X-Num", "3"),
            ("X-Flag", "true"),
            ("Set-Cookie", "a=1; Path=/"),
            ("Set-Cookie", "b=2"),
        ],
        b"<p>hi</p>",
    )


def test_v2_base64_body() -> None:
    result = {
        "statusCode": 200,
        "headers": {"content-type": "image/png"},
        "body": "iVBORw==",
        "isBase64Encoded": True,
    }
    assert response_v2(payload(result)).body == b"\x89PNG"


def test_v2_status_only_gets_an_empty_text_body() -> None:
    assert response_v2(payload({"statusCode": 204})) == GatewayResponse(
        204, [("Content-Type", "text/plain; charset=utf-8")], b""
    )


@pytest.mark.parametrize(
    "value",
    ["Hello from Lambda!", {"message": "Hello from Lambda!"}, [1, 2], 42, None, True, {"statuscode": 200}],
)
def test_v2_infers_a_response_for_json_without_status_code(value: Any) -> None:
    raw = payload(value)
    assert response_v2(raw) == GatewayResponse(200, [("Content-Type", "application/json")], raw)


def test_v2_string_result_keeps_its_json_text() -> None:
    assert response_v2(b'"Hello from Lambda!"').body == b'"Hello from Lambda!"'


def test_v2_not_json_is_sent_as_is() -> None:
    assert response_v2(b"not json {") == GatewayResponse(
        200, [("Content-Type", "application/json")], b"not json {"
    )


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "200"},
        {"statusCode": 200.5},
        {"statusCode": True},
        {"statusCode": None},
        {"statusCode": 99},
        {"statusCode": 600},
        {"statusCode": 200, "headers": ["a"]},
        {"statusCode": 200, "headers": {"a": ["b"]}},
        {"statusCode": 200, "headers": {"a": None}},
        {"statusCode": 200, "headers": {"a": {"b": 1}}},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "cookies": [1]},
        {"statusCode": 200, "body": {"a": 1}},
        {"statusCode": 200, "body": 5},
        {"statusCode": 200, "isBase64Encoded": "true", "body": ""},
        {"statusCode": 200, "isBase64Encoded": True, "body": "not base64!"},
        {"statusCode": 200, "isBase64Encoded": True, "body": "abc"},
    ],
)
def test_v2_malformed_is_internal_server_error(result: dict[str, Any]) -> None:
    assert response_v2(payload(result)) == INTERNAL


def test_v1_full_response_merges_headers() -> None:
    result = {
        "statusCode": 302,
        "headers": {"Location": "/next", "Set-Cookie": "a=1", "X-Same": "v"},
        "multiValueHeaders": {"set-cookie": ["b=2", "c=3"], "X-Same": ["v"]},
        "body": "",
        "isBase64Encoded": False,
    }
    assert response_v1(payload(result)) == GatewayResponse(
        302,
        [
            ("set-cookie", "b=2"),
            ("set-cookie", "c=3"),
            ("X-Same", "v"),
            ("Location", "/next"),
            ("Set-Cookie", "a=1"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ],
        b"",
    )


def test_v1_body_and_base64() -> None:
    assert response_v1(payload({"statusCode": 200, "body": "héllo"})).body == "héllo".encode()
    assert response_v1(payload({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True})).body == b"hi"
    assert response_v1(payload({"statusCode": 200, "body": None})).body == b""


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'"Hello"',
        b"{}",
        b'{"body": "x"}',
        payload({"statusCode": "200"}),
        payload({"statusCode": 200, "multiValueHeaders": {"a": "b"}}),
        payload({"statusCode": 200, "multiValueHeaders": {"a": [None]}}),
        payload({"statusCode": 200, "headers": {"a": []}}),
        payload({"statusCode": 200, "body": ["x"]}),
        payload({"statusCode": 200, "isBase64Encoded": True, "body": "%%%"}),
    ],
)
def test_v1_malformed_is_internal_server_error(raw: bytes) -> None:
    assert response_v1(raw) == INTERNAL


@pytest.mark.parametrize("respond", [response_v1, response_v2])
def test_a_function_cannot_inject_or_reframe(respond: Any) -> None:
    result = {
        "statusCode": 200,
        "headers": {
            "X-Ok": "fine\tvalue",
            "X-Split": "a\r\nX-Injected: 1",
            "X-Lf": "a\nb",
            "X-Nul": "a\x00b",
            "Bad Name": "v",
            "Bad:Name": "v",
            "": "v",
            "Content-Length": "999",
            "Transfer-Encoding": "chunked",
            "Connection": "close",
            "Keep-Alive": "timeout=5",
            "Upgrade": "h2c",
            "Content-Type": "text/plain",
        },
        "body": "x",
    }
    assert respond(payload(result)).headers == [("X-Ok", "fine\tvalue"), ("Content-Type", "text/plain")]


def test_deeply_nested_payloads_are_not_json() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert response_v2(deep) == GatewayResponse(200, [("Content-Type", "application/json")], deep)
    assert response_v1(deep) == INTERNAL


def test_lone_surrogates_never_reach_the_wire() -> None:
    response = response_v2(
        b'{"statusCode": 200, "headers": {"X-A": "\\ud800", "X-B": "ok"}, "body": "\\udfff"}'
    )
    assert response.headers[0] == ("X-B", "ok") and response.body == b"?"


def test_v2_cookie_cannot_inject() -> None:
    response = response_v2(payload({"statusCode": 200, "cookies": ["a=1\r\nX-Evil: 1", "b=2"]}))
    assert ("Set-Cookie", "b=2") in response.headers
    assert all("X-Evil" not in v for _, v in response.headers)


def test_error_response() -> None:
    assert error_response(404, "Not Found") == GatewayResponse(
        404, [("Content-Type", "application/json")], b'{"message":"Not Found"}'
    )
    assert error_response(500, "Internal Server Error") == INTERNAL


@given(st.dictionaries(st.text(), st.text()), st.integers(200, 599), st.text())
def test_v2_never_raises_and_never_passes_a_bad_header(
    headers: dict[str, str], status: int, body: str
) -> None:
    response = response_v2(payload({"statusCode": status, "headers": headers, "body": body}))
    assert response.status == status
    for name, value in response.headers:
        assert name and "\r" not in value and "\n" not in value and ":" not in name


@given(st.binary())
def test_responses_never_raise_on_any_payload(raw: bytes) -> None:
    assert isinstance(response_v1(raw), GatewayResponse)
    assert isinstance(response_v2(raw), GatewayResponse)


@pytest.mark.parametrize("status", [100, 101, 103, 199, 600, 0])
def test_interim_and_unknown_statuses_are_malformed(status: int) -> None:
    """A 1xx is no answer: the body after it would read as a response of its own."""
    assert response_v2(payload({"statusCode": status, "body": "x"})) == INTERNAL
    assert response_v1(payload({"statusCode": status, "body": "x"})) == INTERNAL
