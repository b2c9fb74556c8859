"""What every group of IAM operations holds: the store, the clock, and the params/result types.

`RoleOperations`, `PolicyOperations` and `UserOperations` derive from `IamOperations`; `api.py`
composes them into the one `IamService`, so they share one store and one clock.
"""

from __future__ import annotations

from typing import Any

from lambdabox.clock import Clock
from lambdabox.store.db import Store

Params = dict[str, Any]
Result = dict[str, Any]


class IamOperations:
    """The state IAM operations share: the durable store and the injected clock."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def _now(self) -> float:
        """The clock's time in seconds, to the millisecond, as IAM dates are stored."""
        return round(self._clock.now(), 3)
