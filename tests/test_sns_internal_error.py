"""A bug inside SNS is answered as SNS's model says its 500 is: `InternalError` (not the
`ServiceException` of Lambda's and other services' models), with the request id in the message."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import aiohttp

from lambdabox.aws.context import RequestContext
from lambdabox.aws.protocol import ServiceProtocol
from lambdabox.clock import ManualClock
from lambdabox.edge import Edge, Service
from lambdabox.http_server import HttpServer
from lambdabox.lambda_.code_url import CodeUrls


class BrokenSns:
    async def ListTopics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug")


def test_a_bug_in_sns_is_internal_error(tmp_path: Path) -> None:
    edge = Edge(
        [Service("sns", ServiceProtocol("sns"), BrokenSns(), internal_error_code="InternalError")],
        region="us-east-1",
        account_id="000000000000",
        code_dir=tmp_path,
        code_urls=CodeUrls(b"k" * 32, ManualClock()),
    )

    async def main() -> tuple[int, str]:
        http = HttpServer(edge.handle, clock=ManualClock())
        sock = socket.create_server(("127.0.0.1", 0))
        sock.setblocking(False)
        await http.serve(sock)
        try:
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
                form = {"Action": "ListTopics", "Version": "2010-03-31"}
                async with session.post(url, data=form) as resp:
                    return resp.status, await resp.text()
        finally:
            await http.close()

    status, body = asyncio.run(main())
    assert status == 500
    assert "<Code>InternalError</Code>" in body and "<Type>Receiver</Type>" in body
    assert "An internal error occurred. Request id: " in body
