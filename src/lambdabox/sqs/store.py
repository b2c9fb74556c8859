"""SQS SQL: the schema and queries for queues and their messages, as plain functions over a sqlite3
connection, run inside `Store.write` (writer thread, group commit) or `Store.read`.

A FIFO queue's messages also carry their group, deduplication id and sequence number; the
deduplication ids a FIFO queue saw in the last five minutes are kept in `sqs_dedup` (past the
messages' deletion, as on AWS), and a receive from a FIFO queue hands out each message group's
messages in order, none of a group while one of its messages is in flight."""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from typing import Any

from lambdabox.sqs.models import DEDUPLICATION_WINDOW, Counts, Message, MessageAttributes, Queue

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
    """
    ALTER TABLE sqs_messages ADD COLUMN group_id TEXT;
    ALTER TABLE sqs_messages ADD COLUMN dedup_id TEXT;
    ALTER TABLE sqs_messages ADD COLUMN sequence_number TEXT;
    ALTER TABLE sqs_queues ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE sqs_dedup (
        queue_id INTEGER NOT NULL,
        scope TEXT NOT NULL,
        dedup_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        sequence_number TEXT NOT NULL,
        expires REAL NOT NULL,
        PRIMARY KEY (queue_id, scope, dedup_id)
    );
    CREATE INDEX sqs_messages_fifo ON sqs_messages (queue_id, seq) WHERE group_id IS NOT NULL;
    CREATE INDEX sqs_messages_fifo_group ON sqs_messages (queue_id, group_id, seq) WHERE group_id IS NOT NULL
    """,
]

_QCOLS = "id, region, account, name, attributes, created, modified, tags, purged"
_MCOLS = (
    "queue_id, message_id, body, attributes, md5_body, md5_attributes, sender_id, sent, visible, "
    "expires, receive_count, first_receive, receipt, seq, dead_letter_source, aws_trace_header, "
    "group_id, dedup_id, sequence_number"
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
        row[9], row[10], row[11], row[12], row[13], row[14], row[15], row[16], row[17], row[18],
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
    conn.execute("DELETE FROM sqs_dedup WHERE queue_id=?", (queue_id,))
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
        m.sender_id, m.sent, m.visible, m.expires, m.trace_header, m.group_id, m.dedup_id, m.sequence,
    )  # fmt: skip


#: the first SequenceNumber of a FIFO queue (AWS's are large, 20-digit, increasing numbers)
_FIRST_SEQUENCE = 18_000_000_000_000_000_000


def insert_messages(conn: sqlite3.Connection, queue_id: int, ms: list[Message]) -> list[Message]:
    """The messages, unless their queue was deleted meanwhile (LookupError); those of a FIFO queue
    numbered, and those whose deduplication id the queue saw within five minutes not inserted but
    answered as the original (its MessageId and SequenceNumber). Returns the messages inserted."""
    row = conn.execute("SELECT name, attributes, sequence FROM sqs_queues WHERE id=?", (queue_id,)).fetchone()
    if row is None:
        raise LookupError(queue_id)
    fresh = ms
    if str(row[0]).endswith(".fifo"):
        by_group = json.loads(row[1]).get("DeduplicationScope") == "messageGroup"
        fresh = _deduplicated(conn, queue_id, ms, int(row[2]), by_group)
    conn.executemany(
        "INSERT INTO sqs_messages (queue_id, message_id, body, attributes, md5_body, md5_attributes, "
        "sender_id, sent, visible, expires, aws_trace_header, group_id, dedup_id, sequence_number) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [_insert_row(m) for m in fresh],
    )
    return fresh


def _deduplicated(
    conn: sqlite3.Connection, queue_id: int, ms: list[Message], sequence: int, by_group: bool
) -> list[Message]:
    """The messages not seen within the deduplication window, each given its SequenceNumber and
    remembered; the others take the MessageId and SequenceNumber of the message first sent."""
    fresh = []
    for m in ms:
        now = m.sent
        scope = (m.group_id or "") if by_group else ""
        seen = conn.execute(
            "SELECT message_id, sequence_number FROM sqs_dedup "
            "WHERE queue_id=? AND scope=? AND dedup_id=? AND expires > ?",
            (queue_id, scope, m.dedup_id, now),
        ).fetchone()
        if seen is not None:
            m.message_id, m.sequence = seen[0], seen[1]
            continue
        sequence += 1
        m.sequence = str(_FIRST_SEQUENCE + sequence * 1_000)
        conn.execute(
            "INSERT OR REPLACE INTO sqs_dedup (queue_id, scope, dedup_id, message_id, sequence_number, expires) "
            "VALUES (?,?,?,?,?,?)",
            (queue_id, scope, m.dedup_id, m.message_id, m.sequence, now + DEDUPLICATION_WINDOW),
        )
        fresh.append(m)
    conn.execute("UPDATE sqs_queues SET sequence=? WHERE id=?", (sequence, queue_id))
    if ms:
        conn.execute("DELETE FROM sqs_dedup WHERE queue_id=? AND expires <= ?", (queue_id, ms[0].sent))
    return fresh


def _fifo_pick(conn: sqlite3.Connection, queue_id: int, now: float, limit: int) -> list[int]:
    """The seqs a FIFO receive takes: of each message group with no message in flight, its
    messages in order up to the first one not yet visible (a delayed one); groups by their oldest
    message, as many of one group as `limit` allows before the next group's."""
    rows = conn.execute(
        "SELECT seq, group_id, visible FROM sqs_messages WHERE queue_id=? AND group_id IS NOT NULL "
        "AND group_id NOT IN (SELECT group_id FROM sqs_messages WHERE queue_id=? AND group_id IS NOT NULL "
        "AND visible > ? AND receive_count > 0) ORDER BY seq",
        (queue_id, queue_id, now),
    )
    groups: dict[str, None] = {}  # the receivable groups, by their oldest message
    closed: set[str] = set()
    found = 0
    for _, group, visible in rows:
        if group in closed:
            continue
        if visible > now:
            closed.add(group)  # a delayed message holds back the rest of its group
            continue
        groups[group] = None
        found += 1
        if found >= limit:
            break
    out: list[int] = []
    for group in groups:
        for seq, visible in conn.execute(
            "SELECT seq, visible FROM sqs_messages WHERE queue_id=? AND group_id=? ORDER BY seq LIMIT ?",
            (queue_id, group, limit - len(out)),
        ):
            if visible > now:
                break
            out.append(seq)
        if len(out) >= limit:
            break
    return out


def receive(
    conn: sqlite3.Connection,
    queue_id: int,
    now: float,
    limit: int,
    visibility: float,
    fifo: bool = False,
    sweep: bool = True,
) -> tuple[list[Message], float | None]:
    """Up to `limit` visible messages, now hidden for `visibility` seconds with a new receipt each
    (a FIFO queue's in each group's order, see `_fifo_pick`); and when the next hidden message
    becomes visible (None: none is hidden). With `sweep` (always on a FIFO queue), expired ones
    go (a scan of the queue's messages); a standard queue's are never received either way."""
    if sweep or fifo:
        conn.execute("DELETE FROM sqs_messages WHERE queue_id=? AND expires <= ?", (queue_id, now))
    if fifo:
        seqs = _fifo_pick(conn, queue_id, now, limit)
        marks = ",".join("?" * len(seqs))
        found = conn.execute(f"SELECT {_MCOLS} FROM sqs_messages WHERE seq IN ({marks})", seqs).fetchall()
        by_seq = {r[13]: r for r in found}
        rows = [by_seq[n] for n in seqs]  # group by group, each in order
    else:
        rows = conn.execute(
            f"SELECT {_MCOLS} FROM sqs_messages WHERE queue_id=? AND visible <= ? AND expires > ? "
            "ORDER BY visible, seq LIMIT ?",
            (queue_id, now, now, limit),
        ).fetchall()
    return _received(conn, queue_id, [_message(r) for r in rows], now, visibility)


def _received(
    conn: sqlite3.Connection, queue_id: int, ms: list[Message], now: float, visibility: float
) -> tuple[list[Message], float | None]:
    tokens = secrets.token_hex(16 * len(ms))
    for i, m in enumerate(ms):
        m.receive_count += 1
        m.first_receive = m.first_receive if m.first_receive is not None else now
        m.visible = now + visibility
        m.receipt = tokens[32 * i : 32 * (i + 1)]
    conn.executemany(
        "UPDATE sqs_messages SET receive_count=?, first_receive=?, visible=?, receipt=? WHERE seq=?",
        [(m.receive_count, m.first_receive, m.visible, m.receipt, m.seq) for m in ms],
    )
    out = list(ms)
    nxt = conn.execute(
        "SELECT MIN(visible) FROM sqs_messages WHERE queue_id=? AND visible > ?", (queue_id, now)
    ).fetchone()[0]
    return out, nxt


def receive_again(
    conn: sqlite3.Connection, queue_id: int, tokens: list[tuple[str, str]], now: float, visibility: float
) -> list[Message]:
    """A retried FIFO receive (the same ReceiveRequestAttemptId): the messages of the first attempt
    (message id, receipt token) still in flight under that receipt, hidden for `visibility` again
    from now, their receipts and receive counts unchanged; [] when none is."""
    out = []
    for message_id, token in tokens:
        m = message(conn, queue_id, message_id)
        if m is None or m.receipt != token or m.visible <= now:
            return []
        m.visible = now + visibility
        conn.execute("UPDATE sqs_messages SET visible=? WHERE seq=?", (m.visible, m.seq))
        out.append(m)
    return out


def message(conn: sqlite3.Connection, queue_id: int, message_id: str) -> Message | None:
    row = conn.execute(
        f"SELECT {_MCOLS} FROM sqs_messages WHERE queue_id=? AND message_id=?", (queue_id, message_id)
    ).fetchone()
    return _message(row) if row else None


def delete_messages(
    conn: sqlite3.Connection, queue_id: int, message_ids: list[str], tokens: list[str] | None = None
) -> None:
    """Delete the messages; with `tokens` (a FIFO queue's), each only while that receipt token is
    its latest receive's (an earlier receive's handle then deletes nothing, as AWS documents)."""
    if tokens is not None:
        conn.executemany(
            "DELETE FROM sqs_messages WHERE queue_id=? AND message_id=? AND receipt=?",
            [(queue_id, m, t) for m, t in zip(message_ids, tokens, strict=True)],
        )
        return
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
