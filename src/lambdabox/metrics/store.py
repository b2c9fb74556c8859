"""The SQL of metrics: one row per metric and minute holding its aggregate (`metric_points`,
pruned after the retention), and one row per metric of the namespaces whose lifetime totals are
kept (`metric_totals`, never pruned: Prometheus' counters only grow)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from lambdabox.metrics import percentiles
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
    """
    ALTER TABLE metric_points ADD COLUMN buckets TEXT;
    CREATE INDEX metric_points_age ON metric_points(minute);
    CREATE TABLE metric_totals (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        dims TEXT NOT NULL,
        count REAL NOT NULL,
        total REAL NOT NULL,
        minimum REAL NOT NULL,
        maximum REAL NOT NULL,
        unit TEXT NOT NULL,
        buckets TEXT,
        PRIMARY KEY (region, account, namespace, name, dims)
    ) WITHOUT ROWID;
    INSERT INTO metric_totals
        SELECT region, account, namespace, name, dims, SUM(count), SUM(total), MIN(minimum),
               MAX(maximum), MAX(unit), '{"b":[]}'
        FROM metric_points WHERE namespace = 'AWS/Lambda'
        GROUP BY region, account, namespace, name, dims
    """,
]

Point = tuple[MetricKey, int, Aggregate]

_AGG = "count, total, minimum, maximum, unit, buckets"


def _aggregate(row: tuple[object, ...]) -> Aggregate:
    count, total, minimum, maximum, unit, buckets = row
    return Aggregate(
        float(count), float(total), float(minimum), float(maximum), str(unit),  # type: ignore[arg-type]
        percentiles.from_text(buckets),  # type: ignore[arg-type]
    )  # fmt: skip


def _add(conn: sqlite3.Connection, table: str, key: dict[str, object], agg: Aggregate) -> None:
    """Add `agg` to the row of `key` in `table` (a new row if there is none)."""
    where = " AND ".join(f"{c} = ?" for c in key)
    row = conn.execute(f"SELECT {_AGG} FROM {table} WHERE {where}", tuple(key.values())).fetchone()
    if row is not None:
        stored = _aggregate(row)
        stored.add(agg)
        agg = stored
    cols = [*key, *_AGG.split(", ")]
    values = (*key.values(), agg.count, agg.total, agg.minimum, agg.maximum, agg.unit,
              percentiles.to_text(agg.values()))  # fmt: skip
    conn.execute(
        f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        values,
    )


def _key(k: MetricKey) -> dict[str, object]:
    return {"region": k.region, "account": k.account, "namespace": k.namespace, "name": k.name,
            "dims": dims_text(k.dims)}  # fmt: skip


def merge(
    points: Iterable[Point], totals: Iterable[tuple[MetricKey, Aggregate]] = ()
) -> Callable[[sqlite3.Connection], None]:
    """Add each aggregate to its stored minute, and each of `totals` to its metric's total."""
    points, totals = list(points), list(totals)

    def run(conn: sqlite3.Connection) -> None:
        for k, minute, agg in points:
            _add(conn, "metric_points", {**_key(k), "minute": minute}, agg)
        for k, agg in totals:
            _add(conn, "metric_totals", _key(k), agg)

    return run


def prune(before: int) -> Callable[[sqlite3.Connection], int]:
    """Drop every minute before `before`; how many were dropped."""

    def run(conn: sqlite3.Connection) -> int:
        return conn.execute("DELETE FROM metric_points WHERE minute < ?", (before,)).rowcount

    return run


def points(
    region: str, account: str, namespace: str, name: str, start: int, end: int
) -> Callable[[sqlite3.Connection], list[Point]]:
    """Every stored minute of a metric name in [start, end), every dimension set."""

    def run(conn: sqlite3.Connection) -> list[Point]:
        rows = conn.execute(
            f"SELECT dims, minute, {_AGG} FROM metric_points "
            "WHERE region = ? AND account = ? AND namespace = ? AND name = ? AND minute >= ? AND minute < ?",
            (region, account, namespace, name, start, end),
        ).fetchall()
        return [
            (MetricKey(region, account, namespace, name, dims_from_text(r[0])), int(r[1]), _aggregate(r[2:]))
            for r in rows
        ]

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
            f"SELECT region, account, name, dims, {_AGG} FROM metric_totals WHERE namespace = ?",
            (namespace,),
        ).fetchall()
        return [
            (MetricKey(r[0], r[1], namespace, r[2], dims_from_text(r[3])), _aggregate(r[4:])) for r in rows
        ]

    return run
