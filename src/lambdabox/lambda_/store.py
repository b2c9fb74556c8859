"""Lambda's SQL: the functions table and the queries over it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from lambdabox.lambda_.models import FunctionConfig

SCHEMA = [
    """
    CREATE TABLE functions (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        config TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (region, account, name)
    )
    """,
]


def insert(cfg: FunctionConfig, tags: dict[str, str]) -> Callable[[sqlite3.Connection], bool]:
    """Insert a new function; returns False if the name is taken."""

    def run(conn: sqlite3.Connection) -> bool:
        cur = conn.execute(
            "INSERT OR IGNORE INTO functions(region, account, name, config, tags) VALUES (?,?,?,?,?)",
            (cfg.region, cfg.account, cfg.name, json.dumps(cfg.to_row()), json.dumps(tags)),
        )
        return cur.rowcount == 1

    return run


def update(cfg: FunctionConfig) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE functions SET config=? WHERE region=? AND account=? AND name=?",
            (json.dumps(cfg.to_row()), cfg.region, cfg.account, cfg.name),
        )

    return run


def set_tags(
    region: str, account: str, name: str, tags: dict[str, str]
) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE functions SET tags=? WHERE region=? AND account=? AND name=?",
            (json.dumps(tags), region, account, name),
        )

    return run


def delete(region: str, account: str, name: str) -> Callable[[sqlite3.Connection], bool]:
    def run(conn: sqlite3.Connection) -> bool:
        cur = conn.execute(
            "DELETE FROM functions WHERE region=? AND account=? AND name=?", (region, account, name)
        )
        return cur.rowcount == 1

    return run


def load_all(conn: sqlite3.Connection) -> list[tuple[FunctionConfig, dict[str, str]]]:
    rows = conn.execute("SELECT config, tags FROM functions").fetchall()
    return [(FunctionConfig.from_row(json.loads(r[0])), json.loads(r[1])) for r in rows]


def code_keys(conn: sqlite3.Connection) -> set[str]:
    """The code keys (hex SHA-256) some function of any region and account names."""
    rows = conn.execute("SELECT DISTINCT json_extract(config, '$.code_key') FROM functions").fetchall()
    return {r[0] for r in rows if r[0]}
