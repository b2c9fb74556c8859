"""API Gateway's SQL: one row per HTTP API, holding the whole API as a JSON document."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from lambdabox.gateway.models import HttpApi

SCHEMA = [
    """
    CREATE TABLE gateway_http_apis (
        api_id TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        body TEXT NOT NULL
    )
    """,
]


def put(api: HttpApi) -> Callable[[sqlite3.Connection], None]:
    """Store the API as it is now (created or changed)."""
    body = json.dumps(api.to_row())

    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO gateway_http_apis(api_id, region, account, body) VALUES (?,?,?,?)",
            (api.api_id, api.region, api.account, body),
        )

    return run


def delete(api_id: str) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM gateway_http_apis WHERE api_id=?", (api_id,))

    return run


def load_all(conn: sqlite3.Connection) -> list[HttpApi]:
    return [HttpApi.from_row(json.loads(r[0])) for r in conn.execute("SELECT body FROM gateway_http_apis")]
