"""The STS API: temporary credentials, durable in the store, and who a caller is.

`StsService` takes a `RequestContext` and the params dict as boto3 sends it (the query codec has
checked it against botocore's model) and returns each operation's result dict. Credentials it
issues are committed before they are answered and identify their caller on later requests: an
STS call signed with an expired session key is refused with `ExpiredToken`, one with an `ASIA`
key STS never issued (or with another session's token) with `InvalidClientTokenId`. A key that
is not temporary belongs to the IAM user the injected `key_user(key)` names (IAM's access keys,
wired in app.py), else it is a root key of the account the edge resolved (`ctx.account_id`).
Credentials from GetSessionToken carry their caller's identity, so an IAM user's session still
answers GetCallerIdentity with the user's id and ARN, as on AWS.

Roles are looked up through the injected `find_role(arn)` (IAM's, wired in app.py): None means
the role does not exist, and a role whose trust policy does not name the caller (its account, its
ARN, `*`) is not assumed either: AccessDenied, as AWS answers. That is what keeps one account
from assuming another's roles. Without `find_role` any well-formed role ARN is accepted, with a
role id derived from the ARN. Web identity tokens are read, not verified: with `web_identity=False`
(app.py, under `--verify-signatures`) AssumeRoleWithWebIdentity answers AWS's "No OpenIDConnect
provider found", as no provider can be registered yet. For the edge: `key_account(key)` is the account a
temporary key was issued in.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import jwt

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.clock import Clock
from lambdabox.store.db import Store
from lambdabox.sts import store as sql
from lambdabox.sts.models import (
    ANY_ROLE_ARN,
    CHAINED_MAX_SECONDS,
    DEFAULT_ROLE_SECONDS,
    DEFAULT_SESSION_TOKEN_SECONDS,
    LAMBDA_PRINCIPAL,
    ROLE_ARN,
    ROOT_SESSION_MAX_SECONDS,
    Identity,
    Kind,
    RoleInfo,
    Session,
    assumed_role,
    derived_role_id,
    new_access_key_id,
    new_secret,
    new_session_token,
)

Params = dict[str, Any]
Result = dict[str, Any]
FindRole = Callable[[str], Awaitable[RoleInfo | None]]
KeyAccount = Callable[[str], Awaitable[str | None]]
KeyUser = Callable[[str], Awaitable[Identity | None]]

#: sessions kept in memory (a cache of the store: sessions never change once issued)
_CACHE_SIZE = 10_000


def _validation(message: str) -> ServiceError:
    return client_error("ValidationError", message)


def _access_denied(message: str) -> ServiceError:
    return client_error("AccessDenied", message, 403)


def invalid_token() -> ServiceError:
    return client_error("InvalidClientTokenId", "The security token included in the request is invalid.", 403)


def expired_token() -> ServiceError:
    return client_error("ExpiredToken", "The security token included in the request is expired", 400)


def _missing_token() -> ServiceError:
    return client_error("MissingAuthenticationToken", "Request is missing Authentication Token", 403)


class StsService:
    """STS for every account: sessions in the store, identities from the request's caller."""

    SCHEMA: ClassVar[list[str]] = sql.SCHEMA

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        account_id: str,
        find_role: FindRole | None = None,
        web_identity: bool = True,
        other_key_account: KeyAccount | None = None,
        key_user: KeyUser | None = None,
    ) -> None:
        """`account_id`: the configured account (root keys'); `other_key_account(key)`: the account
        of a key STS did not issue (IAM's access keys), None if unknown; `key_user(key)`: the
        identity of the IAM user a long-term key belongs to, None for root keys; `web_identity`:
        whether AssumeRoleWithWebIdentity accepts tokens it cannot verify."""
        self._store = store
        self._clock = clock
        self._account = account_id
        self._find_role = find_role
        self._web_identity = web_identity
        self._other_key_account = other_key_account
        self._key_user = key_user
        self._sessions: dict[str, Session] = {}

    # ============================================================================================
    # for the edge and other services
    # ============================================================================================

    async def session(self, access_key_id: str) -> Session | None:
        """The session STS issued with this key id (expired or not), or None."""
        cached = self._sessions.get(access_key_id)
        if cached is not None:
            return cached
        found = await self._store.read(lambda c: sql.get_session(c, access_key_id))
        if found is not None:
            self._remember(found)
        return found

    async def key_account(self, access_key_id: str) -> str | None:
        """The account a temporary key was issued in; None for keys STS did not issue."""
        if not access_key_id.startswith("ASIA"):
            return None
        found = await self.session(access_key_id)
        return found.account if found is not None else None

    async def role_session(self, role_arn: str, session_name: str, seconds: int) -> Session:
        """Credentials of `role_arn` that Lambda asks for on its own (an execution environment's):
        no caller, no trust policy or MaxSessionDuration check (CreateFunction's `--check-roles`
        is where a role is judged). The identity carries IAM's RoleId when the role exists, else
        one derived from the ARN. Written without an fsync (`sync=False`): the session survives a
        crash of the server, and a cold start does not wait for the disk."""
        m = ANY_ROLE_ARN.fullmatch(role_arn)
        if m is None:
            raise ValueError(f"not a role ARN: {role_arn!r}")
        role = await self._find_role(role_arn) if self._find_role is not None else None
        role_id = role.role_id if role is not None else derived_role_id(role_arn)
        s = self._new(
            "assumed-role",
            assumed_role(m["account"], m["name"], role_id, session_name),
            seconds,
            role_arn=role_arn,
            session_name=session_name,
            details={"AssumedBy": LAMBDA_PRINCIPAL},
        )
        await self._store.write(lambda c: sql.insert_session(c, s), sync=False)
        self._remember(s)
        return s

    def _remember(self, s: Session) -> None:
        if len(self._sessions) >= _CACHE_SIZE:
            self._sessions.clear()
        self._sessions[s.access_key_id] = s

    # ============================================================================================
    # the caller
    # ============================================================================================

    async def _caller(self, ctx: RequestContext) -> tuple[Identity, Session | None]:
        """Who signed this request: its identity and, for temporary keys, their session."""
        caller = ctx.caller
        if not caller.signed or caller.access_key_id is None:
            raise _missing_token()
        if not caller.temporary:
            user = None if self._key_user is None else await self._key_user(caller.access_key_id)
            return user or Identity.root(ctx.account_id), None
        found = await self.session(caller.access_key_id)
        if found is None or found.session_token != caller.session_token:
            raise invalid_token()
        if found.expired(self._clock.now()):
            raise expired_token()
        return found.identity, found

    async def _issue(self, s: Session) -> Session:
        await self._store.write(lambda c: sql.insert_session(c, s))
        self._remember(s)
        return s

    def _new(self, kind: Kind, identity: Identity, seconds: int, **kw: Any) -> Session:
        now = float(int(self._clock.now()))  # AWS's expirations are whole seconds
        return Session(
            access_key_id=new_access_key_id(),
            secret_access_key=new_secret(),
            session_token=new_session_token(),
            kind=kind,
            identity=identity,
            issued=now,
            expiration=now + seconds,
            **kw,
        )

    async def _role(self, arn: str) -> tuple[str, str, RoleInfo | None]:
        """(account, role name, the role or None if it does not exist); ValidationError if malformed."""
        m = ROLE_ARN.fullmatch(arn)
        if m is None:
            raise _validation("Request ARN is invalid")
        if self._find_role is None:
            return m["account"], m["name"], RoleInfo(derived_role_id(arn))
        return m["account"], m["name"], await self._find_role(arn)

    # ============================================================================================
    # operations
    # ============================================================================================

    async def GetCallerIdentity(self, ctx: RequestContext, params: Params) -> Result:
        identity, _ = await self._caller(ctx)
        return identity.to_api()

    async def GetAccessKeyInfo(self, ctx: RequestContext, params: Params) -> Result:
        await self._caller(ctx)
        key: str = params["AccessKeyId"]
        account = await self.key_account(key)
        if account is None and self._other_key_account is not None:
            account = await self._other_key_account(key)
        return {"Account": account or self._account}

    async def AssumeRole(self, ctx: RequestContext, params: Params) -> Result:
        identity, via = await self._caller(ctx)
        arn: str = params["RoleArn"]
        seconds: int = params.get("DurationSeconds", DEFAULT_ROLE_SECONDS)
        account, name, role = await self._role(arn)
        callers = (identity.arn,) if via is None or via.role_arn is None else (identity.arn, via.role_arn)
        context = {
            key: params[name]
            for key, name in (
                ("sts:ExternalId", "ExternalId"),
                ("sts:RoleSessionName", "RoleSessionName"),
                ("sts:SourceIdentity", "SourceIdentity"),
            )
            if name in params
        }
        trusted = role is not None and (
            role.trusts is None or role.trusts(identity.account, callers, context)
        )
        if role is None or not trusted:
            raise _access_denied(
                f"User: {identity.arn} is not authorized to perform: sts:AssumeRole on resource: {arn}"
            )
        if via is not None and via.kind == "assumed-role" and seconds > CHAINED_MAX_SECONDS:
            raise _validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
            )
        if seconds > role.max_session_duration:
            raise _validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        _check_policy(params.get("Policy"))
        session_name: str = params["RoleSessionName"]
        details = {
            k: params[k]
            for k in ("ExternalId", "Policy", "PolicyArns", "Tags", "TransitiveTagKeys", "SourceIdentity")
            if k in params
        }
        s = await self._issue(
            self._new(
                "assumed-role",
                assumed_role(account, name, role.role_id, session_name),
                seconds,
                source_key=ctx.caller.access_key_id,
                role_arn=arn,
                session_name=session_name,
                details=details,
            )
        )
        out: Result = {"Credentials": s.credentials(), "AssumedRoleUser": s.assumed_role_user()}
        if "Policy" in params or "PolicyArns" in params or "Tags" in params:
            out["PackedPolicySize"] = _packed_size(params)
        if "SourceIdentity" in params:
            out["SourceIdentity"] = params["SourceIdentity"]
        return out

    async def GetSessionToken(self, ctx: RequestContext, params: Params) -> Result:
        identity, via = await self._caller(ctx)
        if via is not None:
            raise _access_denied("Cannot call GetSessionToken with session credentials")
        seconds: int = params.get("DurationSeconds", DEFAULT_SESSION_TOKEN_SECONDS)
        if identity.arn.endswith(":root"):
            seconds = min(seconds, ROOT_SESSION_MAX_SECONDS)
        s = await self._issue(
            self._new("session-token", identity, seconds, source_key=ctx.caller.access_key_id)
        )
        return {"Credentials": s.credentials()}

    async def AssumeRoleWithWebIdentity(self, ctx: RequestContext, params: Params) -> Result:
        """Unsigned on AWS: the token is the credential. Its claims are read, its signature is not
        verified (no identity provider is configured yet); an expired `exp` is refused."""
        arn: str = params["RoleArn"]
        seconds: int = params.get("DurationSeconds", DEFAULT_ROLE_SECONDS)
        claims = self._claims(params["WebIdentityToken"])
        if not self._web_identity:
            raise client_error(
                "InvalidIdentityToken",
                f"No OpenIDConnect provider found in your account for {_text(claims.get('iss')) or ''}",
            )
        account, name, role = await self._role(arn)
        offered = {
            k: str(v) for k, v in claims.items() if k in ("sub", "aud", "amr", "azp") and v is not None
        }
        if isinstance(claims.get("aud"), list):
            offered["aud"] = str(claims["aud"][0]) if claims["aud"] else ""
        if role is None or (
            role.trusts_web is not None and not role.trusts_web(str(claims.get("iss") or ""), offered)
        ):
            raise _access_denied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
        if seconds > role.max_session_duration:
            raise _validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        _check_policy(params.get("Policy"))
        session_name: str = params["RoleSessionName"]
        audience = claims.get("aud")
        if isinstance(audience, list):
            audience = audience[0] if audience else None
        provider = params.get("ProviderId") or claims.get("iss")
        web = {"sub": claims.get("sub"), "aud": audience, "iss": claims.get("iss"), "provider": provider}
        s = await self._issue(
            self._new(
                "assumed-role",
                assumed_role(account, name, role.role_id, session_name),
                seconds,
                role_arn=arn,
                session_name=session_name,
                details={"WebIdentity": web},
            )
        )
        out: Result = {
            "Credentials": s.credentials(),
            "SubjectFromWebIdentityToken": _text(claims.get("sub")),
            "AssumedRoleUser": s.assumed_role_user(),
            "Provider": _text(provider),
            "Audience": _text(audience),
        }
        if "Policy" in params or "PolicyArns" in params:
            out["PackedPolicySize"] = _packed_size(params)
        return out

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                options={"verify_signature": False, "verify_exp": False, "verify_aud": False},
            )
        except jwt.InvalidTokenError:
            raise client_error(
                "InvalidIdentityToken",
                "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)",
            ) from None
        if not isinstance(claims, dict) or not claims.get("sub"):
            raise client_error("InvalidIdentityToken", "The ID Token provided has no subject (sub).")
        exp = claims.get("exp")
        now = self._clock.now()
        if isinstance(exp, int | float) and now >= exp:
            raise client_error(
                "ExpiredTokenException",
                f"Token expired: current date/time {int(now)} must be before the expiration date/time {int(exp)}",
            )
        return claims


def _check_policy(policy: str | None) -> None:
    if policy is None:
        return
    try:
        doc = json.loads(policy)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise client_error("MalformedPolicyDocumentException", "The policy is not in the valid JSON format.")


def _packed_size(params: Params) -> int:
    """A stand-in for AWS's packed size percentage (a rough share of its 2048-byte budget)."""
    packed = len(params.get("Policy") or "") + 60 * len(params.get("PolicyArns") or [])
    packed += sum(len(t.get("Key", "")) + len(t.get("Value", "")) for t in params.get("Tags") or [])
    return min(100, max(1, packed * 100 // 2048))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
