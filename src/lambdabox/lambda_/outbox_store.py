"""The SQL of the outbox: what asynchronous invocations owe other services (destination records,
dead-letter messages), one row each until it is delivered.

A row is written in the same transaction that settles its event (the event's row goes, the
outbox row comes), so a record is never lost between the two; delivery then deletes it. A row
for a service lambdabox does not serve yet stays, parked, and is tried again on every start."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SCHEMA = [
    """
    CREATE TABLE lambda_outbox (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        target_arn TEXT NOT NULL,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        function_arn TEXT NOT NULL,
        condition TEXT NOT NULL,
        body BLOB NOT NULL,
        attributes TEXT NOT NULL,
        created REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due REAL NOT NULL
    )
    """,
    # the lineage of the invocation a record is about (lineage.py), for a Lambda function target
    "ALTER TABLE lambda_outbox ADD COLUMN lineage TEXT NOT NULL DEFAULT ''",
]

#: what a row is: an invocation record for a destination, or an event for a dead-letter queue
DESTINATION, DEAD_LETTER = "destination", "dead-letter"


@dataclass
class OutboxItem:
    """One delivery owed: `body` to `target_arn` (with `attributes`, for a dead-letter queue's
    RequestID / ErrorCode / ErrorMessage), on behalf of the function `function_arn` (as invoked,
    with its qualifier) whose event ended in `condition`."""

    kind: str
    target_arn: str
    region: str
    account: str
    function_arn: str
    condition: str
    body: bytes
    created: float
    #: message attribute name -> (DataType, value)
    attributes: dict[str, tuple[str, str]] = field(default_factory=dict)
    attempts: int = 0
    due: float = 0.0
    id: int = 0
    #: the lineage (`lineage.py`, as written) of the invocation the record is about: a function
    #: destination's event continues its chain
    lineage: str = ""

    @property
    def service(self) -> str:
        """The target's service (`sqs`, `sns`, `lambda`, `events`, `s3`)."""
        parts = self.target_arn.split(":", 3)
        return parts[2] if len(parts) > 2 else ""


def insert(item: OutboxItem) -> Callable[[sqlite3.Connection], int]:
    def run(conn: sqlite3.Connection) -> int:
        cur = conn.execute(
            "INSERT INTO lambda_outbox (kind, target_arn, region, account, function_arn, condition, body, "
            "attributes, created, attempts, due, lineage) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (item.kind, item.target_arn, item.region, item.account, item.function_arn, item.condition,
             item.body, json.dumps(item.attributes), item.created, item.attempts, item.due, item.lineage),
        )  # fmt: skip
        assert cur.lastrowid is not None
        return cur.lastrowid

    return run


def reschedule(item_id: int, attempts: int, due: float) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE lambda_outbox SET attempts=?, due=? WHERE id=?", (attempts, due, item_id))

    return run


def delete(item_id: int) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM lambda_outbox WHERE id=?", (item_id,))

    return run


def load_all(conn: sqlite3.Connection) -> list[OutboxItem]:
    rows = conn.execute(
        "SELECT kind, target_arn, region, account, function_arn, condition, body, created, attributes, "
        "attempts, due, id, lineage FROM lambda_outbox ORDER BY id"
    )
    return [_item(r) for r in rows]


def _item(r: tuple[Any, ...]) -> OutboxItem:
    attributes = {k: (v[0], v[1]) for k, v in json.loads(r[8]).items()}
    return OutboxItem(
        r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), r[7], attributes, r[9], r[10], r[11], r[12]
    )
