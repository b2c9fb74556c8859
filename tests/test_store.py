"""The durable store: group commit, failure isolation inside a group, durability across reopen."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from lambdabox.store.db import Store


def make(path: Path) -> Store:
    store = Store(path)
    store.open()
    store.migrate("t", ["CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"])
    return store


def put(k: str, v: int):  # type: ignore[no-untyped-def]
    def run(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO kv(k, v) VALUES (?, ?)", (k, v))
        return v

    return run


def test_concurrent_writes_commit_and_a_failing_one_is_isolated(tmp_path: Path) -> None:
    store = make(tmp_path / "db.sqlite")

    async def main() -> list[object]:
        writes = [store.write(put(f"k{i}", i)) for i in range(200)]
        writes.append(store.write(put("k5", 99)))  # duplicate key: fails alone
        return await asyncio.gather(*writes, return_exceptions=True)

    results = asyncio.run(main())
    assert results[:200] == list(range(200))
    assert isinstance(results[200], sqlite3.IntegrityError)
    store.close()
    reopened = make(tmp_path / "db.sqlite")  # migrations are not re-applied
    rows = reopened.read_sync(lambda c: c.execute("SELECT count(*), sum(v) FROM kv").fetchone())
    assert tuple(rows) == (200, sum(range(200)))
    reopened.close()


def test_write_after_close_is_refused(tmp_path: Path) -> None:
    store = make(tmp_path / "db.sqlite")
    store.close()
    with pytest.raises(RuntimeError):
        asyncio.run(store.write(put("a", 1)))
