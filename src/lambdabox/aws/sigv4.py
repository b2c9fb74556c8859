"""Who is calling: a request's SigV4 parsed once, at the edge, into a `Caller`.

A request is signed in one of two forms, both read here:

    Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request,
                   SignedHeaders=host;x-amz-date, Signature=<64 hex>
    ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F...&X-Amz-Signature=...   (presigned)

plus `X-Amz-Security-Token` (header or query) for temporary credentials. Only the claim is
read: nothing is verified here. A request without a signature, or whose `Authorization`
header is not a SigV4 header we can read (garbage, SigV2, a missing `Credential`), is
*unsigned*: `Caller.signed` is False and `access_key_id` None. Such a header never fails the
request at this step; `problem` says what was wrong, so that verification (the later, opt-in
step) can answer it as AWS does, with `IncompleteSignatureException`.

The seam for verification: `Caller.signature` holds what a verifier needs besides the request
and the key's secret (from STS's sessions or IAM's access keys); it will rebuild the canonical
request with botocore's `SigV4Auth` and answer `SignatureDoesNotMatch`,
`IncompleteSignatureException` (from `problem`) or `InvalidClientTokenId`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

ALGORITHM = "AWS4-HMAC-SHA256"

_SCOPE = re.compile(
    r"(?P<key>[A-Za-z0-9+/=_.-]{1,128})/(?P<date>\d{8})/(?P<region>[a-z0-9-]{1,64})"
    r"/(?P<service>[a-z0-9-]{1,64})/aws4_request"
)
_HEADER_PARAM = re.compile(r"\s*(?P<name>[A-Za-z]+)\s*=\s*(?P<value>[^,\s]*)\s*")
_ONE_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)
#: the longest Authorization header or token read (AWS's session tokens are a few KiB)
_MAX_HEADER = 16_384


@dataclass(frozen=True, slots=True)
class Signature:
    """The signature a request claims, kept for verification (which needs the key's secret)."""

    date: str  #: the scope's date, YYYYMMDD
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool


@dataclass(frozen=True, slots=True)
class Caller:
    """The credentials a request is signed with (claimed, not verified) and the scope it names."""

    access_key_id: str | None
    region: str | None
    service: str | None
    session_token: str | None
    signed: bool
    #: what verification checks; None when unsigned
    signature: Signature | None = None
    #: why a present Authorization header was not read as SigV4 (None: absent or fine)
    problem: str | None = None

    @property
    def temporary(self) -> bool:
        """Whether the key is a temporary (STS-issued) one: AWS's `ASIA` prefix."""
        return self.access_key_id is not None and self.access_key_id.startswith("ASIA")


UNSIGNED = Caller(None, None, None, None, False)


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _unsigned(token: str | None, problem: str | None) -> Caller:
    if token is None and problem is None:
        return UNSIGNED
    return Caller(None, None, None, token, False, problem=problem)


def parse_caller(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> Caller:
    """The caller of a request from its headers (case-insensitive lookups) and split query string."""
    token = headers.get("X-Amz-Security-Token") or _first(query, "X-Amz-Security-Token")
    if token is not None and len(token) > _MAX_HEADER:
        token = None
    auth = headers.get("Authorization")
    if auth is not None:
        getall = getattr(headers, "getall", None)
        if getall is not None and len(getall("Authorization")) > 1:
            return _unsigned(token, "Only one Authorization header may be given")
        if any(name in query for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")):
            return _unsigned(token, _ONE_MECHANISM)
        return _from_header(auth, token)
    if _first(query, "X-Amz-Algorithm") == ALGORITHM or "X-Amz-Credential" in query:
        return _from_query(query, token)
    return _unsigned(token, None)


def _from_header(auth: str, token: str | None) -> Caller:
    if len(auth) > _MAX_HEADER:
        return _unsigned(token, "The Authorization header is too long")
    algorithm, _, rest = auth.strip().partition(" ")
    if algorithm != ALGORITHM:
        return _unsigned(token, f"Unsupported Authorization Type: {algorithm[:40]}")
    params: dict[str, str] = {}
    for part in rest.split(","):
        m = _HEADER_PARAM.fullmatch(part)
        if m is None:
            return _unsigned(token, f"Authorization header has an unreadable part: {part.strip()[:60]}")
        if m["name"] in params:
            return _unsigned(token, f"Authorization header has '{m['name']}' twice")
        params[m["name"]] = m["value"]
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in params:
            return _unsigned(
                token,
                f"Authorization header requires '{required}' parameter. Authorization={auth[:200]}",
            )
    return _signed(params["Credential"], params["SignedHeaders"], params["Signature"], token, False)


def _from_query(query: Mapping[str, list[str]], token: str | None) -> Caller:
    credential = _first(query, "X-Amz-Credential")
    headers = _first(query, "X-Amz-SignedHeaders")
    signature = _first(query, "X-Amz-Signature")
    if credential is None or headers is None or signature is None:
        return _unsigned(
            token, "A presigned request needs X-Amz-Credential, X-Amz-SignedHeaders and X-Amz-Signature"
        )
    return _signed(credential, headers, signature, token, True)


def _signed(
    credential: str, signed_headers: str, signature: str, token: str | None, presigned: bool
) -> Caller:
    m = _SCOPE.fullmatch(credential)
    if m is None:
        return _unsigned(token, f"Credential should be scoped to a valid region. {credential[:200]}")
    return Caller(
        access_key_id=m["key"],
        region=m["region"],
        service=m["service"],
        session_token=token,
        signed=True,
        signature=Signature(m["date"], tuple(signed_headers.split(";")), signature, presigned),
    )
