"""What a test holds of a lambdabox server, wherever it runs: its URL, boto3 clients for it, and
lambdabox's own endpoints (the clock, faults) called over HTTP.

`Lambdabox` is the interface both `LocalLambdabox` (in this process) and `LambdaboxProcess` (a
`lambdabox serve` subprocess) offer; `Handle` implements it over HTTP for a server at a URL, and
each of them refines what it can do better in place.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

#: how long a settle waits by default for background work (real seconds)
SETTLE_TIMEOUT = 30.0
#: no proxy for loopback, whatever HTTP_PROXY says
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AdminError(Exception):
    """One of lambdabox's own endpoints refused a request: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Lambdabox(Protocol):
    """A lambdabox server a test talks to."""

    @property
    def url(self) -> str: ...
    def client(self, service: str, **kw: Any) -> Any: ...
    def now(self) -> float: ...
    def advance(self, duration: float | str) -> float: ...
    def set(self, epoch: float) -> float: ...
    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None: ...
    def inject_fault(self, **fault: Any) -> str: ...
    def clear_faults(self, fault_id: str | None = None) -> None: ...


def boto3_client(
    url: str, service: str, region: str, *, key: str, secret: str, token: str | None, **config: Any
) -> Any:
    """A boto3 client for the server at `url`, without retries (boto3 is lambdabox's test extra)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 0}, **config),
    )


def signed_headers(
    method: str, url: str, data: bytes | None, headers: dict[str, str], key: tuple[str, str], region: str
) -> dict[str, str]:
    """`headers` with a SigV4 signature of the request by the key `(id, secret)` added (what a
    server with `--verify-signatures` wants of its admin endpoints)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
    SigV4Auth(Credentials(*key), "lambdabox", region).add_auth(req)
    return {name: str(value) for name, value in req.headers.items()}


def admin_call(
    url: str,
    method: str,
    path: str,
    body: object = None,
    *,
    timeout: float = 60,
    key: tuple[str, str] | None = None,
    region: str = "us-east-1",
) -> Any:
    """Call `/_lambdabox/<path>` of the server at `url`: its JSON answer, or AdminError. `key`:
    the root key `(id, secret)` to sign it with (None: unsigned)."""
    data = None if body is None else json.dumps(body).encode()
    target = f"{url}/_lambdabox/{path}"
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if key is not None:
        headers = signed_headers(method, target, data, headers, key, region)
    request = urllib.request.Request(target, data=data, method=method, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            message = str(json.loads(text)["message"])
        except (ValueError, KeyError, TypeError):
            message = text or str(exc.reason)
        raise AdminError(exc.code, message) from None
    return json.loads(raw) if raw else None


def camel_case(name: str) -> str:
    """`error_type` -> `errorType` (names already in camel case stay as they are)."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


class Handle:
    """`Lambdabox` over HTTP, for the server at `self.url` (set by the subclass)."""

    region = "us-east-1"
    #: the root key `(id, secret)` of the server's account its admin endpoints are called with
    #: (signed, as a server with `--verify-signatures` wants them; None: unsigned)
    admin_key: tuple[str, str] | None = ("test", "test")

    @property
    def url(self) -> str:
        raise NotImplementedError

    def admin(self, method: str, path: str, body: object = None, *, timeout: float = 60) -> Any:
        """Call `/_lambdabox/<path>` (signed with `admin_key`): its JSON answer, or AdminError."""
        return admin_call(
            self.url, method, path, body, timeout=timeout, key=self.admin_key, region=self.region
        )

    def client(
        self,
        service: str,
        *,
        key: str = "test",
        secret: str = "test",
        token: str | None = None,
        **config: Any,
    ) -> Any:
        """A boto3 client for this server, no retries; `config`: further botocore Config options
        (read_timeout=…, signature_version=UNSIGNED)."""
        return boto3_client(self.url, service, self.region, key=key, secret=secret, token=token, **config)

    def now(self) -> float:
        """The server's clock (epoch seconds)."""
        return float(self.admin("GET", "clock")["now"])

    def advance(self, duration: float | str) -> float:
        """Move the server's manual clock forward by seconds or an ISO 8601 duration ("PT2M");
        what became due is fired before this returns (see `settle` to wait for it to finish).
        The clock's new time."""
        return float(self.admin("POST", "clock", {"advance": duration})["now"])

    def set(self, epoch: float) -> float:
        """Move the server's manual clock forward to `epoch` (never back), firing what became due."""
        return float(self.admin("POST", "clock", {"set": epoch})["now"])

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until no asynchronous invocation attempt or destination delivery is due or
        running (TimeoutError after `timeout` real seconds)."""
        got = self.admin("POST", "clock/settle", {"timeout": timeout}, timeout=timeout + 30)
        if got["busy"]:
            raise TimeoutError(f"{got['busy']} background items still busy after {timeout} s")

    def inject_fault(self, **fault: Any) -> str:
        """Add a fault (POST /_lambdabox/faults): function=<name or ARN>, kind="error" | "timeout"
        | "latency" | "throttle", and error_type, error_message, latency_ms, probability, count,
        duration_seconds (or their camelCase names). The fault's id."""
        body = {camel_case(name): value for name, value in fault.items()}
        return str(self.admin("POST", "faults", body)["id"])

    def clear_faults(self, fault_id: str | None = None) -> None:
        """Remove one fault (by id) or all of them."""
        self.admin(
            "DELETE",
            "faults" if fault_id is None else f"faults/{urllib.parse.quote(fault_id, safe='')}",
        )
