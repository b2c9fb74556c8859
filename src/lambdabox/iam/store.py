"""IAM SQL: the schema and every query, as plain functions over a sqlite3 connection.

Functions here run inside `Store.write` (one group commit; checks and changes in one savepoint)
or `Store.read`. Names are unique per account regardless of case, as IAM's are; policy versions,
inline policies and attachments refer to their owner by row id and go with it.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from lambdabox.iam.models import AccessKey, ManagedPolicy, PolicyVersion, Role, Tags, User

SCHEMA: list[str] = [
    """
    CREATE TABLE iam_roles (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        name TEXT NOT NULL COLLATE NOCASE,
        path TEXT NOT NULL,
        role_id TEXT NOT NULL,
        create_date REAL NOT NULL,
        trust_policy TEXT NOT NULL,
        description TEXT,
        max_session_duration INTEGER NOT NULL,
        permissions_boundary TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        UNIQUE (account, name)
    );
    CREATE TABLE iam_role_policies (
        role INTEGER NOT NULL REFERENCES iam_roles (id) ON DELETE CASCADE,
        name TEXT NOT NULL COLLATE NOCASE,
        document TEXT NOT NULL,
        PRIMARY KEY (role, name)
    );
    CREATE TABLE iam_policies (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        arn TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL COLLATE NOCASE,
        path TEXT NOT NULL,
        policy_id TEXT NOT NULL,
        default_version TEXT NOT NULL,
        next_version INTEGER NOT NULL,
        description TEXT,
        create_date REAL NOT NULL,
        update_date REAL NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        UNIQUE (account, name)
    );
    CREATE TABLE iam_policy_versions (
        policy INTEGER NOT NULL REFERENCES iam_policies (id) ON DELETE CASCADE,
        version_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        document TEXT NOT NULL,
        create_date REAL NOT NULL,
        PRIMARY KEY (policy, version_id)
    );
    CREATE TABLE iam_attachments (
        role INTEGER NOT NULL REFERENCES iam_roles (id) ON DELETE CASCADE,
        account TEXT NOT NULL,
        policy_arn TEXT NOT NULL,
        attached_at INTEGER NOT NULL,
        PRIMARY KEY (role, policy_arn)
    );
    CREATE INDEX iam_attachments_arn ON iam_attachments (account, policy_arn);
    CREATE TABLE iam_users (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        name TEXT NOT NULL COLLATE NOCASE,
        path TEXT NOT NULL,
        user_id TEXT NOT NULL,
        create_date REAL NOT NULL,
        permissions_boundary TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        UNIQUE (account, name)
    );
    CREATE TABLE iam_access_keys (
        key_id TEXT PRIMARY KEY,
        owner INTEGER NOT NULL REFERENCES iam_users (id),
        secret TEXT NOT NULL,
        status TEXT NOT NULL,
        create_date REAL NOT NULL
    );
    CREATE INDEX iam_access_keys_user ON iam_access_keys (owner)
    """,
    # deleted access keys are remembered, so that they are refused rather than taken for root keys
    """
    CREATE TABLE iam_deleted_keys (
        key_id TEXT PRIMARY KEY,
        account TEXT NOT NULL
    )
    """,
]

Conn = sqlite3.Connection


def _tags(text: str) -> Tags:
    value: Tags = json.loads(text)
    return value


# -- roles ---------------------------------------------------------------------------------------

_ROLE_COLS = (
    "id, account, name, path, role_id, create_date, trust_policy, description, "
    "max_session_duration, permissions_boundary, tags"
)


def _role(r: sqlite3.Row) -> Role:
    return Role(
        pk=r["id"],
        account=r["account"],
        name=r["name"],
        path=r["path"],
        role_id=r["role_id"],
        create_date=r["create_date"],
        trust_policy=r["trust_policy"],
        description=r["description"],
        max_session_duration=r["max_session_duration"],
        permissions_boundary=r["permissions_boundary"],
        tags=_tags(r["tags"]),
    )


def insert_role(c: Conn, role: Role) -> bool:
    """False if the account has a role of that name already."""
    cur = c.execute(
        "INSERT INTO iam_roles (account, name, path, role_id, create_date, trust_policy, description,"
        " max_session_duration, permissions_boundary, tags) VALUES (?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (account, name) DO NOTHING",
        (
            role.account, role.name, role.path, role.role_id, role.create_date, role.trust_policy,
            role.description, role.max_session_duration, role.permissions_boundary, json.dumps(role.tags),
        ),
    )  # fmt: skip
    return cur.rowcount == 1


def get_role(c: Conn, account: str, name: str) -> Role | None:
    row = c.execute(
        f"SELECT {_ROLE_COLS} FROM iam_roles WHERE account = ? AND name = ?", (account, name)
    ).fetchone()
    return _role(row) if row else None


def list_roles(c: Conn, account: str, path_prefix: str) -> list[Role]:
    rows = c.execute(
        f"SELECT {_ROLE_COLS} FROM iam_roles WHERE account = ? AND substr(path, 1, ?) = ? ORDER BY lower(name)",
        (account, len(path_prefix), path_prefix),
    )
    return [_role(r) for r in rows]


def update_role(c: Conn, pk: int, **changes: Any) -> None:
    if "tags" in changes:
        changes["tags"] = json.dumps(changes["tags"])
    cols = ", ".join(f"{k} = ?" for k in changes)
    c.execute(f"UPDATE iam_roles SET {cols} WHERE id = ?", (*changes.values(), pk))


def delete_role(c: Conn, pk: int) -> None:
    c.execute("DELETE FROM iam_roles WHERE id = ?", (pk,))


# -- inline role policies ------------------------------------------------------------------------


def role_policies(c: Conn, role: int) -> dict[str, str]:
    """Inline policy name -> document, by name."""
    rows = c.execute(
        "SELECT name, document FROM iam_role_policies WHERE role = ? ORDER BY lower(name)", (role,)
    )
    return {r["name"]: r["document"] for r in rows}


def put_role_policy(c: Conn, role: int, name: str, document: str) -> None:
    c.execute(
        "INSERT INTO iam_role_policies (role, name, document) VALUES (?, ?, ?)"
        " ON CONFLICT (role, name) DO UPDATE SET document = excluded.document",
        (role, name, document),
    )


def delete_role_policy(c: Conn, role: int, name: str) -> bool:
    return c.execute("DELETE FROM iam_role_policies WHERE role = ? AND name = ?", (role, name)).rowcount == 1


# -- attachments ---------------------------------------------------------------------------------


def attached_arns(c: Conn, role: int) -> list[str]:
    rows = c.execute(
        "SELECT policy_arn FROM iam_attachments WHERE role = ? ORDER BY attached_at, policy_arn", (role,)
    )
    return [r[0] for r in rows]


def attach(c: Conn, role: int, account: str, arn: str, at: int) -> None:
    c.execute(
        "INSERT INTO iam_attachments (role, account, policy_arn, attached_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (role, account, arn, at),
    )


def detach(c: Conn, role: int, arn: str) -> bool:
    return (
        c.execute("DELETE FROM iam_attachments WHERE role = ? AND policy_arn = ?", (role, arn)).rowcount == 1
    )


def attachment_counts(c: Conn, account: str) -> dict[str, int]:
    rows = c.execute(
        "SELECT policy_arn, count(*) FROM iam_attachments WHERE account = ? GROUP BY policy_arn", (account,)
    )
    return {r[0]: r[1] for r in rows}


def attachment_count(c: Conn, account: str, arn: str) -> int:
    row = c.execute(
        "SELECT count(*) FROM iam_attachments WHERE account = ? AND policy_arn = ?", (account, arn)
    ).fetchone()
    return int(row[0])


# -- managed policies ----------------------------------------------------------------------------

_POLICY_COLS = (
    "id, account, arn, name, path, policy_id, default_version, next_version, description, "
    "create_date, update_date, tags"
)


def _policy(r: sqlite3.Row) -> ManagedPolicy:
    return ManagedPolicy(
        pk=r["id"],
        account=r["account"],
        arn=r["arn"],
        name=r["name"],
        path=r["path"],
        policy_id=r["policy_id"],
        default_version=r["default_version"],
        next_version=r["next_version"],
        description=r["description"],
        create_date=r["create_date"],
        update_date=r["update_date"],
        tags=_tags(r["tags"]),
    )


def insert_policy(c: Conn, policy: ManagedPolicy, document: str) -> bool:
    """The policy with its document as v1; False if the account has a policy of that name."""
    cur = c.execute(
        "INSERT INTO iam_policies (account, arn, name, path, policy_id, default_version, next_version,"
        " description, create_date, update_date, tags) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT DO NOTHING",
        (
            policy.account, policy.arn, policy.name, policy.path, policy.policy_id, "v1", 2,
            policy.description, policy.create_date, policy.update_date, json.dumps(policy.tags),
        ),
    )  # fmt: skip
    if cur.rowcount != 1:
        return False
    c.execute(
        "INSERT INTO iam_policy_versions (policy, version_id, number, document, create_date) VALUES (?, 'v1', 1, ?, ?)",
        (cur.lastrowid, document, policy.create_date),
    )
    return True


def get_policy(c: Conn, arn: str) -> ManagedPolicy | None:
    row = c.execute(f"SELECT {_POLICY_COLS} FROM iam_policies WHERE arn = ?", (arn,)).fetchone()
    return _policy(row) if row else None


def list_policies(c: Conn, account: str) -> list[ManagedPolicy]:
    rows = c.execute(f"SELECT {_POLICY_COLS} FROM iam_policies WHERE account = ?", (account,))
    return [_policy(r) for r in rows]


def delete_policy(c: Conn, pk: int) -> None:
    c.execute("DELETE FROM iam_policies WHERE id = ?", (pk,))


def versions(c: Conn, policy: ManagedPolicy) -> list[PolicyVersion]:
    """The policy's versions, newest first."""
    rows = c.execute(
        "SELECT version_id, document, create_date FROM iam_policy_versions WHERE policy = ? ORDER BY number DESC",
        (policy.pk,),
    )
    return [
        PolicyVersion(
            r["version_id"], r["document"], r["version_id"] == policy.default_version, r["create_date"]
        )
        for r in rows
    ]


def add_version(c: Conn, policy: ManagedPolicy, document: str, now: float, set_default: bool) -> str:
    version_id = f"v{policy.next_version}"
    c.execute(
        "INSERT INTO iam_policy_versions (policy, version_id, number, document, create_date) VALUES (?, ?, ?, ?, ?)",
        (policy.pk, version_id, policy.next_version, document, now),
    )
    default = version_id if set_default else policy.default_version
    c.execute(
        "UPDATE iam_policies SET next_version = next_version + 1, default_version = ?, update_date = ? WHERE id = ?",
        (default, now if set_default else policy.update_date, policy.pk),
    )
    return version_id


def set_default_version(c: Conn, pk: int, version_id: str, now: float) -> None:
    c.execute(
        "UPDATE iam_policies SET default_version = ?, update_date = ? WHERE id = ?", (version_id, now, pk)
    )


def delete_version(c: Conn, pk: int, version_id: str) -> None:
    c.execute("DELETE FROM iam_policy_versions WHERE policy = ? AND version_id = ?", (pk, version_id))


# -- users and access keys -----------------------------------------------------------------------

_USER_COLS = "id, account, name, path, user_id, create_date, permissions_boundary, tags"


def _user(r: sqlite3.Row) -> User:
    return User(
        pk=r["id"],
        account=r["account"],
        name=r["name"],
        path=r["path"],
        user_id=r["user_id"],
        create_date=r["create_date"],
        permissions_boundary=r["permissions_boundary"],
        tags=_tags(r["tags"]),
    )


def insert_user(c: Conn, user: User) -> bool:
    cur = c.execute(
        "INSERT INTO iam_users (account, name, path, user_id, create_date, permissions_boundary, tags)"
        " VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
        (
            user.account, user.name, user.path, user.user_id, user.create_date,
            user.permissions_boundary, json.dumps(user.tags),
        ),
    )  # fmt: skip
    return cur.rowcount == 1


def get_user(c: Conn, account: str, name: str) -> User | None:
    row = c.execute(
        f"SELECT {_USER_COLS} FROM iam_users WHERE account = ? AND name = ?", (account, name)
    ).fetchone()
    return _user(row) if row else None


def list_users(c: Conn, account: str, path_prefix: str) -> list[User]:
    rows = c.execute(
        f"SELECT {_USER_COLS} FROM iam_users WHERE account = ? AND substr(path, 1, ?) = ? ORDER BY lower(name)",
        (account, len(path_prefix), path_prefix),
    )
    return [_user(r) for r in rows]


def delete_user(c: Conn, pk: int) -> None:
    c.execute("DELETE FROM iam_users WHERE id = ?", (pk,))


_KEY_SELECT = (
    "SELECT k.key_id, k.secret, k.status, k.create_date, u.account, u.name, u.path, u.user_id"
    " FROM iam_access_keys k JOIN iam_users u ON u.id = k.owner"
)


def _key(r: sqlite3.Row) -> AccessKey:
    return AccessKey(
        access_key_id=r["key_id"],
        secret_access_key=r["secret"],
        status=r["status"],
        account=r["account"],
        user_name=r["name"],
        user_arn=f"arn:aws:iam::{r['account']}:user{r['path']}{r['name']}",
        create_date=r["create_date"],
        user_id=r["user_id"],
    )


def insert_key(c: Conn, user: int, key_id: str, secret: str, now: float) -> None:
    c.execute(
        "INSERT INTO iam_access_keys (key_id, owner, secret, status, create_date) VALUES (?, ?, ?, 'Active', ?)",
        (key_id, user, secret, now),
    )


def user_keys(c: Conn, user: int) -> list[AccessKey]:
    return [
        _key(r)
        for r in c.execute(f"{_KEY_SELECT} WHERE k.owner = ? ORDER BY k.create_date, k.key_id", (user,))
    ]


def get_key(c: Conn, key_id: str) -> AccessKey | None:
    row = c.execute(f"{_KEY_SELECT} WHERE k.key_id = ?", (key_id,)).fetchone()
    return _key(row) if row else None


def set_key_status(c: Conn, key_id: str, status: str) -> None:
    c.execute("UPDATE iam_access_keys SET status = ? WHERE key_id = ?", (status, key_id))


def delete_key(c: Conn, key_id: str, account: str) -> None:
    c.execute("DELETE FROM iam_access_keys WHERE key_id = ?", (key_id,))
    c.execute("INSERT OR IGNORE INTO iam_deleted_keys (key_id, account) VALUES (?, ?)", (key_id, account))


def deleted_key_account(c: Conn, key_id: str) -> str | None:
    row = c.execute("SELECT account FROM iam_deleted_keys WHERE key_id = ?", (key_id,)).fetchone()
    return str(row[0]) if row else None


def key_owner(c: Conn, key_id: str, account: str) -> User | None:
    """The user of `account` the access key `key_id` belongs to, or None (not an IAM user's key)."""
    cols = ", ".join(f"u.{col.strip()}" for col in _USER_COLS.split(","))
    row = c.execute(
        f"SELECT {cols} FROM iam_access_keys k JOIN iam_users u ON u.id = k.owner"
        " WHERE k.key_id = ? AND u.account = ?",
        (key_id, account),
    ).fetchone()
    return _user(row) if row else None


# -- who uses a managed policy -------------------------------------------------------------------


def attached_roles(c: Conn, account: str, arn: str) -> list[Role]:
    """The account's roles the policy `arn` is attached to, by name."""
    cols = ", ".join(f"r.{col.strip()}" for col in _ROLE_COLS.split(","))
    rows = c.execute(
        f"SELECT {cols} FROM iam_attachments a JOIN iam_roles r ON r.id = a.role"
        " WHERE a.account = ? AND a.policy_arn = ? ORDER BY lower(r.name)",
        (account, arn),
    )
    return [_role(r) for r in rows]


def bounded_roles(c: Conn, account: str, arn: str) -> list[Role]:
    """The account's roles whose permissions boundary is the policy `arn`, by name."""
    rows = c.execute(
        f"SELECT {_ROLE_COLS} FROM iam_roles WHERE account = ? AND permissions_boundary = ? ORDER BY lower(name)",
        (account, arn),
    )
    return [_role(r) for r in rows]


def bounded_users(c: Conn, account: str, arn: str) -> list[User]:
    """The account's users whose permissions boundary is the policy `arn`, by name."""
    rows = c.execute(
        f"SELECT {_USER_COLS} FROM iam_users WHERE account = ? AND permissions_boundary = ? ORDER BY lower(name)",
        (account, arn),
    )
    return [_user(r) for r in rows]
