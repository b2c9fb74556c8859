"""The SQL of metrics: one row per metric and minute holding its aggregate."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from lambdabox.metrics.models import Aggregate, MetricKey, dims_from_text, dims_text

SCHEMA = [
    """
    CREATE TABLE metric_points (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        dims TEXT NOT NULL,
        minute INTEGER NOT NULL,
        count REAL NOT NULL,
        total REAL NOT NULL,
        minimum REAL NOT NULL,
        maximum REAL NOT NULL,
        unit TEXT NOT NULL,
        PRIMARY KEY (region, account, namespace, name, dims, minute)
    ) WITHOUT ROWID;
    CREATE INDEX metric_points_minute ON metric_points(region, account, minute)
    """,
]

Point = tuple[MetricKey, int, Aggregate]


def merge(points: Iterable[Point]) -> Callable[[sqlite3.Connection], None]:
    """Add each aggregate to its stored minute (a new row if there is none)."""
    rows = [
        (k.region, k.account, k.namespace, k.name, dims_text(k.dims), minute, a.count, a.total,
         a.minimum, a.maximum, a.unit)
        for k, minute, a in points
    ]  # fmt: skip

    def run(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO metric_points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (region, account, namespace, name, dims, minute) DO UPDATE SET "
            "count = count + excluded.count, total = total + excluded.total, "
            "minimum = min(minimum, excluded.minimum), maximum = max(maximum, excluded.maximum), "
            "unit = CASE WHEN excluded.unit = 'None' THEN unit ELSE excluded.unit END",
            rows,
        )

    return run


def points(
    region: str, account: str, namespace: str, name: str, start: int, end: int
) -> Callable[[sqlite3.Connection], list[Point]]:
    """Every stored minute of a metric name in [start, end), every dimension set."""

    def run(conn: sqlite3.Connection) -> list[Point]:
        rows = conn.execute(
            "SELECT dims, minute, count, total, minimum, maximum, unit FROM metric_points "
            "WHERE region = ? AND account = ? AND namespace = ? AND name = ? AND minute >= ? AND minute < ?",
            (region, account, namespace, name, start, end),
        ).fetchall()
        return [
            (MetricKey(region, account, namespace, name, dims_from_text(r[0])), int(r[1]),
             Aggregate(r[2], r[3], r[4], r[5], r[6]))
            for r in rows
        ]  # fmt: skip

    return run


def metrics(region: str, account: str, since: int) -> Callable[[sqlite3.Connection], list[MetricKey]]:
    """Every metric of an account with a minute at or after `since`."""

    def run(conn: sqlite3.Connection) -> list[MetricKey]:
        rows = conn.execute(
            "SELECT DISTINCT namespace, name, dims FROM metric_points "
            "WHERE region = ? AND account = ? AND minute >= ?",
            (region, account, since),
        ).fetchall()
        return [MetricKey(region, account, r[0], r[1], dims_from_text(r[2])) for r in rows]

    return run


def totals(namespace: str) -> Callable[[sqlite3.Connection], list[tuple[MetricKey, Aggregate]]]:
    """Every metric of a namespace with its aggregate over all time (Prometheus' counters)."""

    def run(conn: sqlite3.Connection) -> list[tuple[MetricKey, Aggregate]]:
        rows = conn.execute(
            "SELECT region, account, name, dims, SUM(count), SUM(total), MIN(minimum), MAX(maximum) "
            "FROM metric_points WHERE namespace = ? GROUP BY region, account, name, dims",
            (namespace,),
        ).fetchall()
        return [
            (MetricKey(r[0], r[1], namespace, r[2], dims_from_text(r[3])), Aggregate(r[4], r[5], r[6], r[7]))
            for r in rows
        ]

    return run
