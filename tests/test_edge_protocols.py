"""The edge answers each request in the protocol it was written in, for a service whose model lists
several (CloudWatch: smithy-rpc-v2-cbor, json, query), errors included.

The edge runs in-process on a loopback socket with a small fake CloudWatch behind it (lambdabox does
not serve CloudWatch yet); requests are built and SigV4-signed by botocore, and the answers are read
by botocore's own parser for the request's protocol.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.model import ServiceModel

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.aws.protocol import ServiceProtocol, WireResponse
from lambdabox.clock import ManualClock
from lambdabox.edge import Edge, Service
from lambdabox.http_server import HttpServer
from lambdabox.lambda_.code_url import CodeUrls
from protocol_helpers import botocore_parse, botocore_request_object
from test_protocol_cbor import BAD_BODIES, CBOR_HEADERS
from test_protocol_cbor import PATH as CBOR_PATH

PROTOCOLS = ["smithy-rpc-v2-cbor", "json", "query"]
#: what a response in each protocol says it is
CONTENT_TYPES = {
    "smithy-rpc-v2-cbor": "application/cbor",
    "json": "application/x-amz-json-1.0",
    "query": "text/xml",
}
METRIC = {"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Stage", "Value": "β"}]}


class FakeCloudWatch:
    """The few CloudWatch operations these tests call; the rest are not implemented."""

    async def ListMetrics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Metrics": [{**METRIC, "Namespace": params.get("Namespace", "App")}]}

    async def GetDashboard(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise client_error("ResourceNotFound", f"Dashboard {params['DashboardName']} does not exist")

    async def DescribeAlarms(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug")

    async def PutMetricAlarm(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("an invalid request reached the service")


class Client:
    """Sends botocore-built, SigV4-signed requests to the edge under test."""

    def __init__(self, session: aiohttp.ClientSession, base: str, model: ServiceModel) -> None:
        self.base = base
        self._session = session
        self._model = model
        self._signer = botocore.auth.SigV4Auth(
            botocore.credentials.Credentials("test", "test"), "monitoring", "us-east-1"
        )

    async def call(self, protocol: str, operation: str, params: dict[str, Any]) -> WireResponse:
        """botocore's request for `operation(**params)` in `protocol`, and the edge's answer."""
        return await self.send(botocore_request_object(self._model, operation, params, protocol, self.base))

    async def send(self, request: botocore.awsrequest.AWSRequest) -> WireResponse:
        self._signer.add_auth(request)
        prepared = request.prepare()
        async with self._session.request(
            prepared.method, prepared.url, headers=dict(prepared.headers), data=prepared.body
        ) as resp:
            return WireResponse(resp.status, dict(resp.headers), await resp.read())


def serve(tmp_path: Path, check: Callable[[Client], Awaitable[None]], model: ServiceModel) -> None:
    """Run an Edge serving the fake CloudWatch on a loopback port and `await check(client)`."""
    edge = Edge(
        [Service("cloudwatch", ServiceProtocol("cloudwatch"), FakeCloudWatch())],
        region="us-east-1",
        account_id="000000000000",
        code_dir=tmp_path,
        code_urls=CodeUrls(b"k" * 32, ManualClock()),
    )

    async def main() -> None:
        http = HttpServer(edge.handle, clock=ManualClock())
        sock = socket.create_server(("127.0.0.1", 0))
        sock.setblocking(False)
        await http.serve(sock)
        try:
            async with aiohttp.ClientSession() as session:
                await check(Client(session, f"http://127.0.0.1:{sock.getsockname()[1]}", model))
        finally:
            await http.close()

    asyncio.run(main())


@pytest.fixture(scope="module", name="model")
def model_fixture() -> ServiceModel:
    return ServiceProtocol("cloudwatch").model


def content_type(resp: WireResponse) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_answers_are_in_the_requests_protocol(tmp_path: Path, model: ServiceModel, protocol: str) -> None:
    async def check(client: Client) -> None:
        resp = await client.call(protocol, "ListMetrics", {"Namespace": "App"})
        assert resp.status == 200, resp.body
        assert content_type(resp) == CONTENT_TYPES[protocol]
        assert ("smithy-protocol" in resp.headers) == (protocol == "smithy-rpc-v2-cbor")
        parsed = botocore_parse(model, "ListMetrics", resp, protocol)
        assert parsed["Metrics"] == [METRIC]
        assert parsed["ResponseMetadata"]["RequestId"]

    serve(tmp_path, check, model)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_errors_are_in_the_requests_protocol(tmp_path: Path, model: ServiceModel, protocol: str) -> None:
    async def check(client: Client) -> None:
        cases = [
            # (operation, params, status, code botocore reports, message or None)
            ("GetDashboard", {"DashboardName": "d"}, 404, "ResourceNotFound", "Dashboard d does not exist"),
            ("PutMetricAlarm", {"AlarmName": ""}, 400, "ValidationError", None),  # refused by the model
            ("DescribeAlarms", {}, 500, "ServiceException", None),  # a bug in the service
            ("DeleteAlarms", {"AlarmNames": ["a"]}, 501, None, None),  # not implemented
        ]
        for operation, params, status, code, message in cases:
            resp = await client.call(protocol, operation, params)
            assert resp.status == status, (operation, resp.body)
            assert content_type(resp) == CONTENT_TYPES[protocol], operation
            error = botocore_parse(model, operation, resp, protocol)["Error"]
            if code is not None:
                assert error["Code"] == code, operation
            assert error["Message"], operation
            if message is not None:
                assert error["Message"] == message
            if protocol != "query":  # CloudWatch is awsQueryCompatible: the query code rides along
                assert resp.headers["x-amzn-query-error"].split(";")[0] == error["Code"]

    serve(tmp_path, check, model)


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_malformed_cbor_is_a_serialization_exception_and_no_bug(
    tmp_path: Path, model: ServiceModel, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async def check(client: Client) -> None:
        request = botocore.awsrequest.AWSRequest(
            "POST", client.base + CBOR_PATH + "ListMetrics", headers=CBOR_HEADERS, data=body
        )
        resp = await client.send(request)
        assert (resp.status, content_type(resp)) == (400, "application/cbor")
        assert resp.headers["x-amzn-query-error"] == "SerializationException;Sender"
        error = botocore_parse(model, "ListMetrics", resp, "smithy-rpc-v2-cbor")["Error"]
        assert error["Code"] == "SerializationException" and error["Message"]
        # and the edge keeps serving
        assert (await client.call("smithy-rpc-v2-cbor", "ListMetrics", {})).status == 200

    with caplog.at_level(logging.WARNING, logger="lambdabox"):
        serve(tmp_path, check, model)
    assert [r for r in caplog.records if r.name.startswith("lambdabox")] == []


def test_unknown_operations_are_answered_in_the_requests_protocol(
    tmp_path: Path, model: ServiceModel
) -> None:
    async def check(client: Client) -> None:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        query = botocore.awsrequest.AWSRequest(
            "POST", client.base + "/", headers=form, data=b"Action=NoSuchThing&Version=2010-08-01"
        )
        resp = await client.send(query)
        assert (resp.status, content_type(resp)) == (400, "text/xml")
        error = botocore_parse(model, "ListMetrics", resp, "query")["Error"]
        assert (error["Code"], error["Message"]) == (
            "InvalidAction",
            "Could not find operation NoSuchThing for version 2010-08-01",
        )
        cbor = botocore.awsrequest.AWSRequest(
            "POST", client.base + CBOR_PATH + "NoSuchThing", headers=CBOR_HEADERS, data=b"\xa0"
        )
        resp = await client.send(cbor)
        assert (resp.status, resp.headers["smithy-protocol"]) == (400, "rpc-v2-cbor")
        error = botocore_parse(model, "ListMetrics", resp, "smithy-rpc-v2-cbor")["Error"]
        assert error["Code"] == "UnknownOperationException"

    serve(tmp_path, check, model)


def test_services_not_served_answer_501_in_their_own_protocol(tmp_path: Path) -> None:
    """A client of a service lambdabox does not serve yet reads a real error, not a bare 404."""
    from botocore.exceptions import ClientError

    from lambdabox.testing import LocalLambdabox

    with LocalLambdabox(tmp_path) as lbx:
        cases = {
            "kinesis": lambda c: c.list_streams(),  # json (CloudWatch, once here, is served now)
            "secretsmanager": lambda c: c.list_secrets(),  # json (SQS, once here, is served now)
            "dynamodb": lambda c: c.list_tables(),
            "cloudformation": lambda c: c.list_stacks(),  # query (SNS, once here, is served now)
        }
        for service, call in cases.items():
            with pytest.raises(ClientError) as exc:
                call(lbx.client(service))
            err = exc.value.response
            assert err["ResponseMetadata"]["HTTPStatusCode"] == 501, service
            assert err["Error"]["Code"] in ("UnknownOperationException", "InvalidAction"), service
            assert err["Error"]["Message"].startswith(f"lambdabox does not serve {service} "), err
        assert "Functions" in lbx.client("lambda").list_functions()
