"""SNS's HTTP/S deliveries on the wire: one POST to a subscriber's URL, loopback only.

lambdabox never sends traffic off the host: the URL's host is resolved (without blocking the
event loop) and every address it resolves to must be a loopback address, else `OffHost` says
why and nothing is sent; the connection then goes to the address that was checked (a second
resolution could answer otherwise). The exchange is bounded by `timeout` seconds on the clock or
in real time, whichever comes first (AWS gives an endpoint 15 s). The answer's status is
returned; the response is parsed by httptools.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import httptools

from lambdabox.clock import Clock, sleep_either

#: what AWS gives an HTTP/S endpoint to answer
TIMEOUT = 15.0
_MAX_RESPONSE = 1024 * 1024


class OffHost(Exception):
    """The URL is not one lambdabox may send to (not http/https, or not loopback): not retried."""


def _target(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, Host header, path and query) of an http/https URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OffHost(f"{url!r} is not an http or https URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OffHost(f"{url!r} has an invalid port") from None
    if parts.username is not None or parts.password is not None:
        raise OffHost(f"{url!r} carries credentials")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, parts.netloc, target


async def loopback_addresses(url: str, own_port: int | None = None) -> list[str]:
    """The addresses the URL's host resolves to, each a loopback address; else OffHost. On
    lambdabox's `own_port` its own endpoints (`/_lambdabox/…`) are refused: they trust the
    server's own connections, and SNS must not carry a caller's request to them."""
    _, host, port, _, target = _target(url)
    if port == own_port and "_lambdabox" in unquote(target).lower():
        raise OffHost(f"{url!r} is one of lambdabox's own endpoints")
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OffHost(f"{host} does not resolve ({exc})") from None
    addresses = [str(info[4][0]) for info in found]
    for address in addresses:
        if not ipaddress.ip_address(address.split("%", 1)[0]).is_loopback:
            raise OffHost(
                f"{host} resolves to {address}, not a loopback address: lambdabox sends nothing off the host"
            )
    if not addresses:
        raise OffHost(f"{host} does not resolve")
    return addresses


async def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    clock: Clock,
    timeout: float = TIMEOUT,
    own_port: int | None = None,
) -> int:
    """POST `body` with `headers` to a loopback `url`; the response's status. OffHost when the URL
    may not be reached; OSError or TimeoutError when the exchange fails."""
    for name, value in headers.items():
        if any(c in name + value for c in "\r\n\0"):
            raise OffHost(f"header {name!r} has a line break")
    scheme, host, port, netloc, target = _target(url)
    addresses = await loopback_addresses(url, own_port)
    exchange = asyncio.ensure_future(_exchange(scheme, host, addresses, port, netloc, target, body, headers))
    deadline = asyncio.ensure_future(sleep_either(clock, timeout))
    try:
        await asyncio.wait({exchange, deadline}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        deadline.cancel()
        if not exchange.done():
            exchange.cancel()
    if exchange.cancelled():
        raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
    return exchange.result()


async def _connect(
    addresses: list[str], port: int, context: ssl.SSLContext | None, host: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the first of the (checked) addresses that takes one."""
    failure: OSError | None = None
    for address in dict.fromkeys(addresses):
        try:
            return await asyncio.open_connection(
                address, port, ssl=context, server_hostname=host if context is not None else None
            )
        except OSError as exc:
            failure = exc
    assert failure is not None
    raise failure


class _Status:
    def __init__(self) -> None:
        self.done = False
        self.size = 0

    def on_message_complete(self) -> None:
        self.done = True

    def on_body(self, chunk: bytes) -> None:
        self.size += len(chunk)


async def _exchange(
    scheme: str, host: str, addresses: list[str], port: int, netloc: str, target: str, body: bytes,
    headers: Mapping[str, str],
) -> int:  # fmt: skip
    context = ssl.create_default_context() if scheme == "https" else None
    reader, writer = await _connect(addresses, port, context, host)
    try:
        lines = [
            f"POST {target} HTTP/1.1",
            f"Host: {netloc}",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        state = _Status()
        parser = httptools.HttpResponseParser(state)
        read = 0
        while not state.done:
            chunk = await reader.read(65536)
            if not chunk:
                break
            read += len(chunk)
            if read > _MAX_RESPONSE:
                break  # the status is known by now; the rest is not read
            try:
                parser.feed_data(chunk)
            except httptools.HttpParserUpgrade:
                break
            except httptools.HttpParserError as exc:
                raise ConnectionError(f"the endpoint's answer is not HTTP ({exc})") from None
        try:
            status = int(parser.get_status_code())
        except Exception:
            status = 0
        if not status:
            raise ConnectionError("the endpoint closed the connection without an HTTP answer")
        return status
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
