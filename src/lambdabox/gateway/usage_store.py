"""The SQL of API keys and usage plans: keys and plans as JSON documents, which keys each plan
holds, requests counted per plan, key and UTC day, and UpdateUsage's changes of a quota period's
remaining requests."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from lambdabox.gateway.usage_models import ApiKey, UsagePlan

SCHEMA = [
    """
    CREATE TABLE gateway_api_keys (
        key_id TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        value TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX gateway_api_keys_value ON gateway_api_keys(value);
    CREATE TABLE gateway_usage_plans (
        plan_id TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE gateway_usage_plan_keys (
        plan_id TEXT NOT NULL,
        key_id TEXT NOT NULL,
        PRIMARY KEY (plan_id, key_id)
    );
    CREATE TABLE gateway_key_usage (
        plan_id TEXT NOT NULL,
        key_id TEXT NOT NULL,
        day TEXT NOT NULL,
        used INTEGER NOT NULL,
        PRIMARY KEY (plan_id, key_id, day)
    );
    CREATE TABLE gateway_quota_adjustments (
        plan_id TEXT NOT NULL,
        key_id TEXT NOT NULL,
        period TEXT NOT NULL,
        adjustment INTEGER NOT NULL,
        PRIMARY KEY (plan_id, key_id, period)
    )
    """,
]

Write = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Loaded:
    keys: list[ApiKey]
    plans: list[UsagePlan]
    plan_keys: list[tuple[str, str]]


def load_all(conn: sqlite3.Connection) -> Loaded:
    keys = [ApiKey.from_row(json.loads(r[0])) for r in conn.execute("SELECT body FROM gateway_api_keys")]
    plans = [
        UsagePlan.from_row(json.loads(r[0])) for r in conn.execute("SELECT body FROM gateway_usage_plans")
    ]
    links = [(r[0], r[1]) for r in conn.execute("SELECT plan_id, key_id FROM gateway_usage_plan_keys")]
    return Loaded(keys, plans, links)


def put_key(key: ApiKey) -> Write:
    body = json.dumps(key.to_row())

    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO gateway_api_keys(key_id, region, account, value, body) VALUES (?,?,?,?,?)",
            (key.key_id, key.region, key.account, key.value, body),
        )

    return run


def delete_key(key_id: str) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM gateway_api_keys WHERE key_id=?", (key_id,))
        for table in ("gateway_usage_plan_keys", "gateway_key_usage", "gateway_quota_adjustments"):
            conn.execute(f"DELETE FROM {table} WHERE key_id=?", (key_id,))

    return run


def put_plan(plan: UsagePlan) -> Write:
    body = json.dumps(plan.to_row())

    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO gateway_usage_plans(plan_id, region, account, body) VALUES (?,?,?,?)",
            (plan.plan_id, plan.region, plan.account, body),
        )

    return run


def delete_plan(plan_id: str) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        for table in (
            "gateway_usage_plans", "gateway_usage_plan_keys", "gateway_key_usage", "gateway_quota_adjustments",
        ):  # fmt: skip
            conn.execute(f"DELETE FROM {table} WHERE plan_id=?", (plan_id,))

    return run


def link(plan_id: str, key_id: str) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO gateway_usage_plan_keys(plan_id, key_id) VALUES (?,?)", (plan_id, key_id))

    return run


def unlink(plan_id: str, key_id: str) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        for table in ("gateway_usage_plan_keys", "gateway_key_usage", "gateway_quota_adjustments"):
            conn.execute(f"DELETE FROM {table} WHERE plan_id=? AND key_id=?", (plan_id, key_id))

    return run


def count(counts: dict[tuple[str, str, str], int]) -> Write:
    """Add requests to the days' counters: (plan, key, day) -> requests."""

    def run(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO gateway_key_usage(plan_id, key_id, day, used) VALUES (?,?,?,?) "
            "ON CONFLICT(plan_id, key_id, day) DO UPDATE SET used = used + excluded.used",
            [(p, k, d, n) for (p, k, d), n in counts.items()],
        )

    return run


def adjust(plan_id: str, key_id: str, period: str, adjustment: int) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO gateway_quota_adjustments(plan_id, key_id, period, adjustment) "
            "VALUES (?,?,?,?)",
            (plan_id, key_id, period, adjustment),
        )

    return run


def usage(plan_id: str, first: str, last: str) -> Callable[[sqlite3.Connection], dict[tuple[str, str], int]]:
    """Requests counted per (key, day) for days first..last (ISO dates, inclusive)."""

    def run(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
        rows = conn.execute(
            "SELECT key_id, day, used FROM gateway_key_usage WHERE plan_id=? AND day>=? AND day<=?",
            (plan_id, first, last),
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    return run


def adjustments(plan_id: str) -> Callable[[sqlite3.Connection], dict[tuple[str, str], int]]:
    """UpdateUsage's changes: (key, period start) -> requests added to the period's quota."""

    def run(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
        rows = conn.execute(
            "SELECT key_id, period, adjustment FROM gateway_quota_adjustments WHERE plan_id=?", (plan_id,)
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    return run
