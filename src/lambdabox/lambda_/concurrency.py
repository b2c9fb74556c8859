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
    #: function name -> qualifier -> its provisioned concurrency
    provisioned: dict[str, dict[str, int]] = field(default_factory=dict)
    #: invocations of functions without a reservation running in provisioned environments
    provisioned_running: int = 0

    def provisioned_of(self, name: str, but: str | None = None) -> int:
        """A function's provisioned concurrency, over its versions and aliases (but one)."""
        return sum(n for q, n in self.provisioned.get(name, {}).items() if q != but)

    def unreserved_provisioned(self, but: str | None = None) -> int:
        """The provisioned concurrency of functions without a reservation (but one function)."""
        return sum(
            sum(qs.values())
            for name, qs in self.provisioned.items()
            if name not in self.reserved and name != but
        )

    def set_aside(self) -> int:
        """What is out of the unreserved pool: reservations, and provisioned concurrency outside them."""
        return self.total_reserved + self.unreserved_provisioned()


class Slot:
    """One running invocation's share of the concurrency; `release()` it exactly once."""

    __slots__ = ("_account", "_name", "_provisioned")

    def __init__(self, account: _Account, name: str | None, provisioned: bool = False) -> None:
        self._account = account
        self._name = name  # None: taken from the unreserved pool (or, provisioned, set aside)
        self._provisioned = provisioned

    def release(self) -> None:
        acct = self._account
        if self._name is None and self._provisioned:
            acct.provisioned_running -= 1
        elif self._name is None:
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
        """The account's UnreservedConcurrentExecutions: its limit less every reservation and the
        provisioned concurrency of functions without one."""
        acct = self._accounts.get((region, account))
        return self.limit - (acct.set_aside() if acct is not None else 0)

    def check_reservation(self, region: str, account: str, name: str, value: int) -> None:
        """AWS's refusal of a reservation that would leave too little unreserved."""
        acct = self._account(region, account)
        others = acct.total_reserved - acct.reserved.get(name, 0) + acct.unreserved_provisioned(but=name)
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

    # -- provisioned concurrency -----------------------------------------------------------
    def provisioned(self, region: str, account: str, name: str) -> int:
        """A function's provisioned concurrency, over all its versions and aliases."""
        acct = self._accounts.get((region, account))
        return 0 if acct is None else acct.provisioned_of(name)

    def provisioned_for(self, region: str, account: str, name: str, qualifier: str) -> int | None:
        """One version's or alias's provisioned concurrency (None: it has none)."""
        acct = self._accounts.get((region, account))
        return None if acct is None else acct.provisioned.get(name, {}).get(qualifier)

    def check_provisioned(self, region: str, account: str, name: str, qualifier: str, value: int) -> None:
        """AWS's refusal of provisioned concurrency over the function's reservation, or leaving
        too little unreserved."""
        acct = self._account(region, account)
        total = acct.provisioned_of(name, but=qualifier) + value
        reserved = acct.reserved.get(name)
        if reserved is not None:
            if total > reserved:
                raise client_error(
                    "InvalidParameterValueException",
                    "Requested Provisioned Concurrency should not be greater than the "
                    "reservedConcurrentExecution for function",
                    Type="User",
                )
            return
        if total > self.limit:
            raise client_error(
                "InvalidParameterValueException",
                "Specified ConcurrentExecutions for function is greater than account's unreserved "
                f"concurrency [{self.limit}].",
                Type="User",
            )
        taken = acct.total_reserved + acct.unreserved_provisioned(but=name)
        if self.limit - taken - total < self.unreserved_minimum:
            raise client_error(
                "InvalidParameterValueException",
                "Specified ConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{self.unreserved_minimum}].",
                Type="User",
            )

    def set_provisioned(
        self, region: str, account: str, name: str, qualifier: str, value: int | None
    ) -> None:
        """Set aside `value` for a version or alias of a function (None: no more)."""
        acct = self._account(region, account)
        qualifiers = acct.provisioned.setdefault(name, {})
        if value is None:
            qualifiers.pop(qualifier, None)
        else:
            qualifiers[qualifier] = value
        if not qualifiers:
            del acct.provisioned[name]

    # -- invocations -----------------------------------------------------------------------
    def acquire(self, region: str, account: str, name: str, *, provisioned: bool = False) -> Slot:
        """A slot for one invocation of a function, or TooManyRequestsException; `provisioned`:
        it runs in a provisioned environment (set aside already, unless within a reservation)."""
        acct = self._account(region, account)
        reserved = acct.reserved.get(name)
        if reserved is not None:
            running = acct.running.get(name, 0)
            if running >= reserved:
                raise throttled(RESERVED_EXCEEDED)
            acct.running[name] = running + 1
            return Slot(acct, name)
        if provisioned:
            acct.provisioned_running += 1
            return Slot(acct, None, provisioned=True)
        if acct.unreserved_running >= self.limit - acct.set_aside():
            raise throttled(ACCOUNT_EXCEEDED)
        acct.unreserved_running += 1
        return Slot(acct, None)

    def running(self, region: str, account: str) -> int:
        """Invocations of the account running now (its ConcurrentExecutions)."""
        acct = self._accounts.get((region, account))
        if acct is None:
            return 0
        return acct.unreserved_running + acct.provisioned_running + sum(acct.running.values())
