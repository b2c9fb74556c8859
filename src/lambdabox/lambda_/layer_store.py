"""Lambda layers' SQL: layers, their versions and each version's permission statements.

A layer row holds the last version number ever published (numbers are never reused, even after
a version is deleted); a version row holds what PublishLayerVersion was given and the stored
zip's key, and its policy (statements and revision). Deleting a version deletes its row only:
functions configured with it keep their own snapshot of it (`FunctionLayer`), and its code stays
while one names it (`lambda_.store.code_keys`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SCHEMA = [
    """
    CREATE TABLE layers (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        last_version INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (region, account, name)
    );
    CREATE TABLE layer_versions (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (region, account, name, version)
    )
    """,
]

Write = Callable[[sqlite3.Connection], Any]
_KEY = "region=? AND account=? AND name=?"


@dataclass(frozen=True)
class LayerVersion:
    """One published version of a layer."""

    region: str
    account: str
    name: str
    version: int
    code_key: str  # hex SHA-256 of the zip (names it in the code store)
    code_sha256: str  # base64 SHA-256, as the API reports it
    code_size: int
    unzipped: int  # by the zip's headers
    created: float
    description: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    license_info: str | None = None
    #: its resource-based policy, statements in the order they were added
    statements: tuple[dict[str, Any], ...] = field(default=())
    policy_revision: str = ""

    @property
    def layer_arn(self) -> str:
        return layer_arn(self.region, self.account, self.name)

    @property
    def arn(self) -> str:
        return f"{self.layer_arn}:{self.version}"

    def to_row(self) -> dict[str, Any]:
        return {
            "code_key": self.code_key,
            "code_sha256": self.code_sha256,
            "code_size": self.code_size,
            "unzipped": self.unzipped,
            "created": self.created,
            "description": self.description,
            "compatible_runtimes": list(self.compatible_runtimes),
            "compatible_architectures": list(self.compatible_architectures),
            "license_info": self.license_info,
            "statements": list(self.statements),
            "policy_revision": self.policy_revision,
        }

    @classmethod
    def from_row(cls, region: str, account: str, name: str, version: int, d: dict[str, Any]) -> LayerVersion:
        return cls(
            region=region,
            account=account,
            name=name,
            version=version,
            code_key=d["code_key"],
            code_sha256=d["code_sha256"],
            code_size=int(d["code_size"]),
            unzipped=int(d.get("unzipped") or 0),
            created=float(d["created"]),
            description=d.get("description") or "",
            compatible_runtimes=tuple(d.get("compatible_runtimes") or ()),
            compatible_architectures=tuple(d.get("compatible_architectures") or ()),
            license_info=d.get("license_info"),
            statements=tuple(d.get("statements") or ()),
            policy_revision=d.get("policy_revision") or "",
        )


def layer_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:layer:{name}"


def publish(region: str, account: str, name: str, make: Callable[[int], LayerVersion]) -> Write:
    """Publish the layer's next version (numbers never reused): `make(number)` builds it."""

    def run(conn: sqlite3.Connection) -> LayerVersion:
        conn.execute(
            "INSERT OR IGNORE INTO layers(region, account, name, last_version) VALUES (?,?,?,0)",
            (region, account, name),
        )
        (last,) = conn.execute(
            f"SELECT last_version FROM layers WHERE {_KEY}", (region, account, name)
        ).fetchone()
        version = make(int(last) + 1)
        conn.execute(
            f"UPDATE layers SET last_version=? WHERE {_KEY}", (version.version, region, account, name)
        )
        conn.execute(
            "INSERT INTO layer_versions(region, account, name, version, body) VALUES (?,?,?,?,?)",
            (region, account, name, version.version, json.dumps(version.to_row())),
        )
        return version

    return run


def get(
    region: str, account: str, name: str, version: int
) -> Callable[[sqlite3.Connection], LayerVersion | None]:
    def run(conn: sqlite3.Connection) -> LayerVersion | None:
        row = conn.execute(
            f"SELECT body FROM layer_versions WHERE {_KEY} AND version=?", (region, account, name, version)
        ).fetchone()
        return (
            None if row is None else LayerVersion.from_row(region, account, name, version, json.loads(row[0]))
        )

    return run


def versions(
    region: str, account: str, name: str | None
) -> Callable[[sqlite3.Connection], list[LayerVersion]]:
    """The versions of one layer (`name`) or of all the account's layers in the region."""

    def run(conn: sqlite3.Connection) -> list[LayerVersion]:
        sql = "SELECT name, version, body FROM layer_versions WHERE region=? AND account=?"
        args: tuple[str, ...] = (region, account)
        if name is not None:
            sql += " AND name=?"
            args = (region, account, name)
        return [
            LayerVersion.from_row(region, account, n, int(v), json.loads(body))
            for n, v, body in conn.execute(sql + " ORDER BY name, version", args)
        ]

    return run


def put(version: LayerVersion) -> Write:
    """Store a version's changed policy."""

    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            f"UPDATE layer_versions SET body=? WHERE {_KEY} AND version=?",
            (json.dumps(version.to_row()), version.region, version.account, version.name, version.version),
        )

    return run


def delete(region: str, account: str, name: str, version: int) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            f"DELETE FROM layer_versions WHERE {_KEY} AND version=?", (region, account, name, version)
        )

    return run


def code_keys(conn: sqlite3.Connection) -> set[str]:
    """The code keys every layer version of any region and account names."""
    rows = conn.execute("SELECT json_extract(body, '$.code_key') FROM layer_versions").fetchall()
    return {r[0] for r in rows if r[0]}


def total_size(region: str, account: str) -> Callable[[sqlite3.Connection], int]:
    """The bytes of the account's layer archives in the region (they count towards its code storage)."""

    def run(conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "SELECT COALESCE(SUM(json_extract(body, '$.code_size')), 0) FROM layer_versions "
            "WHERE region=? AND account=?",
            (region, account),
        ).fetchone()
        return int(row[0])

    return run
