"""SNS SQL: topics, subscriptions, published messages and their deliveries, as plain functions over
a sqlite3 connection run inside `Store.write` (group commit) or `Store.read`.

A Publish writes its message and one delivery row per matching subscription in one transaction;
a delivery row goes when it is done with (delivered, sent to a dead-letter queue, or dropped),
and the message with its last delivery.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lambdabox.sns.models import Delivery, MessageAttributes, Published, Subscription, Topic

SCHEMA: list[str] = [
    """
    CREATE TABLE sns_topics (
        arn TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        attributes TEXT NOT NULL,
        tags TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE sns_subscriptions (
        arn TEXT PRIMARY KEY,
        topic_arn TEXT NOT NULL REFERENCES sns_topics (arn) ON DELETE CASCADE,
        owner TEXT NOT NULL,
        protocol TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        attributes TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX sns_subscriptions_topic ON sns_subscriptions (topic_arn);
    CREATE TABLE sns_messages (
        message_id TEXT PRIMARY KEY,
        topic_arn TEXT NOT NULL,
        account TEXT NOT NULL,
        message TEXT NOT NULL,
        subject TEXT,
        structure TEXT,
        attributes TEXT NOT NULL,
        timestamp REAL NOT NULL
    );
    CREATE TABLE sns_deliveries (
        id INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL REFERENCES sns_messages (message_id),
        subscription_arn TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due REAL NOT NULL
    );
    CREATE INDEX sns_deliveries_message ON sns_deliveries (message_id)
    """,
    # HTTP/S subscriptions wait for their confirmation; confirmations are messages too; the key
    # and certificate that sign every envelope
    """
    ALTER TABLE sns_subscriptions ADD COLUMN token TEXT;
    ALTER TABLE sns_subscriptions ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sns_messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'Notification';
    ALTER TABLE sns_messages ADD COLUMN token TEXT;
    ALTER TABLE sns_messages ADD COLUMN endpoint TEXT;
    CREATE TABLE sns_signing (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key_pem BLOB NOT NULL,
        cert_pem BLOB NOT NULL
    )
    """,
]

_TCOLS = "region, account, name, attributes, tags, created"
_SCOLS = "arn, topic_arn, owner, protocol, endpoint, attributes, created, token, pending"
_MCOLS = (
    "m.message_id, m.topic_arn, m.account, m.message, m.subject, m.structure, m.attributes, m.timestamp, "
    "m.kind, m.token, m.endpoint"
)


def _topic(r: tuple[Any, ...]) -> Topic:
    return Topic(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), r[5])


def _subscription(r: tuple[Any, ...]) -> Subscription:
    return Subscription(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], bool(r[8]))


# ------------------------------------------------------------------------------------------------
# topics
# ------------------------------------------------------------------------------------------------


def get_topic(conn: sqlite3.Connection, arn: str) -> Topic | None:
    row = conn.execute(f"SELECT {_TCOLS} FROM sns_topics WHERE arn=?", (arn,)).fetchone()
    return _topic(row) if row else None


def create_topic(topic: Topic) -> Callable[[sqlite3.Connection], tuple[Topic, bool]]:
    """The topic (created unless one of its ARN exists) and whether it was created."""

    def run(conn: sqlite3.Connection) -> tuple[Topic, bool]:
        have = get_topic(conn, topic.arn)
        if have is not None:
            return have, False
        conn.execute(
            f"INSERT INTO sns_topics (arn, {_TCOLS}) VALUES (?,?,?,?,?,?,?)",
            (topic.arn, topic.region, topic.account, topic.name, json.dumps(topic.attributes),
             json.dumps(topic.tags), topic.created),
        )  # fmt: skip
        return topic, True

    return run


def list_topics(conn: sqlite3.Connection, region: str, account: str, after: str, limit: int) -> list[str]:
    rows = conn.execute(
        "SELECT arn FROM sns_topics WHERE region=? AND account=? AND arn>? ORDER BY arn LIMIT ?",
        (region, account, after, limit),
    )
    return [r[0] for r in rows]


def delete_topic(arn: str) -> Callable[[sqlite3.Connection], None]:
    """The topic and its subscriptions (deliveries still owed to them are dropped when due)."""

    def run(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM sns_subscriptions WHERE topic_arn=?", (arn,))
        conn.execute("DELETE FROM sns_topics WHERE arn=?", (arn,))

    return run


def update_topic(
    arn: str, *, attributes: dict[str, str] | None = None, tags: dict[str, str] | None = None
) -> Callable[[sqlite3.Connection], bool]:
    """Replace the topic's attributes or tags; False when there is no such topic."""

    def run(conn: sqlite3.Connection) -> bool:
        if attributes is not None:
            cur = conn.execute(
                "UPDATE sns_topics SET attributes=? WHERE arn=?", (json.dumps(attributes), arn)
            )
        else:
            cur = conn.execute("UPDATE sns_topics SET tags=? WHERE arn=?", (json.dumps(tags), arn))
        return cur.rowcount > 0

    return run


def subscription_counts(conn: sqlite3.Connection, topic_arn: str) -> tuple[int, int]:
    """(confirmed, pending) subscriptions of the topic."""
    row = conn.execute(
        "SELECT count(*) - coalesce(sum(pending), 0), coalesce(sum(pending), 0) FROM sns_subscriptions "
        "WHERE topic_arn=?",
        (topic_arn,),
    ).fetchone()
    return int(row[0]), int(row[1])


# ------------------------------------------------------------------------------------------------
# subscriptions
# ------------------------------------------------------------------------------------------------


def get_subscription(conn: sqlite3.Connection, arn: str) -> Subscription | None:
    row = conn.execute(f"SELECT {_SCOLS} FROM sns_subscriptions WHERE arn=?", (arn,)).fetchone()
    return _subscription(row) if row else None


def find_subscription(
    conn: sqlite3.Connection, topic_arn: str, protocol: str, endpoint: str
) -> Subscription | None:
    row = conn.execute(
        f"SELECT {_SCOLS} FROM sns_subscriptions WHERE topic_arn=? AND protocol=? AND endpoint=?",
        (topic_arn, protocol, endpoint),
    ).fetchone()
    return _subscription(row) if row else None


def subscriptions_of(conn: sqlite3.Connection, topic_arn: str) -> list[Subscription]:
    rows = conn.execute(
        f"SELECT {_SCOLS} FROM sns_subscriptions WHERE topic_arn=? ORDER BY arn", (topic_arn,)
    )
    return [_subscription(r) for r in rows]


def list_subscriptions(
    conn: sqlite3.Connection, region: str, account: str, after: str, limit: int
) -> list[Subscription]:
    """The account's subscriptions in the region (to its own topics), by ARN."""
    rows = conn.execute(
        f"SELECT {_SCOLS} FROM sns_subscriptions WHERE arn LIKE ? AND arn>? ORDER BY arn LIMIT ?",
        (f"arn:aws:sns:{region}:{account}:%", after, limit),
    )
    return [_subscription(r) for r in rows]


def add_subscription(sub: Subscription) -> Callable[[sqlite3.Connection], bool]:
    """Store the subscription; False when its topic is gone."""

    def run(conn: sqlite3.Connection) -> bool:
        if get_topic(conn, sub.topic_arn) is None:
            return False
        conn.execute(
            f"INSERT INTO sns_subscriptions ({_SCOLS}) VALUES (?,?,?,?,?,?,?,?,?)",
            (sub.arn, sub.topic_arn, sub.owner, sub.protocol, sub.endpoint, json.dumps(sub.attributes),
             sub.created, sub.token, int(sub.pending)),
        )  # fmt: skip
        return True

    return run


def confirm(
    topic_arn: str, token: str, attributes: dict[str, str]
) -> Callable[[sqlite3.Connection], Subscription | None]:
    """Confirm the topic's subscription `token` confirms, with `attributes` added (a confirmed one
    is left as it is); None when no subscription has that token."""

    def run(conn: sqlite3.Connection) -> Subscription | None:
        row = conn.execute(
            f"SELECT {_SCOLS} FROM sns_subscriptions WHERE topic_arn=? AND token=?", (topic_arn, token)
        ).fetchone()
        if row is None:
            return None
        sub = _subscription(row)
        if not sub.pending:
            return sub
        merged = {**sub.attributes, **attributes}
        conn.execute(
            "UPDATE sns_subscriptions SET pending=0, attributes=? WHERE arn=?", (json.dumps(merged), sub.arn)
        )
        return replace(sub, pending=False, attributes=merged)

    return run


def set_subscription_attributes(arn: str, attributes: dict[str, str]) -> Callable[[sqlite3.Connection], bool]:
    def run(conn: sqlite3.Connection) -> bool:
        cur = conn.execute(
            "UPDATE sns_subscriptions SET attributes=? WHERE arn=?", (json.dumps(attributes), arn)
        )
        return cur.rowcount > 0

    return run


def delete_subscription(arn: str) -> Callable[[sqlite3.Connection], bool]:
    def run(conn: sqlite3.Connection) -> bool:
        return conn.execute("DELETE FROM sns_subscriptions WHERE arn=?", (arn,)).rowcount > 0

    return run


# ------------------------------------------------------------------------------------------------
# messages and deliveries
# ------------------------------------------------------------------------------------------------


def _encode_attributes(attributes: MessageAttributes) -> str:
    out: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        v = dict(value)
        if isinstance(v.get("BinaryValue"), bytes | bytearray):
            v["BinaryValue"] = base64.b64encode(bytes(v["BinaryValue"])).decode()
        out[name] = v
    return json.dumps(out)


def _decode_attributes(text: str) -> MessageAttributes:
    out: MessageAttributes = json.loads(text)
    for v in out.values():
        if "BinaryValue" in v:
            v["BinaryValue"] = base64.b64decode(v["BinaryValue"])
    return out


def publish(
    message: Published, subscription_arns: list[str], due: float
) -> Callable[[sqlite3.Connection], list[Delivery]]:
    """Store the message and one delivery per subscription (none stored when there are none)."""

    def run(conn: sqlite3.Connection) -> list[Delivery]:
        if not subscription_arns:
            return []
        conn.execute(
            "INSERT INTO sns_messages (message_id, topic_arn, account, message, subject, structure, "
            "attributes, timestamp, kind, token, endpoint) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (message.message_id, message.topic_arn, message.account, message.message, message.subject,
             message.structure, _encode_attributes(message.attributes), message.timestamp, message.kind,
             message.token, message.endpoint),
        )  # fmt: skip
        out = []
        for arn in subscription_arns:
            cur = conn.execute(
                "INSERT INTO sns_deliveries (message_id, subscription_arn, due) VALUES (?,?,?)",
                (message.message_id, arn, due),
            )
            assert cur.lastrowid is not None
            out.append(Delivery(cur.lastrowid, arn, message, 0, due))
        return out

    return run


def publish_all(
    batch: list[tuple[Published, list[str]]], due: float
) -> Callable[[sqlite3.Connection], list[Delivery]]:
    """`publish` for several messages in one transaction."""

    def run(conn: sqlite3.Connection) -> list[Delivery]:
        return [d for message, arns in batch for d in publish(message, arns, due)(conn)]

    return run


def reschedule(delivery_id: int, attempts: int, due: float) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE sns_deliveries SET attempts=?, due=? WHERE id=?", (attempts, due, delivery_id))

    return run


def done(delivery_id: int, message_id: str) -> Callable[[sqlite3.Connection], None]:
    """The delivery is done with; the message goes with its last delivery."""

    def run(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM sns_deliveries WHERE id=?", (delivery_id,))
        left = conn.execute(
            "SELECT 1 FROM sns_deliveries WHERE message_id=? LIMIT 1", (message_id,)
        ).fetchone()
        if left is None:
            conn.execute("DELETE FROM sns_messages WHERE message_id=?", (message_id,))

    return run


def load_deliveries(conn: sqlite3.Connection) -> list[Delivery]:
    """Every delivery still owed, oldest first."""
    rows = conn.execute(
        f"SELECT d.id, d.subscription_arn, d.attempts, d.due, {_MCOLS} FROM sns_deliveries d "
        "JOIN sns_messages m ON m.message_id = d.message_id ORDER BY d.id"
    )
    out = []
    for r in rows:
        message = Published(
            r[4], r[5], r[6], r[7], r[8], r[9], _decode_attributes(r[10]), r[11], r[12], r[13], r[14]
        )
        out.append(Delivery(r[0], r[1], message, r[2], r[3]))
    return out
