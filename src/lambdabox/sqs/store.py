"""SQS SQL: the schema and queries for queues and their messages, as plain functions over a sqlite3
connection, run inside `Store.write` (writer thread, group commit) or `Store.read`."""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from typing import Any

from lambdabox.sqs.models import Counts, Message, MessageAttributes, Queue

SCHEMA: list[str] = [
    """
    CREATE TABLE sqs_queues (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        attributes TEXT NOT NULL,
        created REAL NOT NULL,
        modified REAL NOT NULL,
        UNIQUE (region, account, name)
    );
    CREATE TABLE sqs_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue_id INTEGER NOT NULL REFERENCES sqs_queues (id) ON DELETE CASCADE,
        message_id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        attributes TEXT NOT NULL,
        md5_body TEXT NOT NULL,
        md5_attributes TEXT,
        sender_id TEXT NOT NULL,
        sent REAL NOT NULL,
        visible REAL NOT NULL,
        expires REAL NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        first_receive REAL,
        receipt TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX sqs_messages_visible ON sqs_messages (queue_id, visible)
    """,
    """
    ALTER TABLE sqs_queues ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE sqs_queues ADD COLUMN purged REAL;
    ALTER TABLE sqs_messages ADD COLUMN dead_letter_source TEXT;
    ALTER TABLE sqs_messages ADD COLUMN aws_trace_header TEXT
    """,
    """
    CREATE TABLE sqs_secret (key BLOB NOT NULL);
    INSERT INTO sqs_secret (key) VALUES (randomblob(32))
    """,
]

_QCOLS = "id, region, account, name, attributes, created, modified, tags, purged"
_MCOLS = (
    "queue_id, message_id, body, attributes, md5_body, md5_attributes, sender_id, sent, visible, "
    "expires, receive_count, first_receive, receipt, seq, dead_letter_source, aws_trace_header"
)


def _queue(row: sqlite3.Row | tuple[Any, ...]) -> Queue:
    return Queue(
        row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], json.loads(row[7]), row[8]
    )


def _encode_attributes(attributes: MessageAttributes) -> str:
    out = {}
    for name, value in attributes.items():
        v = dict(value)
        if "BinaryValue" in v:
            v["BinaryValue"] = base64.b64encode(bytes(v["BinaryValue"])).decode()
        out[name] = v
    return json.dumps(out)


def _decode_attributes(text: str) -> MessageAttributes:
    out: MessageAttributes = json.loads(text)
    for value in out.values():
        if "BinaryValue" in value:
            value["BinaryValue"] = base64.b64decode(value["BinaryValue"])
    return out


def _message(row: sqlite3.Row | tuple[Any, ...]) -> Message:
    return Message(
        row[0], row[1], row[2], _decode_attributes(row[3]), row[4], row[5], row[6], row[7], row[8],
        row[9], row[10], row[11], row[12], row[13], row[14], row[15],
    )  # fmt: skip


def get_queue(conn: sqlite3.Connection, region: str, account: str, name: str) -> Queue | None:
    row = conn.execute(
        f"SELECT {_QCOLS} FROM sqs_queues WHERE region=? AND account=? AND name=?", (region, account, name)
    ).fetchone()
    return _queue(row) if row else None


def create_queue(
    conn: sqlite3.Connection,
    region: str,
    account: str,
    name: str,
    attributes: dict[str, str],
    tags: dict[str, str],
    now: float,
) -> tuple[Queue, bool]:
    """(the queue, whether it was created): an existing queue of that name is returned as it is."""
    found = get_queue(conn, region, account, name)
    if found is not None:
        return found, False
    cur = conn.execute(
        "INSERT INTO sqs_queues (region, account, name, attributes, created, modified, tags) "
        "VALUES (?,?,?,?,?,?,?)",
        (region, account, name, json.dumps(attributes), now, now, json.dumps(tags)),
    )
    return Queue(int(cur.lastrowid or 0), region, account, name, attributes, now, now, tags), True


def queues(conn: sqlite3.Connection, region: str, account: str) -> list[Queue]:
    rows = conn.execute(
        f"SELECT {_QCOLS} FROM sqs_queues WHERE region=? AND account=? ORDER BY name", (region, account)
    ).fetchall()
    return [_queue(r) for r in rows]


def set_attributes(conn: sqlite3.Connection, queue_id: int, attributes: dict[str, str], now: float) -> None:
    conn.execute(
        "UPDATE sqs_queues SET attributes=?, modified=? WHERE id=?", (json.dumps(attributes), now, queue_id)
    )


def set_tags(conn: sqlite3.Connection, queue_id: int, tags: dict[str, str]) -> None:
    conn.execute("UPDATE sqs_queues SET tags=? WHERE id=?", (json.dumps(tags), queue_id))


def purge(conn: sqlite3.Connection, queue_id: int, now: float) -> None:
    conn.execute("DELETE FROM sqs_messages WHERE queue_id=?", (queue_id,))
    conn.execute("UPDATE sqs_queues SET purged=? WHERE id=?", (now, queue_id))


def list_queues(conn: sqlite3.Connection, region: str, account: str, prefix: str) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqs_queues WHERE region=? AND account=? AND substr(name, 1, ?)=? ORDER BY name",
        (region, account, len(prefix), prefix),
    ).fetchall()
    return [r[0] for r in rows]


def delete_queue(conn: sqlite3.Connection, queue_id: int) -> None:
    conn.execute("DELETE FROM sqs_messages WHERE queue_id=?", (queue_id,))
    conn.execute("DELETE FROM sqs_queues WHERE id=?", (queue_id,))


def counts(conn: sqlite3.Connection, queue_id: int, now: float) -> Counts:
    row = conn.execute(
        "SELECT "
        "COALESCE(SUM(visible <= ?), 0), "
        "COALESCE(SUM(visible > ? AND receive_count > 0), 0), "
        "COALESCE(SUM(visible > ? AND receive_count = 0), 0) "
        "FROM sqs_messages WHERE queue_id=? AND expires > ?",
        (now, now, now, queue_id, now),
    ).fetchone()
    return Counts(int(row[0]), int(row[1]), int(row[2]))


def _insert_row(m: Message) -> tuple[Any, ...]:
    return (
        m.queue_id, m.message_id, m.body, _encode_attributes(m.attributes), m.md5_body, m.md5_attributes,
        m.sender_id, m.sent, m.visible, m.expires, m.trace_header,
    )  # fmt: skip


def insert_messages(conn: sqlite3.Connection, queue_id: int, ms: list[Message]) -> None:
    """The messages, unless their queue was deleted meanwhile (LookupError)."""
    if conn.execute("SELECT 1 FROM sqs_queues WHERE id=?", (queue_id,)).fetchone() is None:
        raise LookupError(queue_id)
    conn.executemany(
        "INSERT INTO sqs_messages (queue_id, message_id, body, attributes, md5_body, md5_attributes, "
        "sender_id, sent, visible, expires, aws_trace_header) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [_insert_row(m) for m in ms],
    )


def receive(
    conn: sqlite3.Connection, queue_id: int, now: float, limit: int, visibility: float
) -> tuple[list[Message], float | None]:
    """Up to `limit` visible messages, now hidden for `visibility` seconds with a new receipt each;
    and when the next hidden message becomes visible (None: none is hidden). Expired ones go."""
    conn.execute("DELETE FROM sqs_messages WHERE queue_id=? AND expires <= ?", (queue_id, now))
    rows = conn.execute(
        f"SELECT {_MCOLS} FROM sqs_messages WHERE queue_id=? AND visible <= ? ORDER BY visible, seq LIMIT ?",
        (queue_id, now, limit),
    ).fetchall()
    out = []
    for row in rows:
        m = _message(row)
        m.receive_count += 1
        m.first_receive = m.first_receive if m.first_receive is not None else now
        m.visible = now + visibility
        m.receipt = secrets.token_hex(16)
        conn.execute(
            "UPDATE sqs_messages SET receive_count=?, first_receive=?, visible=?, receipt=? WHERE seq=?",
            (m.receive_count, m.first_receive, m.visible, m.receipt, m.seq),
        )
        out.append(m)
    nxt = conn.execute(
        "SELECT MIN(visible) FROM sqs_messages WHERE queue_id=? AND visible > ?", (queue_id, now)
    ).fetchone()[0]
    return out, nxt


def message(conn: sqlite3.Connection, queue_id: int, message_id: str) -> Message | None:
    row = conn.execute(
        f"SELECT {_MCOLS} FROM sqs_messages WHERE queue_id=? AND message_id=?", (queue_id, message_id)
    ).fetchone()
    return _message(row) if row else None


def delete_messages(conn: sqlite3.Connection, queue_id: int, message_ids: list[str]) -> None:
    conn.executemany(
        "DELETE FROM sqs_messages WHERE queue_id=? AND message_id=?", [(queue_id, m) for m in message_ids]
    )


def set_visible(
    conn: sqlite3.Connection, queue_id: int, message_id: str, token: str, now: float, at: float
) -> str:
    """Hide an in-flight message until `at`: "ok", "gone" (no such message, or received again
    since this receipt) or "not-in-flight"."""
    m = message(conn, queue_id, message_id)
    if m is None or m.receipt != token:
        return "gone"
    if m.visible <= now:
        return "not-in-flight"
    conn.execute("UPDATE sqs_messages SET visible=? WHERE seq=?", (at, m.seq))
    return "ok"
