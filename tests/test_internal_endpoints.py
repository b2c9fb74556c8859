"""lambdabox's own endpoints (/_lambdabox/* but health) refuse execution environments; the AWS API does not.

The edge runs in-process on a real loopback socket, with `is_environment` injected: a client in this
test process is "an environment" when the predicate says its uid (ours) is one.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from conftest import make_zip
from lambdabox.admin.faults import faults_endpoint
from lambdabox.aws.arns import FunctionRef
from lambdabox.aws.context import RequestContext
from lambdabox.aws.protocol import ServiceProtocol
from lambdabox.clock import ManualClock
from lambdabox.edge import REFUSED_MESSAGE, AdminEndpoint, Edge, Service
from lambdabox.http_server import HttpServer
from lambdabox.lambda_.code import inspect_zip
from lambdabox.lambda_.code_url import CodeUrls
from lambdabox.lambda_.faults import FaultBook

ZIP = make_zip({"app.py": "def handler(e, c):\n    return 1\n"})


class FakeLambda:
    """The one Lambda operation these tests call."""

    async def ListFunctions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Functions": []}


def serve(
    tmp_path: Path,
    check: Callable[[str, str], Awaitable[None]],
    *,
    is_environment: Callable[[int], bool] | None = None,
    from_environment: bool = False,
    admin: dict[str, AdminEndpoint] | None = None,
) -> None:
    """Run an Edge on a loopback port and `await check(base_url, presigned_code_url)`."""
    code_dir = tmp_path / "code"
    code_dir.mkdir(exist_ok=True)
    info = inspect_zip(ZIP)
    (code_dir / f"{info.key}.zip").write_bytes(ZIP)
    urls = CodeUrls(b"k" * 32, ManualClock())
    kw: dict[str, Any] = {} if is_environment is None else {"is_environment": is_environment}
    if admin is not None:
        kw["admin"] = admin
    edge = Edge(
        [Service("lambda", ServiceProtocol("lambda"), FakeLambda())],
        region="us-east-1",
        account_id="000000000000",
        code_dir=code_dir,
        code_urls=urls,
        **kw,
    )

    async def main() -> None:
        handler = edge.handle_from_environment if from_environment else edge.handle
        http = HttpServer(handler, clock=ManualClock())
        sock = socket.create_server(("127.0.0.1", 0))
        sock.setblocking(False)
        await http.serve(sock)
        try:
            base = f"http://127.0.0.1:{sock.getsockname()[1]}"
            await check(base, urls.sign(base, info.key))
        finally:
            await http.close()

    asyncio.run(main())


async def get(url: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


def is_me(uid: int) -> bool:
    return uid == os.getuid()


async def _environment_sees(base: str, code_url: str) -> None:
    status, body, _ = await get(base + "/_lambdabox/health")
    assert status == 200 and json.loads(body)["status"] == "running"
    status, body, ctype = await get(code_url)
    assert status == 403 and ctype.startswith("application/json")
    assert json.loads(body) == {"message": REFUSED_MESSAGE}
    # any other internal path is refused before routing, even ones that do not exist
    assert (await get(base + "/_lambdabox/clock"))[0] == 403
    # the AWS API stays reachable from environments
    status, body, _ = await get(base + "/2015-03-31/functions/")
    assert status == 200 and json.loads(body) == {"Functions": []}


def test_environment_gets_health_but_not_code(tmp_path: Path) -> None:
    serve(tmp_path, _environment_sees, is_environment=is_me)


def test_listener_of_an_environment_refuses_without_lookup(tmp_path: Path) -> None:
    # the predicate would say "not an environment": handle_from_environment must not ask it
    serve(tmp_path, _environment_sees, is_environment=lambda uid: False, from_environment=True)


def test_other_clients_reach_internal_endpoints(tmp_path: Path) -> None:
    async def check(base: str, code_url: str) -> None:
        assert (await get(base + "/_lambdabox/health"))[0] == 200
        status, body, ctype = await get(code_url)
        assert (status, body, ctype) == (200, ZIP, "application/zip")
        assert (await get(base + "/_lambdabox/clock"))[0] == 404

    serve(tmp_path, check)  # the default predicate: nobody is an environment
    serve(tmp_path, check, is_environment=lambda uid: uid != os.getuid())


def test_an_environment_cannot_inject_faults(tmp_path: Path) -> None:
    book = FaultBook(ManualClock())
    endpoint = faults_endpoint(book, lambda fn: FunctionRef(fn, "us-east-1", "000000000000", None))
    fault = json.dumps({"function": "victim", "kind": "error"}).encode()

    async def post(url: str) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session, session.post(url, data=fault) as resp:
            return resp.status, await resp.json(content_type=None)

    async def refused(base: str, code_url: str) -> None:
        assert await post(base + "/_lambdabox/faults") == (403, {"message": REFUSED_MESSAGE})
        assert (await get(base + "/_lambdabox/faults"))[0] == 403

    async def served(base: str, code_url: str) -> None:
        status, body = await post(base + "/_lambdabox/faults")
        assert status == 201 and body["function"].endswith(":function:victim")

    serve(tmp_path, refused, is_environment=is_me, admin={"faults": endpoint})
    serve(tmp_path, refused, from_environment=True, admin={"faults": endpoint})
    assert book.faults() == []
    serve(tmp_path, served, admin={"faults": endpoint})  # anyone else may
    assert len(book.faults()) == 1
