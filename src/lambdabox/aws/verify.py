"""Is a request authentic? Its SigV4 signature checked with botocore's own signer, and AWS's words when not.

The edge calls `authenticate` for every AWS API request once it knows the service. It answers the
`KnownKey` the request is signed with (None: unsigned, or signed with a key nobody issued while
signatures are not checked), or raises `AuthFailure`, which `AuthFailure.error(protocol)` turns
into the error each service family sends for it:

    failure        query (STS, IAM)                json (Logs)                       rest-json (Lambda)
    missing        MissingAuthenticationToken 403  MissingAuthenticationTokenException 400   … 403
    incomplete     IncompleteSignature 400         IncompleteSignatureException 400         … 403
    unrecognized   InvalidClientTokenId 403        UnrecognizedClientException 400          … 403
    expired token  ExpiredToken 400                ExpiredTokenException 400                … 403
    mismatch       SignatureDoesNotMatch 403       InvalidSignatureException 400            … 403

Always checked, as they need no secret: a temporary key STS issued is refused when presented with
another token or after it expired (on the server's clock, so the manual clock expires it), an IAM
access key once it is made Inactive or deleted, an `ASIA` key STS never issued. With `verify=True` (`--verify-signatures`) also: unsigned
requests (except operations AWS serves unsigned, such as AssumeRoleWithWebIdentity), unknown keys, skewed clocks (more than
15 minutes either way, judged on wall time: the client's clock is real), expired presigned URLs,
and the signature itself. The canonical request is rebuilt by botocore's `SigV4Auth` from what the
client says it signed (`SignedHeaders`), the path as sent and the query string decoded and
re-encoded as SigV4 does; the result is compared in constant time.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any
from urllib.parse import unquote_plus

from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path

from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.aws.keys import FindKey, KnownKey
from lambdabox.aws.sigv4 import Caller

#: how far a request's X-Amz-Date may be from the server's wall clock
MAX_SKEW = 900
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_STAMP = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_INVALID_TOKEN = "The security token included in the request is invalid."
_EXPIRED_TOKEN = "The security token included in the request is expired"

# failure kind -> (query code, json code)
_CODES = {
    "missing": ("MissingAuthenticationToken", "MissingAuthenticationTokenException"),
    "incomplete": ("IncompleteSignature", "IncompleteSignatureException"),
    "unrecognized": ("InvalidClientTokenId", "UnrecognizedClientException"),
    "expired": ("ExpiredToken", "ExpiredTokenException"),
    "mismatch": ("SignatureDoesNotMatch", "InvalidSignatureException"),
}
_QUERY_STATUS = {"missing": 403, "incomplete": 400, "unrecognized": 403, "expired": 400, "mismatch": 403}


class AuthFailure(Exception):
    """Why a request is not accepted as signed; `error(protocol)` is what the service answers."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def error(self, protocol: str) -> ServiceError:
        query_code, json_code = _CODES[self.kind]
        if protocol == "query":
            return client_error(query_code, self.message, _QUERY_STATUS[self.kind])
        if self.kind == "missing" and protocol == "rest-json":  # Lambda's own words
            return client_error(json_code, "Missing Authentication Token", 403)
        return client_error(json_code, self.message, 403 if protocol == "rest-json" else 400)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a signature covers, as received: the path and query string still percent-encoded."""

    method: str
    raw_path: str
    raw_query: str
    headers: Any  #: case-insensitive, with `getall` (a CIMultiDictProxy) or a plain mapping
    body: bytes
    #: the body's SHA-256 (hex) when the caller computed it already (off the event loop)
    body_sha256: str | None = None


class Authenticator:
    """Checks requests' credentials against the keys the server knows."""

    def __init__(
        self,
        find_key: FindKey,
        *,
        verify: bool,
        now: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        """`now`: the server's clock (token expiry); `wall`: real time (clock skew)."""
        self._find_key = find_key
        self.verify = verify
        self._now = now
        self._wall = wall
        self._signing_keys: SigningKeys = {}

    async def authenticate(
        self, caller: Caller, req: SignedRequest, *, unsigned_ok: bool, services: tuple[str, ...] = ()
    ) -> KnownKey | None:
        """The key the request is signed with, or None; raises AuthFailure. `services`: the
        signing names of the service the request was routed to (its scope must name one)."""
        if caller.access_key_id is None:
            if self.verify and not unsigned_ok:
                if caller.problem is not None:
                    raise AuthFailure("incomplete", caller.problem)
                raise AuthFailure("missing", "Request is missing Authentication Token")
            return None
        key = await self._find_key(caller.access_key_id)
        if key is None:
            if self.verify or caller.temporary:  # nobody invents ASIA keys: STS issued it or no one
                raise AuthFailure("unrecognized", _INVALID_TOKEN)
            return None
        if key.session_token is not None:
            if caller.session_token != key.session_token:
                raise AuthFailure("unrecognized", _INVALID_TOKEN)
            if key.expired(self._now()):
                raise AuthFailure("expired", _EXPIRED_TOKEN)
        elif self.verify and caller.session_token is not None:
            raise AuthFailure("unrecognized", _INVALID_TOKEN)  # a long-term key with a (stale) token
        if not key.active:
            raise AuthFailure("unrecognized", _INVALID_TOKEN)
        if self.verify:
            if services and caller.service not in services:
                raise AuthFailure(
                    "mismatch", f"Credential should be scoped to correct service: '{services[0]}'. "
                )
            check_signature(caller, req, key.secret_access_key, self._wall(), self._signing_keys)
        return key


def check_signature(
    caller: Caller, req: SignedRequest, secret: str, wall: float, keys: SigningKeys | None = None
) -> None:
    """Raise AuthFailure unless `req` carries a valid, current SigV4 signature made with `secret`;
    `keys`: a cache of derived signing keys kept between calls."""
    keys = {} if keys is None else keys
    sig = caller.signature
    assert sig is not None and caller.access_key_id is not None
    assert caller.region is not None and caller.service is not None
    query = _split_query(req.raw_query)
    stamp = _first(req.headers, "X-Amz-Date") if not sig.presigned else _query_value(query, "X-Amz-Date")
    if stamp is None:
        raise AuthFailure(
            "incomplete",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    when = _parse_stamp(stamp)
    signed = [h.lower() for h in sig.signed_headers]
    if "host" not in signed:
        raise AuthFailure("incomplete", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    if not sig.presigned and "x-amz-date" not in signed:
        raise AuthFailure("incomplete", "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
    if normalize_url_path(req.raw_path) != req.raw_path:
        # the signature covers the normalized path: the one routed must be the same
        raise AuthFailure("mismatch", _MISMATCH)
    if sig.date != stamp[:8]:
        raise AuthFailure(
            "mismatch",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{sig.date}' != '{stamp[:8]}', from '{stamp}'.",
        )
    _check_time(when, wall, query if sig.presigned else None)
    headers = _SignedHeaders()
    for name in signed:
        values = _all(req.headers, name)
        if not values:
            raise AuthFailure("mismatch", _MISMATCH)
        headers[name] = values
    claimed = _first(req.headers, "X-Amz-Content-SHA256")
    params = [(k, v) for k, v in query if not (sig.presigned and k == "X-Amz-Signature")]
    request = AWSRequest(method=req.method, url="http://lambdabox" + req.raw_path, data=req.body)
    request.params = params
    request.context["timestamp"] = stamp
    # the payload hash signed: the body's (a client naming it must name the body's). Only S3
    # signs no payload (UNSIGNED-PAYLOAD, also in its presigned URLs); elsewhere the body would
    # be anyone's to change, and with the query protocol it says which operation runs
    payload = req.body_sha256 or sha256(req.body).hexdigest()
    unsigned_ok = caller.service == "s3"
    if claimed is not None and claimed != payload and not (unsigned_ok and claimed == UNSIGNED_PAYLOAD):
        raise AuthFailure("mismatch", _MISMATCH)
    payloads = [claimed or payload]
    if sig.presigned and claimed is None and unsigned_ok:
        payloads.append(UNSIGNED_PAYLOAD)
    for payload in payloads:
        signer = _Verifier(
            Credentials(caller.access_key_id, secret, caller.session_token),
            caller.service,
            caller.region,
            headers=headers,
            payload=payload,
            keys=keys,
        )
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if hmac.compare_digest(expected.encode(), sig.signature.encode()):
            return
    raise AuthFailure("mismatch", _MISMATCH)


class _SignedHeaders(dict[str, list[str]]):
    """The headers a client signed, in the shape botocore's signer reads (`get_all`); a plain dict
    is an order of magnitude cheaper than botocore's email-based HTTPHeaders."""

    def get_all(self, name: str) -> list[str]:
        return self.get(name, [])


#: derived signing keys, (secret, date, region, service) -> key: four HMACs saved per request
SigningKeys = dict[tuple[str, str, str, str], bytes]
_SIGNING_KEYS_MAX = 4096


class _Verifier(SigV4Auth):  # type: ignore[misc]
    """botocore's signer, told which headers the client signed (it would pick its own otherwise)."""

    def __init__(
        self,
        credentials: Credentials,
        service: str,
        region: str,
        *,
        headers: _SignedHeaders,
        payload: str,
        keys: SigningKeys,
    ) -> None:
        """`payload`: the payload hash the client signed."""
        super().__init__(credentials, service, region)
        self._signed = headers
        self._payload = payload
        self._keys = keys

    def headers_to_sign(self, request: AWSRequest) -> _SignedHeaders:
        return self._signed

    def canonical_query_string(self, request: AWSRequest) -> str:
        # botocore falls back to the URL's query when there are no params: there is none here
        return self._canonical_query_string_params(request.params)  # type: ignore[no-any-return]

    def payload(self, request: AWSRequest) -> str:
        return self._payload

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        """botocore's signature, with the derived signing key kept (it only changes daily)."""
        scope = (
            self.credentials.secret_key,
            request.context["timestamp"][0:8],
            self._region_name,
            self._service_name,
        )
        key = self._keys.get(scope)
        if key is None:
            k_date = self._sign(f"AWS4{scope[0]}".encode(), scope[1])
            key = self._sign(self._sign(self._sign(k_date, scope[2]), scope[3]), "aws4_request")
            if len(self._keys) >= _SIGNING_KEYS_MAX:
                self._keys.clear()
            self._keys[scope] = key
        return self._sign(key, string_to_sign, hex=True)  # type: ignore[no-any-return]


def _check_time(when: datetime, wall: float, presigned: list[tuple[str, str]] | None) -> None:
    now = datetime.fromtimestamp(int(wall), UTC)
    if presigned is None and abs(when.timestamp() - now.timestamp()) <= MAX_SKEW:
        return  # the common case, without formatting the messages
    stamp, now_s = when.strftime(_AMZ_DATE), now.strftime(_AMZ_DATE)
    if presigned is not None:
        raw = _query_value(presigned, "X-Amz-Expires")
        if raw is None or not raw.isdigit() or not 1 <= int(raw) <= 604_800:
            raise AuthFailure("incomplete", "X-Amz-Expires must be a number of seconds from 1 to 604800")
        if now.timestamp() > when.timestamp() + int(raw):
            limit = datetime.fromtimestamp(now.timestamp() - int(raw), UTC).strftime(_AMZ_DATE)
            raise AuthFailure(
                "mismatch", f"Signature expired: {stamp} is now earlier than {limit} ({now_s} - {raw} sec.)"
            )
        return
    if when.timestamp() < now.timestamp() - MAX_SKEW:
        limit = datetime.fromtimestamp(now.timestamp() - MAX_SKEW, UTC).strftime(_AMZ_DATE)
        raise AuthFailure(
            "mismatch", f"Signature expired: {stamp} is now earlier than {limit} ({now_s} - 15 min.)"
        )
    if when.timestamp() > now.timestamp() + MAX_SKEW:
        limit = datetime.fromtimestamp(now.timestamp() + MAX_SKEW, UTC).strftime(_AMZ_DATE)
        raise AuthFailure(
            "mismatch", f"Signature not yet current: {stamp} is still later than {limit} ({now_s} + 15 min.)"
        )


def _parse_stamp(stamp: str) -> datetime:
    m = _STAMP.fullmatch(stamp)
    try:
        if m is None:
            raise ValueError(stamp)
        y, mo, d, h, mi, sec = (int(g) for g in m.groups())
        return datetime(y, mo, d, h, mi, sec, tzinfo=UTC)
    except ValueError:
        raise AuthFailure(
            "incomplete",
            f"Date must be in ISO-8601 'basic format'. Got '{stamp[:40]}'. See http://en.wikipedia.org/wiki/ISO_8601",
        ) from None


def _split_query(raw: str) -> list[tuple[str, str]]:
    """The query string's pairs, decoded as the services read them ('+' is a space), so that what
    is verified is what runs (SDKs send spaces as %20; a '+' they mean is %2B)."""
    pairs = []
    for part in raw.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def _query_value(pairs: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in pairs if k == name), None)


def _all(headers: Any, name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    value = _first(headers, name)
    return [] if value is None else [value]


def _first(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not hasattr(headers, "getall"):
        value = headers.get(name.lower())
    return value
