"""Message move tasks' SQL: the schema (its own migration component, `sqs_move`) and the queries
for the tasks StartMessageMoveTask records and the engine in `move_tasks.py` runs, as plain
functions over a sqlite3 connection, run inside `Store.write` or `Store.read`."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

SCHEMA: list[str] = [
    """
    CREATE TABLE sqs_move_tasks (
        task_id TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        source_arn TEXT NOT NULL,
        destination_arn TEXT,
        rate INTEGER,
        status TEXT NOT NULL,
        moved INTEGER NOT NULL DEFAULT 0,
        to_move INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        started REAL NOT NULL,
        next_at REAL NOT NULL,
        failure TEXT
    );
    CREATE INDEX sqs_move_tasks_source ON sqs_move_tasks (region, account, source_arn, started)
    """,
]

RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
CANCELLING = "CANCELLING"
CANCELLED = "CANCELLED"
FAILED = "FAILED"
ACTIVE = (RUNNING, CANCELLING)

_COLS = (
    "task_id, region, account, source_arn, destination_arn, rate, status, moved, to_move, last_seq, "
    "started, next_at, failure"
)


@dataclass(frozen=True)
class MoveTask:
    """A message move task as stored: `last_seq` bounds the source's messages it moves (those in
    the queue when it started); `next_at` is when (on the clock) its next second of moves is due."""

    task_id: str
    region: str
    account: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    status: str
    moved: int
    to_move: int
    last_seq: int
    started: float
    next_at: float
    failure: str | None


def _task(row: sqlite3.Row | tuple[Any, ...]) -> MoveTask:
    return MoveTask(*row)


def insert(conn: sqlite3.Connection, t: MoveTask) -> None:
    conn.execute(
        f"INSERT INTO sqs_move_tasks ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            t.task_id, t.region, t.account, t.source_arn, t.destination_arn, t.rate, t.status,
            t.moved, t.to_move, t.last_seq, t.started, t.next_at, t.failure,
        ),
    )  # fmt: skip


def get(conn: sqlite3.Connection, task_id: str) -> MoveTask | None:
    row = conn.execute(f"SELECT {_COLS} FROM sqs_move_tasks WHERE task_id=?", (task_id,)).fetchone()
    return _task(row) if row else None


def of_source(
    conn: sqlite3.Connection, region: str, account: str, source_arn: str, limit: int
) -> list[MoveTask]:
    """The source queue's latest tasks, most recent first."""
    rows = conn.execute(
        f"SELECT {_COLS} FROM sqs_move_tasks WHERE region=? AND account=? AND source_arn=? "
        "ORDER BY started DESC, rowid DESC LIMIT ?",
        (region, account, source_arn, limit),
    ).fetchall()
    return [_task(r) for r in rows]


def active(conn: sqlite3.Connection) -> list[MoveTask]:
    marks = ",".join("?" * len(ACTIVE))
    rows = conn.execute(
        f"SELECT {_COLS} FROM sqs_move_tasks WHERE status IN ({marks}) ORDER BY started", ACTIVE
    ).fetchall()
    return [_task(r) for r in rows]


def update(
    conn: sqlite3.Connection,
    task_id: str,
    *,
    status: str,
    moved: int,
    next_at: float,
    failure: str | None = None,
) -> None:
    conn.execute(
        "UPDATE sqs_move_tasks SET status=?, moved=?, next_at=?, failure=? WHERE task_id=?",
        (status, moved, next_at, failure, task_id),
    )


def source_state(conn: sqlite3.Connection, queue_id: int, now: float) -> tuple[int, int]:
    """(how many of the queue's messages are visible now, its latest message's seq)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(visible <= ? AND expires > ?), 0), COALESCE(MAX(seq), 0) "
        "FROM sqs_messages WHERE queue_id=?",
        (now, now, queue_id),
    ).fetchone()
    return int(row[0]), int(row[1])


def movable(conn: sqlite3.Connection, queue_id: int, last_seq: int, now: float, limit: int) -> list[str]:
    """The ids of up to `limit` of the queue's visible messages sent before the task started,
    oldest first."""
    rows = conn.execute(
        "SELECT message_id FROM sqs_messages WHERE queue_id=? AND seq <= ? AND visible <= ? AND expires > ? "
        "ORDER BY seq LIMIT ?",
        (queue_id, last_seq, now, now, limit),
    ).fetchall()
    return [str(r[0]) for r in rows]
