"""The edge answers each request in the protocol it was written in, for a service whose model lists
several (CloudWatch: smithy-rpc-v2-cbor, json, query), errors included.

The edge runs in-process on a loopback socket with a small fake CloudWatch behind it (lambdabox does
not serve CloudWatch yet); requests are built and SigV4-signed by botocore, and the answers are read
by botocore's own parser for the request's protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from aiohttp import web
from botocore.model import ServiceModel

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import client_error
from lambdabox.aws.protocol import ServiceProtocol, WireResponse
from lambdabox.clock import ManualClock
from lambdabox.edge import Edge, Service
from lambdabox.lambda_.code_url import CodeUrls
from protocol_helpers import botocore_parse, botocore_request_object

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


Check = Callable[[Callable[[str, str, dict[str, Any]], Awaitable[WireResponse]]], Awaitable[None]]


def serve(tmp_path: Path, check: Check, model: ServiceModel) -> None:
    """Run an Edge serving the fake CloudWatch and `await check(call)`, where
    `call(protocol, operation, params)` sends botocore's signed request and returns the answer."""
    edge = Edge(
        [Service("cloudwatch", ServiceProtocol("cloudwatch"), FakeCloudWatch())],
        region="us-east-1",
        account_id="000000000000",
        code_dir=tmp_path,
        code_urls=CodeUrls(b"k" * 32, ManualClock()),
    )
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials("test", "test"), "monitoring", "us-east-1"
    )

    async def main() -> None:
        runner = web.ServerRunner(web.Server(edge.handle, access_log=None))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            async with aiohttp.ClientSession() as session:

                async def call(protocol: str, operation: str, params: dict[str, Any]) -> WireResponse:
                    request = botocore_request_object(model, operation, params, protocol, base)
                    signer.add_auth(request)
                    prepared = request.prepare()
                    async with session.request(
                        prepared.method, prepared.url, headers=dict(prepared.headers), data=prepared.body
                    ) as resp:
                        return WireResponse(resp.status, dict(resp.headers), await resp.read())

                await check(call)
        finally:
            await runner.cleanup()

    asyncio.run(main())


@pytest.fixture(scope="module", name="model")
def model_fixture() -> ServiceModel:
    return ServiceProtocol("cloudwatch").model


def content_type(resp: WireResponse) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_answers_are_in_the_requests_protocol(tmp_path: Path, model: ServiceModel, protocol: str) -> None:
    async def check(call: Callable[[str, str, dict[str, Any]], Awaitable[WireResponse]]) -> None:
        resp = await call(protocol, "ListMetrics", {"Namespace": "App"})
        assert resp.status == 200, resp.body
        assert content_type(resp) == CONTENT_TYPES[protocol]
        assert ("smithy-protocol" in resp.headers) == (protocol == "smithy-rpc-v2-cbor")
        parsed = botocore_parse(model, "ListMetrics", resp, protocol)
        assert parsed["Metrics"] == [METRIC]
        assert parsed["ResponseMetadata"]["RequestId"]

    serve(tmp_path, check, model)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_errors_are_in_the_requests_protocol(tmp_path: Path, model: ServiceModel, protocol: str) -> None:
    async def check(call: Callable[[str, str, dict[str, Any]], Awaitable[WireResponse]]) -> None:
        cases = [
            # (operation, params, status, code botocore reports, message or None)
            ("GetDashboard", {"DashboardName": "d"}, 404, "ResourceNotFound", "Dashboard d does not exist"),
            ("PutMetricAlarm", {"AlarmName": ""}, 400, "ValidationError", None),  # refused by the model
            ("DescribeAlarms", {}, 500, "ServiceException", None),  # a bug in the service
            ("DeleteAlarms", {"AlarmNames": ["a"]}, 501, None, None),  # not implemented
        ]
        for operation, params, status, code, message in cases:
            resp = await call(protocol, operation, params)
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
