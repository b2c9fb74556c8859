"""Event source mappings as stored: one row per mapping, its configuration as JSON.

A mapping belongs to the account and region it was created in; `function_name` is the function's
unqualified name (deleting the function leaves the mapping, as on AWS, which then cannot invoke
anything); `qualifier` the version or alias it invokes, if one was named.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from lambdabox.aws.arns import function_arn

SCHEMA = [
    """
    CREATE TABLE lambda_event_source_mappings (
        uuid TEXT PRIMARY KEY,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        function_name TEXT NOT NULL,
        source_arn TEXT NOT NULL,
        body TEXT NOT NULL
    )
    """,
]


@dataclass
class Mapping:
    """One event source mapping: where records come from, what they invoke, how they are batched."""

    uuid: str
    region: str
    account: str
    function_name: str
    qualifier: str | None
    source_arn: str
    batch_size: int
    window: int
    enabled: bool
    last_modified: float
    #: the patterns of FilterCriteria, as given (JSON text)
    filters: list[str] = field(default_factory=list)
    #: FunctionResponseTypes (["ReportBatchItemFailures"] or none)
    response_types: list[str] = field(default_factory=list)
    #: ScalingConfig.MaximumConcurrency, None when not set
    max_concurrency: int | None = None
    #: the mapping's tags (TagResource on its ARN, CreateEventSourceMapping's Tags)
    tags: dict[str, str] = field(default_factory=dict)
    #: MetricsConfig.Metrics (["EventCount"] or none)
    metrics: list[str] = field(default_factory=list)

    @property
    def function_arn(self) -> str:
        """The function as the mapping names it (qualified when a qualifier was given)."""
        return function_arn(self.region, self.account, self.function_name, self.qualifier)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:event-source-mapping:{self.uuid}"

    @property
    def reports_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.response_types


def _row(row: sqlite3.Row | tuple[Any, ...]) -> Mapping:
    return Mapping(**json.loads(row[0]))


def load_all(conn: sqlite3.Connection) -> list[Mapping]:
    return [_row(r) for r in conn.execute("SELECT body FROM lambda_event_source_mappings ORDER BY rowid")]


def put(m: Mapping) -> Callable[[sqlite3.Connection], None]:
    """Insert or replace a mapping."""

    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO lambda_event_source_mappings (uuid, region, account, function_name, source_arn, body) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(uuid) DO UPDATE SET body=excluded.body",
            (m.uuid, m.region, m.account, m.function_name, m.source_arn, json.dumps(asdict(m))),
        )

    return run


def delete(uuid: str) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM lambda_event_source_mappings WHERE uuid=?", (uuid,))

    return run
