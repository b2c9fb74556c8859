"""JWT authorizers of HTTP APIs: a request's token judged as API Gateway judges it
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html).

The token is the authorizer's identity source (the token alone or after `Bearer `). Its header
must name an RSA algorithm (API Gateway verifies RSA signatures only: `none`, HMAC and EC tokens
are refused) and a `kid`; the key with that `kid` comes from the issuer's JWKS, found through
`{issuer}/.well-known/openid-configuration` → `jwks_uri`. Keys are cached per issuer for two
hours (as API Gateway may) on the one clock, fetched again for a `kid` the cache lacks (at most
once per `REFETCH_AFTER` seconds per issuer), each fetch bounded in time and size and run in a
thread, off the event loop. Then the claims, against the server's clock: `exp` after now, `nbf`
and `iat` (when present) not after now, `iss` the issuer, `aud` or `client_id` one of the
audiences, and when the route asks for scopes, one of them in `scope` (space separated) or `scp`.

A failure is 401 `{"message":"Unauthorized"}` with a `www-authenticate` Bearer challenge, missing
scopes 403 `{"message":"Forbidden"}`. The claims reach the function with their values as strings,
as API Gateway formats them (numbers and booleans as written, lists `[a b]`, objects as JSON,
null claims left out), and on a route with scopes the token's scopes (null on one without).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from lambdabox.clock import Clock

#: API Gateway verifies RSA signatures only
ALGORITHMS = ("RS256", "RS384", "RS512")
#: how long an issuer's keys are kept (API Gateway: "can cache the public key for two hours")
KEYS_TTL = 7200.0
#: the least time between two fetches of one issuer's keys (a token naming an unknown kid must not
#: make every request a fetch)
REFETCH_AFTER = 10.0
#: the longest a fetch (each of the two documents) may take, and the largest document read
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT = 1 << 20

#: fetch(url) -> the document's bytes (blocking; run in a thread); raises OSError/ValueError
Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class Refused:
    """Why a token is not accepted: the status and the challenge API Gateway sends."""

    status: int
    www_authenticate: str | None


@dataclass(frozen=True)
class Granted:
    """What the function is told: the token's claims (as strings) and, on a route that asks for
    scopes, the token's scopes (None elsewhere)."""

    claims: dict[str, str]
    scopes: list[str] | None


def fetch_url(url: str) -> bytes:
    """A document over HTTP(S), bounded in time and size (blocking)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an HTTP URL: {url}")
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    deadline = time.monotonic() + FETCH_TIMEOUT  # network time, not a semantic delay: real time
    chunks: list[bytes] = []
    size = 0
    with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT) as resp:
        while chunk := resp.read1(65536):
            size += len(chunk)
            if size > MAX_DOCUMENT:
                raise ValueError(f"{url}: document over {MAX_DOCUMENT} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: took over {FETCH_TIMEOUT} s")
            chunks.append(chunk)
    return b"".join(chunks)


def _fetch_keys(fetch: Fetch, issuer: str) -> dict[str, dict[str, Any]]:
    """The issuer's signing keys by kid, through its OpenID configuration (blocking)."""
    config = json.loads(fetch(issuer.rstrip("/") + "/.well-known/openid-configuration"))
    jwks_uri = config.get("jwks_uri") if isinstance(config, dict) else None
    if not isinstance(jwks_uri, str):
        raise ValueError(f"{issuer}: the OpenID configuration names no jwks_uri")
    jwks = json.loads(fetch(jwks_uri))
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise ValueError(f"{jwks_uri}: not a JWKS")
    return {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}


class KeyCache:
    """Issuers' signing keys, fetched when needed and kept for `KEYS_TTL` on the one clock."""

    def __init__(self, clock: Clock, fetch: Fetch = fetch_url) -> None:
        self._clock = clock
        self._fetch = fetch
        #: issuer -> (fetched at, keys by kid)
        self._keys: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
        self._fetching: dict[str, asyncio.Future[None]] = {}

    async def key(self, issuer: str, kid: str) -> dict[str, Any] | None:
        """The JWK `kid` names, or None when the issuer has none such (or cannot be reached)."""
        now = self._clock.monotonic()
        cached = self._keys.get(issuer)
        fresh = cached is not None and now - cached[0] < KEYS_TTL
        if cached is not None and fresh and kid in cached[1]:
            return cached[1][kid]
        if cached is None or not fresh or now - cached[0] >= REFETCH_AFTER:
            await self._refresh(issuer)
        cached = self._keys.get(issuer)
        return None if cached is None else cached[1].get(kid)

    async def _refresh(self, issuer: str) -> None:
        """Fetch the issuer's keys once, however many requests wait for them."""
        running = self._fetching.get(issuer)
        if running is not None:
            await asyncio.shield(running)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fetching[issuer] = done
        try:
            keys = await asyncio.to_thread(_fetch_keys, self._fetch, issuer)
        except Exception:  # unreachable or not a JWKS (RecursionError: JSON nested too deep): no keys
            keys = {}
        finally:
            del self._fetching[issuer]
            done.set_result(None)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[issuer] = (self._clock.monotonic(), keys)


def _challenge(scopes: tuple[str, ...], error: str, description: str) -> str:
    return f'Bearer scope="{" ".join(scopes)}" error="{error}" error_description="{description}"'


def _invalid(scopes: tuple[str, ...], description: str) -> Refused:
    return Refused(401, _challenge(scopes, "invalid_token", description))


def token_of(value: str) -> str:
    """The token in an identity source's value: all of it, or what follows `Bearer `."""
    head, _, rest = value.partition(" ")
    return rest.strip() if head.lower() == "bearer" and rest else value.strip()


async def judge(
    value: str,
    *,
    issuer: str,
    audience: tuple[str, ...],
    scopes: tuple[str, ...],
    keys: KeyCache,
    now: float,
) -> Granted | Refused:
    """Whether the token in `value` lets a request through a route asking for `scopes`."""
    token = token_of(value)
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, RecursionError):  # (RecursionError: JSON nested too deep)
        return _invalid(scopes, "the token is malformed")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        return _invalid(scopes, f"signing method {alg} is invalid")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        return _invalid(scopes, "the token has no kid")
    jwk = await keys.key(issuer, kid)
    if jwk is None or jwk.get("kty") != "RSA":
        return _invalid(scopes, f"unable to find a signing key that matches '{kid}'")
    # (needs cryptography, PyJWT[crypto]: imported here so that a server without it still starts)
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from jwt.algorithms import RSAAlgorithm

    try:
        public = RSAAlgorithm.from_jwk(jwk)
        if not isinstance(public, RSAPublicKey):  # a JWKS entry with private parts is no public key
            return _invalid(scopes, "the token signature is invalid")
        claims = jwt.decode(
            token, public, algorithms=[alg],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                     "verify_aud": False, "verify_iss": False},
        )  # fmt: skip
    except jwt.InvalidSignatureError:
        return _invalid(scopes, "the token signature is invalid")
    except (jwt.PyJWTError, ValueError, KeyError, TypeError, RecursionError):
        return _invalid(scopes, "the token is malformed")
    refusal = _claims_refusal(claims, issuer, audience, scopes, now)
    if refusal is not None:
        return refusal
    held = _token_scopes(claims)
    if scopes and not any(s in held for s in scopes):
        return Refused(
            403, _challenge(scopes, "insufficient_scope", f"expected scopes: [{' '.join(scopes)}]")
        )
    texts = {k: _text(v) for k, v in claims.items() if v is not None}  # null claims are left out
    return Granted(texts, held if scopes else None)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _claims_refusal(
    claims: dict[str, Any], issuer: str, audience: tuple[str, ...], scopes: tuple[str, ...], now: float
) -> Refused | None:
    exp = _number(claims.get("exp"))
    if exp is None:
        return _invalid(scopes, "the token has no valid exp")
    if now >= exp:
        return _invalid(scopes, "the token has expired")
    nbf = _number(claims.get("nbf")) if "nbf" in claims else now
    if nbf is None or nbf > now:
        return _invalid(scopes, "the token is not valid yet")
    iat = _number(claims.get("iat")) if "iat" in claims else now
    if iat is None or iat > now:
        return _invalid(scopes, "the token was issued in the future")
    if claims.get("iss") != issuer:
        return _invalid(scopes, "the token does not have a valid issuer")
    aud = claims.get("aud")
    named = (
        [aud]
        if isinstance(aud, str)
        else [a for a in aud if isinstance(a, str)]
        if isinstance(aud, list)
        else []
    )
    if isinstance(claims.get("client_id"), str):
        named.append(claims["client_id"])
    if not any(a in audience for a in named):
        return _invalid(scopes, "the token does not have a valid audience")
    return None


def _token_scopes(claims: dict[str, Any]) -> list[str]:
    """The token's scopes, in its order: `scp` (a list or a space-separated string), else `scope`."""
    for name in ("scp", "scope"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [v for v in value if isinstance(v, str)]
    return []


def _text(value: Any) -> str:
    """A claim's value as API Gateway hands it on: strings as they are, numbers and booleans as
    written, lists as `[a b]`, objects as their JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + " ".join(_text(v) for v in value) + "]"
    return json.dumps(value, separators=(",", ":"))
