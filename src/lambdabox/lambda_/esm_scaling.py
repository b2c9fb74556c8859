"""How many pollers an SQS event source mapping runs, second by second of the clock, as Lambda
scales them: it starts with five concurrent batches, adds up to five a second (AWS: up to 300 a
minute) while the queue has a backlog (in that second a receive came back full and none came back
empty, or every poller is busy with a batch and the latest receive was full), and gives one back a second while it is dry (the latest receive came back
empty, and none full in that second), never going below where it started.

The ceiling is `ScalingConfig.MaximumConcurrency` (2 to 1,000) when the mapping sets one, else
`LOCAL_MAXIMUM` (AWS's 1,250 would be 1,250 environments on one machine), and never more than the
function's reserved concurrency: pollers beyond it would only be throttled (a reservation of 0
stops them all until it is raised)."""

from __future__ import annotations

#: the concurrent batches a mapping starts with (AWS: 5)
INITIAL = 5
#: pollers added per second of the clock while there is a backlog (AWS: up to 300 a minute)
STEP_UP = 5
#: pollers given back per second of the clock while the queue is empty
STEP_DOWN = 1
#: the ceiling of a mapping without MaximumConcurrency (AWS: 1,250)
LOCAL_MAXIMUM = 50


class Scaler:
    """One mapping's poller count: told what each receive brought, asked once a second."""

    def __init__(self, maximum_concurrency: int | None) -> None:
        self._maximum = maximum_concurrency or LOCAL_MAXIMUM
        self.target = min(INITIAL, self._maximum)
        self._last_full = self._last_empty = False
        self._full = False
        self._empty = False

    def ceiling(self, reserved: int | None) -> int:
        return self._maximum if reserved is None else max(0, min(self._maximum, reserved))

    def start(self, reserved: int | None) -> int:
        """How many pollers to start with."""
        return min(self.target, self.ceiling(reserved))

    def received(self, count: int, full: bool) -> None:
        """A poller's receive brought `count` messages; `full`: as many as it asked for."""
        self._last_full, self._last_empty = full, count == 0
        self._full = self._full or full
        self._empty = self._empty or count == 0

    def tick(self, reserved: int | None, waiting: int) -> int:
        """A second of the clock passed (`waiting`: how many pollers wait for messages now): how
        many pollers to run now."""
        floor = min(INITIAL, self._maximum)
        ceiling = self.ceiling(reserved)
        top = max(floor, ceiling)  # (a reservation lowers what runs, not where a backlog starts)
        if not self._empty and (self._full or (self._last_full and waiting == 0)):
            self.target += STEP_UP
        elif self._last_empty and not self._full:
            self.target -= STEP_DOWN
        self.target = max(floor, min(self.target, top))
        self._full = self._empty = False
        return min(self.target, ceiling)
