"""The SQL of function URL configurations: one row per function or alias that has a URL (its
url-id, AuthType, CORS and InvokeMode, and when it was created and last changed)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SCHEMA = [
    """
    CREATE TABLE function_urls (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        url_id TEXT NOT NULL UNIQUE,
        auth_type TEXT NOT NULL,
        cors TEXT,
        invoke_mode TEXT NOT NULL,
        created REAL NOT NULL,
        modified REAL NOT NULL,
        PRIMARY KEY (region, account, name, qualifier)
    )
    """,
]

Write = Callable[[sqlite3.Connection], Any]
_KEY = "region=? AND account=? AND name=?"
_COLUMNS = "region, account, name, qualifier, url_id, auth_type, cors, invoke_mode, created, modified"


@dataclass(frozen=True)
class UrlConfig:
    """A function URL's configuration. `qualifier` is "" for the unqualified function."""

    region: str
    account: str
    function: str
    qualifier: str
    url_id: str
    auth_type: str
    cors: dict[str, Any] | None
    invoke_mode: str
    created: float
    modified: float

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.region, self.account, self.function)


def put(cfg: UrlConfig) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            f"INSERT OR REPLACE INTO function_urls({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (cfg.region, cfg.account, cfg.function, cfg.qualifier, cfg.url_id, cfg.auth_type,
             None if cfg.cors is None else json.dumps(cfg.cors), cfg.invoke_mode, cfg.created, cfg.modified),
        )  # fmt: skip

    return run


def delete(region: str, account: str, name: str, qualifier: str | None = None) -> Write:
    """Delete one qualifier's URL ("" the function's own), or (None) every one of the function."""

    def run(conn: sqlite3.Connection) -> None:
        if qualifier is None:
            conn.execute(f"DELETE FROM function_urls WHERE {_KEY}", (region, account, name))
        else:
            conn.execute(
                f"DELETE FROM function_urls WHERE {_KEY} AND qualifier=?", (region, account, name, qualifier)
            )

    return run


def load_all(conn: sqlite3.Connection) -> list[UrlConfig]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM function_urls")
    return [
        UrlConfig(r, a, n, q, u, t, None if c is None else json.loads(c), m, float(cr), float(mo))
        for r, a, n, q, u, t, c, m, cr, mo in rows
    ]
