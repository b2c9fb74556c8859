"""The SQL of asynchronous invocations: one row per accepted event until it is done with (run,
or given up), holding what the next attempt needs; `attempts` and `due` change as it is retried."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdabox.aws.arns import function_arn
from lambdabox.lambda_.invocation_record import AttemptResponse

SCHEMA = [
    """
    CREATE TABLE lambda_async_events (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        function_name TEXT NOT NULL,
        qualifier TEXT,
        payload BLOB NOT NULL,
        received REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due REAL NOT NULL
    )
    """,
    # how the last attempt answered (JSON), for the invocation record of a destination
    "ALTER TABLE lambda_async_events ADD COLUMN last_response TEXT",
    # the chain of invocations the event belongs to, as its caller sent it (lineage.py)
    "ALTER TABLE lambda_async_events ADD COLUMN lineage TEXT NOT NULL DEFAULT ''",
]


@dataclass
class AsyncEvent:
    """An accepted event: who it is for, its payload, how often it ran and when it runs next."""

    request_id: str
    region: str
    account: str
    function_name: str
    qualifier: str | None
    payload: bytes
    received: float
    attempts: int = 0
    due: float = 0.0
    id: int = 0
    last_response: AttemptResponse | None = None
    #: the lineage (`lineage.py`, as written) of the invocation or record that caused the event
    lineage: str = ""

    @property
    def function_arn(self) -> str:
        """The function as invoked (`:$LATEST` when unqualified), as an invocation record names it."""
        return function_arn(self.region, self.account, self.function_name, self.qualifier or "$LATEST")


_INSERT = (
    "INSERT INTO lambda_async_events (request_id, region, account, function_name, qualifier, "
    "payload, received, attempts, due, lineage) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def insert_all(events: list[AsyncEvent]) -> Callable[[sqlite3.Connection], list[int]]:
    """Insert events (one transaction); returns their row ids, in order."""

    def run(conn: sqlite3.Connection) -> list[int]:
        ids = []
        for ev in events:
            cur = conn.execute(
                _INSERT,
                (ev.request_id, ev.region, ev.account, ev.function_name, ev.qualifier, ev.payload,
                 ev.received, ev.attempts, ev.due, ev.lineage),
            )  # fmt: skip
            assert cur.lastrowid is not None
            ids.append(cur.lastrowid)
        return ids

    return run


def reschedule(
    event_id: int, attempts: int, due: float, response: AttemptResponse | None
) -> Callable[[sqlite3.Connection], None]:
    last = None if response is None else json.dumps(response.to_row())

    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE lambda_async_events SET attempts=?, due=?, last_response=? WHERE id=?",
            (attempts, due, last, event_id),
        )

    return run


def delete(event_id: int) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM lambda_async_events WHERE id=?", (event_id,))

    return run


def load_all(conn: sqlite3.Connection) -> list[AsyncEvent]:
    rows = conn.execute(
        "SELECT request_id, region, account, function_name, qualifier, payload, received, attempts, due, id, "
        "last_response, lineage FROM lambda_async_events ORDER BY id"
    )
    return [_event(r) for r in rows]


def _event(r: tuple[Any, ...]) -> AsyncEvent:
    last = None if r[10] is None else AttemptResponse.from_row(json.loads(r[10]))
    return AsyncEvent(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], r[7], r[8], r[9], last, r[11])
