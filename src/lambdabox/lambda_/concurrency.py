"""Concurrent executions, counted as Lambda counts them: per account and region, an account limit
(`--concurrency-limit`, AWS's default 1000), reserved concurrency per function, and the
unreserved pool every other function shares.

A function with reserved concurrency runs at most that many invocations at once (all its
versions and aliases together) and its reservation is taken out of the account's pool; reserved
0 throttles it entirely. The unreserved pool (the limit less every reservation) may not be
reserved below AWS's minimum of 100 (or the whole limit, on a smaller account). An invocation
takes a `Slot` before it starts and gives it back when it ends; with none free it is refused
with 429 TooManyRequestsException and the Reason AWS gives:
ReservedFunctionConcurrentInvocationLimitExceeded for a function over its reservation,
ConcurrentInvocationLimitExceeded for the unreserved pool (the account) being full.

Pure bookkeeping on the event loop (no I/O, no awaits): taking and giving back a slot cannot
interleave with anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdabox.aws.errors import ServiceError, client_error

#: the unreserved concurrency an account keeps at least (AWS: 100)
UNRESERVED_MINIMUM = 100

RESERVED_EXCEEDED = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_EXCEEDED = "ConcurrentInvocationLimitExceeded"


def throttled(reason: str) -> ServiceError:
    """AWS's answer to an invocation over a concurrency limit."""
    return client_error("TooManyRequestsException", "Rate Exceeded.", 429, Reason=reason, Type="User")


@dataclass
class _Account:
    """One account's concurrency in one region."""

    reserved: dict[str, int] = field(default_factory=dict)  # function name -> its reservation
    running: dict[str, int] = field(default_factory=dict)  # reserved function -> running now
    unreserved_running: int = 0  # invocations of functions without a reservation
    total_reserved: int = 0


class Slot:
    """One running invocation's share of the concurrency; `release()` it exactly once."""

    __slots__ = ("_account", "_name")

    def __init__(self, account: _Account, name: str | None) -> None:
        self._account = account
        self._name = name  # None: taken from the unreserved pool

    def release(self) -> None:
        acct = self._account
        if self._name is None:
            acct.unreserved_running -= 1
        else:
            acct.running[self._name] -= 1
            if acct.running[self._name] == 0:
                del acct.running[self._name]


class Concurrency:
    """The concurrency of every account this server holds functions for."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the concurrency limit is at least 1")
        self.limit = limit
        self._accounts: dict[tuple[str, str], _Account] = {}

    @property
    def unreserved_minimum(self) -> int:
        """What reservations must leave unreserved: 100, or the whole limit below that."""
        return min(UNRESERVED_MINIMUM, self.limit)

    def _account(self, region: str, account: str) -> _Account:
        acct = self._accounts.get((region, account))
        if acct is None:
            acct = self._accounts[(region, account)] = _Account()
        return acct

    # -- reservations ----------------------------------------------------------------------
    def reserved(self, region: str, account: str, name: str) -> int | None:
        """A function's reserved concurrency (None: it has none)."""
        acct = self._accounts.get((region, account))
        return None if acct is None else acct.reserved.get(name)

    def unreserved(self, region: str, account: str) -> int:
        """The account's UnreservedConcurrentExecutions: its limit less every reservation."""
        acct = self._accounts.get((region, account))
        return self.limit - (acct.total_reserved if acct is not None else 0)

    def check_reservation(self, region: str, account: str, name: str, value: int) -> None:
        """AWS's refusal of a reservation that would leave too little unreserved."""
        acct = self._account(region, account)
        others = acct.total_reserved - acct.reserved.get(name, 0)
        if value > 0 and self.limit - others - value < self.unreserved_minimum:
            raise client_error(
                "InvalidParameterValueException",
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{self.unreserved_minimum}].",
                Type="User",
            )

    def set_reserved(self, region: str, account: str, name: str, value: int | None) -> None:
        """Reserve `value` for a function (None: remove its reservation). Invocations running
        keep the slot they took; the new limit holds for the next ones."""
        acct = self._account(region, account)
        acct.total_reserved -= acct.reserved.pop(name, 0)
        if value is not None:
            acct.reserved[name] = value
            acct.total_reserved += value

    # -- invocations -----------------------------------------------------------------------
    def acquire(self, region: str, account: str, name: str) -> Slot:
        """A slot for one invocation of a function, or TooManyRequestsException."""
        acct = self._account(region, account)
        reserved = acct.reserved.get(name)
        if reserved is not None:
            running = acct.running.get(name, 0)
            if running >= reserved:
                raise throttled(RESERVED_EXCEEDED)
            acct.running[name] = running + 1
            return Slot(acct, name)
        if acct.unreserved_running >= self.limit - acct.total_reserved:
            raise throttled(ACCOUNT_EXCEEDED)
        acct.unreserved_running += 1
        return Slot(acct, None)

    def running(self, region: str, account: str) -> int:
        """Invocations of the account running now (its ConcurrentExecutions)."""
        acct = self._accounts.get((region, account))
        if acct is None:
            return 0
        return acct.unreserved_running + sum(acct.running.values())
