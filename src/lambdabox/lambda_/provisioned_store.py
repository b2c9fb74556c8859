"""The SQL of provisioned concurrency configurations: one row per version or alias of a function
that has one (what was asked for and when; its environments are in memory, initialised again
after a restart)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SCHEMA = [
    """
    CREATE TABLE provisioned_concurrency (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        requested INTEGER NOT NULL,
        last_modified REAL NOT NULL,
        PRIMARY KEY (region, account, name, qualifier)
    )
    """,
]

Write = Callable[[sqlite3.Connection], Any]
_KEY = "region=? AND account=? AND name=?"


@dataclass(frozen=True)
class StoredConfig:
    """A provisioned concurrency configuration as the store holds it."""

    region: str
    account: str
    function: str
    qualifier: str
    requested: int
    last_modified: float


def put(cfg: StoredConfig) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO provisioned_concurrency"
            "(region, account, name, qualifier, requested, last_modified) VALUES (?,?,?,?,?,?)",
            (cfg.region, cfg.account, cfg.function, cfg.qualifier, cfg.requested, cfg.last_modified),
        )

    return run


def delete(region: str, account: str, name: str, qualifier: str | None = None) -> Write:
    """Delete one qualifier's configuration, or (None) every one of the function."""

    def run(conn: sqlite3.Connection) -> None:
        if qualifier is None:
            conn.execute(f"DELETE FROM provisioned_concurrency WHERE {_KEY}", (region, account, name))
        else:
            conn.execute(
                f"DELETE FROM provisioned_concurrency WHERE {_KEY} AND qualifier=?",
                (region, account, name, qualifier),
            )

    return run


def load_all(conn: sqlite3.Connection) -> list[StoredConfig]:
    rows = conn.execute(
        "SELECT region, account, name, qualifier, requested, last_modified FROM provisioned_concurrency"
    )
    return [StoredConfig(r, a, n, q, int(req), float(lm)) for r, a, n, q, req, lm in rows]
