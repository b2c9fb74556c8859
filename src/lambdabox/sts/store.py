"""STS SQL: the schema and queries for issued sessions, as plain functions over a sqlite3 connection.

Run inside `Store.write` (writer thread, group commit) or `Store.read` (reader thread).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from lambdabox.sts.models import Identity, Session

SCHEMA: list[str] = [
    """
    CREATE TABLE sts_sessions (
        access_key_id TEXT PRIMARY KEY,
        secret_access_key TEXT NOT NULL,
        session_token TEXT NOT NULL,
        kind TEXT NOT NULL,
        account TEXT NOT NULL,
        arn TEXT NOT NULL,
        user_id TEXT NOT NULL,
        issued REAL NOT NULL,
        expiration REAL NOT NULL,
        source_key TEXT,
        role_arn TEXT,
        session_name TEXT,
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX sts_sessions_expiration ON sts_sessions (expiration)
    """,
]

_COLS = (
    "access_key_id, secret_access_key, session_token, kind, account, arn, user_id, issued, "
    "expiration, source_key, role_arn, session_name, details"
)


def insert_session(conn: sqlite3.Connection, s: Session) -> None:
    conn.execute(
        f"INSERT INTO sts_sessions ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            s.access_key_id,
            s.secret_access_key,
            s.session_token,
            s.kind,
            s.identity.account,
            s.identity.arn,
            s.identity.user_id,
            s.issued,
            s.expiration,
            s.source_key,
            s.role_arn,
            s.session_name,
            json.dumps(dict(s.details)),
        ),
    )


def _session(row: sqlite3.Row | tuple[Any, ...]) -> Session:
    return Session(
        access_key_id=row[0],
        secret_access_key=row[1],
        session_token=row[2],
        kind=row[3],
        identity=Identity(user_id=row[6], account=row[4], arn=row[5]),
        issued=row[7],
        expiration=row[8],
        source_key=row[9],
        role_arn=row[10],
        session_name=row[11],
        details=json.loads(row[12]),
    )


def get_session(conn: sqlite3.Connection, access_key_id: str) -> Session | None:
    row = conn.execute(f"SELECT {_COLS} FROM sts_sessions WHERE access_key_id=?", (access_key_id,)).fetchone()
    return _session(row) if row else None
