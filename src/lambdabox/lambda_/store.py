"""Lambda's SQL: functions, their published versions, aliases, resource policies and
asynchronous invocation configurations.

A function row holds its `$LATEST` configuration, its tags and the last version number ever
published (numbers are never reused, even after the version is deleted). Versions, aliases,
policies and event invoke configurations are rows of their own, keyed by the function (the last
two also by qualifier); deleting a function deletes them all, deleting a version or an alias
deletes its policy and its event invoke configuration.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdabox.lambda_.models import Alias, EventInvokeConfig, FunctionConfig

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
    """
    ALTER TABLE functions ADD COLUMN last_version INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE function_versions (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        config TEXT NOT NULL,
        PRIMARY KEY (region, account, name, version)
    );
    CREATE TABLE function_aliases (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (region, account, name, alias)
    );
    CREATE TABLE function_policies (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        statements TEXT NOT NULL,
        PRIMARY KEY (region, account, name, qualifier)
    )
    """,
    """
    CREATE TABLE function_event_invoke_configs (
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (region, account, name, qualifier)
    )
    """,
    # a function's reserved concurrency (NULL: none)
    "ALTER TABLE functions ADD COLUMN reserved INTEGER",
    # a function's recursive loop detection (PutFunctionRecursionConfig; NULL: Terminate)
    "ALTER TABLE functions ADD COLUMN recursive_loop TEXT",
]

#: the tables of what belongs to one qualifier of a function (deleted with it)
_QUALIFIED = ("function_policies", "function_event_invoke_configs")

Write = Callable[[sqlite3.Connection], Any]
_KEY = "region=? AND account=? AND name=?"


@dataclass
class StoredFunction:
    """One function as the store holds it (read at start)."""

    latest: FunctionConfig
    tags: dict[str, str]
    last_version: int
    versions: list[FunctionConfig] = field(default_factory=list)
    aliases: list[Alias] = field(default_factory=list)
    #: qualifier ("" for the function itself) → its statements, in the order they were added
    policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    event_configs: list[EventInvokeConfig] = field(default_factory=list)
    reserved: int | None = None
    recursive_loop: str | None = None


def all_of(*writes: Write) -> Write:
    """Several writes as one transaction; returns the first's result."""

    def run(conn: sqlite3.Connection) -> Any:
        results = [w(conn) for w in writes]
        return results[0] if results else None

    return run


def insert(cfg: FunctionConfig, tags: dict[str, str]) -> Callable[[sqlite3.Connection], bool]:
    """Insert a new function; returns False if the name is taken."""

    def run(conn: sqlite3.Connection) -> bool:
        cur = conn.execute(
            "INSERT OR IGNORE INTO functions(region, account, name, config, tags) VALUES (?,?,?,?,?)",
            (cfg.region, cfg.account, cfg.name, json.dumps(cfg.to_row()), json.dumps(tags)),
        )
        return cur.rowcount == 1

    return run


def update(cfg: FunctionConfig) -> Write:
    """Store a changed configuration: of `$LATEST`, or of a published version (its revision)."""

    def run(conn: sqlite3.Connection) -> None:
        if cfg.published:
            conn.execute(
                f"UPDATE function_versions SET config=? WHERE {_KEY} AND version=?",
                (json.dumps(cfg.to_row()), cfg.region, cfg.account, cfg.name, int(cfg.version)),
            )
        else:
            conn.execute(
                f"UPDATE functions SET config=? WHERE {_KEY}",
                (json.dumps(cfg.to_row()), cfg.region, cfg.account, cfg.name),
            )

    return run


def publish(version: FunctionConfig) -> Write:
    """Add a published version and make its number the function's last."""

    def run(conn: sqlite3.Connection) -> None:
        key = (version.region, version.account, version.name)
        conn.execute(
            "INSERT INTO function_versions(region, account, name, version, config) VALUES (?,?,?,?,?)",
            (*key, int(version.version), json.dumps(version.to_row())),
        )
        conn.execute(f"UPDATE functions SET last_version=? WHERE {_KEY}", (int(version.version), *key))

    return run


def delete_version(region: str, account: str, name: str, version: str) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            f"DELETE FROM function_versions WHERE {_KEY} AND version=?", (region, account, name, int(version))
        )
        for table in _QUALIFIED:
            conn.execute(
                f"DELETE FROM {table} WHERE {_KEY} AND qualifier=?", (region, account, name, version)
            )

    return run


def put_alias(alias: Alias) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO function_aliases(region, account, name, alias, body) VALUES (?,?,?,?,?)",
            (alias.region, alias.account, alias.function, alias.name, json.dumps(alias.to_row())),
        )

    return run


def delete_alias(alias: Alias) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        key = (alias.region, alias.account, alias.function)
        conn.execute(f"DELETE FROM function_aliases WHERE {_KEY} AND alias=?", (*key, alias.name))
        for table in _QUALIFIED:
            conn.execute(f"DELETE FROM {table} WHERE {_KEY} AND qualifier=?", (*key, alias.name))

    return run


def set_policy(
    region: str, account: str, name: str, qualifier: str, statements: list[dict[str, Any]]
) -> Write:
    """Store the statements of one qualifier's policy ("" for the function's); none removes it."""

    def run(conn: sqlite3.Connection) -> None:
        key = (region, account, name, qualifier)
        if statements:
            conn.execute(
                "INSERT OR REPLACE INTO function_policies(region, account, name, qualifier, statements) "
                "VALUES (?,?,?,?,?)",
                (*key, json.dumps(statements)),
            )
        else:
            conn.execute(f"DELETE FROM function_policies WHERE {_KEY} AND qualifier=?", key)

    return run


def put_event_config(config: EventInvokeConfig) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO function_event_invoke_configs(region, account, name, qualifier, body) "
            "VALUES (?,?,?,?,?)",
            (config.region, config.account, config.function, config.qualifier, json.dumps(config.to_row())),
        )

    return run


def delete_event_config(region: str, account: str, name: str, qualifier: str) -> Write:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(
            f"DELETE FROM function_event_invoke_configs WHERE {_KEY} AND qualifier=?",
            (region, account, name, qualifier),
        )

    return run


def set_tags(
    region: str, account: str, name: str, tags: dict[str, str]
) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(f"UPDATE functions SET tags=? WHERE {_KEY}", (json.dumps(tags), region, account, name))

    return run


def set_reserved(region: str, account: str, name: str, value: int | None) -> Write:
    """A function's reserved concurrency (None: removed)."""

    def run(conn: sqlite3.Connection) -> None:
        conn.execute(f"UPDATE functions SET reserved=? WHERE {_KEY}", (value, region, account, name))

    return run


def set_recursive_loop(region: str, account: str, name: str, value: str) -> Write:
    """A function's recursive loop detection (Allow or Terminate)."""

    def run(conn: sqlite3.Connection) -> None:
        conn.execute(f"UPDATE functions SET recursive_loop=? WHERE {_KEY}", (value, region, account, name))

    return run


def delete(region: str, account: str, name: str) -> Callable[[sqlite3.Connection], bool]:
    """Delete a function with its versions, aliases, policies and event invoke configurations."""

    def run(conn: sqlite3.Connection) -> bool:
        key = (region, account, name)
        for table in ("function_versions", "function_aliases", *_QUALIFIED):
            conn.execute(f"DELETE FROM {table} WHERE {_KEY}", key)
        cur = conn.execute(f"DELETE FROM functions WHERE {_KEY}", key)
        return cur.rowcount == 1

    return run


def load_all(conn: sqlite3.Connection) -> list[StoredFunction]:
    out: dict[tuple[str, str, str], StoredFunction] = {}
    for region, account, name, config, tags, last, reserved, loop in conn.execute(
        "SELECT region, account, name, config, tags, last_version, reserved, recursive_loop FROM functions"
    ):
        out[(region, account, name)] = StoredFunction(
            FunctionConfig.from_row(json.loads(config)),
            json.loads(tags),
            int(last),
            reserved=reserved,
            recursive_loop=loop,
        )
    for region, account, name, config in conn.execute(
        "SELECT region, account, name, config FROM function_versions ORDER BY version"
    ):
        if (fn := out.get((region, account, name))) is not None:
            fn.versions.append(FunctionConfig.from_row(json.loads(config)))
    for region, account, name, body in conn.execute(
        "SELECT region, account, name, body FROM function_aliases ORDER BY alias"
    ):
        if (fn := out.get((region, account, name))) is not None:
            fn.aliases.append(Alias.from_row(json.loads(body)))
    for region, account, name, qualifier, statements in conn.execute(
        "SELECT region, account, name, qualifier, statements FROM function_policies"
    ):
        if (fn := out.get((region, account, name))) is not None:
            fn.policies[qualifier] = json.loads(statements)
    for region, account, name, body in conn.execute(
        "SELECT region, account, name, body FROM function_event_invoke_configs"
    ):
        if (fn := out.get((region, account, name))) is not None:
            fn.event_configs.append(EventInvokeConfig.from_row(json.loads(body)))
    return list(out.values())


def code_keys(conn: sqlite3.Connection) -> set[str]:
    """The code keys (hex SHA-256) some function or published version of any region and account
    names: its own code's and its layers' (which it keeps using when the layer version is deleted)."""
    rows = conn.execute(
        "SELECT json_extract(config, '$.code_key') FROM functions "
        "UNION SELECT json_extract(config, '$.code_key') FROM function_versions "
        "UNION SELECT json_extract(l.value, '$.code_key') FROM functions, json_each(functions.config, "
        "'$.layers') AS l "
        "UNION SELECT json_extract(l.value, '$.code_key') FROM function_versions, "
        "json_each(function_versions.config, '$.layers') AS l"
    ).fetchall()
    return {r[0] for r in rows if r[0]}
