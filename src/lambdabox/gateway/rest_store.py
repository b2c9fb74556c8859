"""REST APIs' SQL: one row per REST API, holding the whole API as a JSON document."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from lambdabox.gateway.rest_models import RestApi

SCHEMA = [
    """
    CREATE TABLE gateway_rest_apis (
        api_id TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        body TEXT NOT NULL
    )
    """,
]


def put(api: RestApi) -> Callable[[sqlite3.Connection], None]:
    """Store the API as it is now (created or changed)."""
    body = json.dumps(api.to_row())

    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO gateway_rest_apis(api_id, region, account, body) VALUES (?,?,?,?)",
            (api.api_id, api.region, api.account, body),
        )

    return run


def delete(api_id: str) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM gateway_rest_apis WHERE api_id=?", (api_id,))

    return run


def load_all(conn: sqlite3.Connection) -> list[RestApi]:
    return [RestApi.from_row(json.loads(r[0])) for r in conn.execute("SELECT body FROM gateway_rest_apis")]
