"""Execution-role credentials for environments: issued for the function's role, shared, renewed.

On Lambda an execution environment carries temporary credentials of its function's execution role
(AWS_ACCESS_KEY_ID `ASIA…`, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). `RoleCredentialsCache` gets
them from an injected `issue(role_arn, session_name, seconds)` (STS's, wired in app.py), with the
function's name as the session name, and keeps one session per (function ARN, role ARN): a burst of
cold starts of one function issues one session; a cold start is handed a new one once the cached
one has less than `RENEW_BELOW` left.

Environment variables cannot change inside a running process, so credentials are "refreshed" by
replacing environments: one whose credentials would expire within its function's timeout plus
`SPARE` takes no further invocation (`RoleCredentials.lasts_through`; the pool stops it when it is
acquired or reaped) and the next invocation cold-starts with fresh ones. Since `RENEW_BELOW` exceeds
the longest timeout (900 s) plus `SPARE`, a fresh environment can always take its first invocation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lambdabox.clock import Clock
from lambdabox.lambda_.models import FunctionConfig

#: how long execution-role sessions last here: 12 hours, AWS's longest role session (Lambda does not
#: document its own); a warm environment is thus replaced about every 11 hours
ROLE_SECONDS = 43_200
#: a cached session with less than this left is not handed to a new environment (one hour)
RENEW_BELOW = 3_600
#: an environment takes an invocation only if its credentials outlast the invocation's deadline
#: by this much (five minutes: time for the function's last calls to reach the API)
SPARE = 300


@dataclass(frozen=True, slots=True)
class RoleCredentials:
    """Temporary credentials of an execution role, as an environment carries them."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float  # epoch seconds

    def env(self) -> dict[str, str]:
        """The environment variables that carry them (Lambda's names)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def lasts_through(self, now: float, timeout: float) -> bool:
        """Whether an invocation starting `now` and lasting up to `timeout` seconds ends with at least
        `SPARE` seconds of these credentials left."""
        return self.expiration - now > timeout + SPARE


#: issues a role's credentials: (role ARN, session name, seconds) -> credentials
IssueRoleCredentials = Callable[[str, str, int], Awaitable[RoleCredentials]]
#: what the invoker asks for a cold start: the credentials of the function's role
CredentialsProvider = Callable[[FunctionConfig], Awaitable[RoleCredentials]]


class RoleCredentialsCache:
    """One session per (function, role), issued once however many cold starts ask at a time."""

    def __init__(
        self,
        issue: IssueRoleCredentials,
        clock: Clock,
        *,
        seconds: int = ROLE_SECONDS,
        renew_below: float = RENEW_BELOW,
    ) -> None:
        self._issue = issue
        self._clock = clock
        self._seconds = seconds
        self._renew_below = renew_below
        self._sessions: dict[tuple[str, str], RoleCredentials] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[RoleCredentials]] = {}

    def _fresh(self, creds: RoleCredentials, now: float) -> bool:
        return creds.expiration - now >= self._renew_below

    async def __call__(self, fn: FunctionConfig) -> RoleCredentials:
        """The credentials of `fn`'s role for a new environment of `fn`."""
        key = (fn.arn, fn.role)
        cached = self._sessions.get(key)
        if cached is not None and self._fresh(cached, self._clock.now()):
            return cached
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._issue(fn.role, fn.name, self._seconds))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settle(key, done))
        # shielded: one waiter's cancellation (its client went away) does not cancel the others'
        return await asyncio.shield(pending)

    def _settle(self, key: tuple[str, str], done: asyncio.Future[RoleCredentials]) -> None:
        self._pending.pop(key, None)
        if done.cancelled() or done.exception() is not None:  # the next cold start asks again
            return
        now = self._clock.now()
        # forget sessions too old to hand out (deleted functions, replaced roles)
        for stale in [k for k, c in self._sessions.items() if not self._fresh(c, now)]:
            del self._sessions[stale]
        self._sessions[key] = done.result()
