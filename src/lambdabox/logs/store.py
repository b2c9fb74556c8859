"""CloudWatch Logs SQL: the schema and every query, as plain functions over a sqlite3 connection.

Functions here run inside `Store.write` (writer thread, one group commit) or `Store.read` (reader
thread); none of them touch the event loop. Groups are keyed by (region, account, name); streams
and events refer to their group by row id, so one database holds every namespace.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lambdabox.logs.models import (
    POSITION_SCALE,
    LogEvent,
    LogGroup,
    LogStream,
    split_position,
)

SCHEMA: list[str] = [
    """
    CREATE TABLE logs_groups (
        id INTEGER PRIMARY KEY,
        region TEXT NOT NULL,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        creation_time INTEGER NOT NULL,
        retention_days INTEGER,
        kms_key_id TEXT,
        log_group_class TEXT NOT NULL DEFAULT 'STANDARD',
        tags TEXT NOT NULL DEFAULT '{}',
        stored_bytes INTEGER NOT NULL DEFAULT 0,
        UNIQUE (region, account, name)
    );
    CREATE TABLE logs_streams (
        id INTEGER PRIMARY KEY,
        group_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        creation_time INTEGER NOT NULL,
        first_event_ts INTEGER,
        last_event_ts INTEGER,
        last_ingestion_time INTEGER,
        upload_seq INTEGER NOT NULL DEFAULT 0,
        UNIQUE (group_id, name)
    );
    CREATE TABLE logs_events (
        id INTEGER PRIMARY KEY,
        group_id INTEGER NOT NULL,
        stream_id INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        ingestion_time INTEGER NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX logs_events_stream_ts ON logs_events (stream_id, ts);
    CREATE INDEX logs_events_group_ts ON logs_events (group_id, ts)
    """,
]

_GROUP_COLS = "id, region, account, name, creation_time, retention_days, kms_key_id, log_group_class, tags, stored_bytes"
_STREAM_COLS = (
    "s.id, s.name, s.creation_time, s.first_event_ts, s.last_event_ts, s.last_ingestion_time, s.upload_seq"
)
_INT64_MAX = 2**63 - 1
_INSERT_BATCH = (
    "INSERT INTO logs_events (group_id, stream_id, ts, ingestion_time, message) "
    "SELECT ?1, ?2, json_extract(value, '$[0]'), ?3, json_extract(value, '$[1]') FROM json_each(?4) ORDER BY key"
)


# -- groups --------------------------------------------------------------------------------------


def _group(row: sqlite3.Row | tuple[Any, ...]) -> LogGroup:
    return LogGroup(
        id=row[0],
        region=row[1],
        account=row[2],
        name=row[3],
        creation_time=row[4],
        retention_days=row[5],
        kms_key_id=row[6],
        log_group_class=row[7],
        tags=json.loads(row[8]),
        stored_bytes=row[9],
    )


def get_group(conn: sqlite3.Connection, region: str, account: str, name: str) -> LogGroup | None:
    row = conn.execute(
        f"SELECT {_GROUP_COLS} FROM logs_groups WHERE region=? AND account=? AND name=?",
        (region, account, name),
    ).fetchone()
    return _group(row) if row else None


def insert_group(conn: sqlite3.Connection, group: LogGroup) -> bool:
    """Create the group; False if a group of that name already exists in its namespace."""
    cur = conn.execute(
        "INSERT INTO logs_groups (region, account, name, creation_time, retention_days, kms_key_id, "
        "log_group_class, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (region, account, name) DO NOTHING",
        (
            group.region,
            group.account,
            group.name,
            group.creation_time,
            group.retention_days,
            group.kms_key_id,
            group.log_group_class,
            json.dumps(dict(group.tags)),
        ),
    )
    return cur.rowcount == 1


def _group_id(conn: sqlite3.Connection, region: str, account: str, name: str) -> int | None:
    row = conn.execute(
        "SELECT id FROM logs_groups WHERE region=? AND account=? AND name=?", (region, account, name)
    ).fetchone()
    return None if row is None else int(row[0])


def delete_group(conn: sqlite3.Connection, region: str, account: str, name: str) -> bool:
    gid = _group_id(conn, region, account, name)
    if gid is None:
        return False
    conn.execute("DELETE FROM logs_events WHERE group_id=?", (gid,))
    conn.execute("DELETE FROM logs_streams WHERE group_id=?", (gid,))
    conn.execute("DELETE FROM logs_groups WHERE id=?", (gid,))
    return True


def set_retention(conn: sqlite3.Connection, region: str, account: str, name: str, days: int | None) -> bool:
    cur = conn.execute(
        "UPDATE logs_groups SET retention_days=? WHERE region=? AND account=? AND name=?",
        (days, region, account, name),
    )
    return cur.rowcount == 1


def update_tags(
    conn: sqlite3.Connection,
    region: str,
    account: str,
    name: str,
    change: Callable[[dict[str, str]], dict[str, str]],
) -> dict[str, str] | None:
    """Apply `change` to the group's tags (it may raise to abort); None if the group is missing."""
    group = get_group(conn, region, account, name)
    if group is None:
        return None
    tags = change(dict(group.tags))
    conn.execute("UPDATE logs_groups SET tags=? WHERE id=?", (json.dumps(tags), group.id))
    return tags


@dataclass(frozen=True)
class GroupQuery:
    region: str
    account: str
    prefix: str | None = None
    pattern: str | None = None
    log_group_class: str | None = None
    names: Sequence[str] | None = None
    after: str | None = None
    limit: int = 50


def list_groups(conn: sqlite3.Connection, q: GroupQuery) -> list[LogGroup]:
    """Groups in ASCII name order, at most `q.limit + 1` (the extra one tells there is more)."""
    where = ["region=?", "account=?"]
    args: list[Any] = [q.region, q.account]
    if q.prefix:
        where.append("name >= ? AND substr(name, 1, ?) = ?")
        args += [q.prefix, len(q.prefix), q.prefix]
    if q.pattern:
        where.append("instr(name, ?) > 0")
        args.append(q.pattern)
    if q.log_group_class:
        where.append("log_group_class = ?")
        args.append(q.log_group_class)
    if q.names is not None:
        where.append(f"name IN ({','.join('?' * len(q.names))})")
        args += list(q.names)
    if q.after is not None:
        where.append("name > ?")
        args.append(q.after)
    rows = conn.execute(
        f"SELECT {_GROUP_COLS} FROM logs_groups WHERE {' AND '.join(where)} ORDER BY name LIMIT ?",
        (*args, q.limit + 1),
    ).fetchall()
    return [_group(r) for r in rows]


# -- streams -------------------------------------------------------------------------------------


def _stream(group: LogGroup, row: sqlite3.Row | tuple[Any, ...]) -> LogStream:
    return LogStream(
        region=group.region,
        account=group.account,
        group=group.name,
        id=row[0],
        name=row[1],
        creation_time=row[2],
        first_event_ts=row[3],
        last_event_ts=row[4],
        last_ingestion_time=row[5],
        upload_seq=row[6],
    )


def get_stream(conn: sqlite3.Connection, group: LogGroup, name: str) -> LogStream | None:
    row = conn.execute(
        f"SELECT {_STREAM_COLS} FROM logs_streams s WHERE s.group_id=? AND s.name=?", (group.id, name)
    ).fetchone()
    return _stream(group, row) if row else None


def insert_stream(conn: sqlite3.Connection, group_id: int, name: str, creation_time: int) -> bool:
    cur = conn.execute(
        "INSERT INTO logs_streams (group_id, name, creation_time) VALUES (?, ?, ?) "
        "ON CONFLICT (group_id, name) DO NOTHING",
        (group_id, name, creation_time),
    )
    return cur.rowcount == 1


def _stream_id(conn: sqlite3.Connection, group_id: int, name: str) -> int | None:
    row = conn.execute("SELECT id FROM logs_streams WHERE group_id=? AND name=?", (group_id, name)).fetchone()
    return None if row is None else int(row[0])


def delete_stream(conn: sqlite3.Connection, group_id: int, name: str) -> bool:
    sid = _stream_id(conn, group_id, name)
    if sid is None:
        return False
    conn.execute("DELETE FROM logs_events WHERE stream_id=?", (sid,))
    conn.execute("DELETE FROM logs_streams WHERE id=?", (sid,))
    return True


@dataclass(frozen=True)
class StreamQuery:
    prefix: str | None = None
    order_by: Literal["LogStreamName", "LastEventTime"] = "LogStreamName"
    descending: bool = False
    after: tuple[int, str] | None = None  # (last event time or -1, name) of the previous page's last stream
    limit: int = 50


def list_streams(conn: sqlite3.Connection, group: LogGroup, q: StreamQuery) -> list[LogStream]:
    """Streams in the requested order, at most `q.limit + 1` (the extra one tells there is more)."""
    where = ["s.group_id=?"]
    args: list[Any] = [group.id]
    if q.prefix:
        where.append("s.name >= ? AND substr(s.name, 1, ?) = ?")
        args += [q.prefix, len(q.prefix), q.prefix]
    direction = "DESC" if q.descending else "ASC"
    cmp = "<" if q.descending else ">"
    if q.order_by == "LastEventTime":
        key = "(COALESCE(s.last_event_ts, -1), s.name)"
        order = f"COALESCE(s.last_event_ts, -1) {direction}, s.name {direction}"
        if q.after is not None:
            where.append(f"{key} {cmp} (?, ?)")
            args += [q.after[0], q.after[1]]
    else:
        order = f"s.name {direction}"
        if q.after is not None:
            where.append(f"s.name {cmp} ?")
            args.append(q.after[1])
    rows = conn.execute(
        f"SELECT {_STREAM_COLS} FROM logs_streams s WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?",
        (*args, q.limit + 1),
    ).fetchall()
    return [_stream(group, r) for r in rows]


# -- writing events ------------------------------------------------------------------------------


def insert_events(
    conn: sqlite3.Connection,
    group_id: int,
    stream_id: int,
    events: Sequence[tuple[int, str]],
    ingestion_time: int,
) -> None:
    """Append events to a stream and update the stream's and group's statistics."""
    if not events:
        return
    # One statement for the whole batch: sqlite3 releases the GIL around every step, and a step per
    # row would make this thread and the event loop hand the GIL back and forth for each event.
    # SQLite's JSON functions end a string at a NUL, so a batch holding one binds every message
    # as a parameter instead (slower, and rare), which stores the text whole.
    if any("\x00" in msg for _, msg in events):
        _insert_rows(conn, group_id, stream_id, events, ingestion_time)
    else:
        try:
            conn.execute(
                _INSERT_BATCH, (group_id, stream_id, ingestion_time, json.dumps(events, ensure_ascii=False))
            )
        except UnicodeEncodeError:  # a lone surrogate somewhere: store the text with replacement characters
            cleaned = json.dumps([(ts, _clean(msg)) for ts, msg in events], ensure_ascii=False)
            conn.execute(_INSERT_BATCH, (group_id, stream_id, ingestion_time, cleaned))
    nbytes = len("".join([m for _, m in events]).encode("utf-8", "surrogatepass"))
    first = min(ts for ts, _ in events)
    last = max(ts for ts, _ in events)
    conn.execute(
        "UPDATE logs_streams SET first_event_ts = min(COALESCE(first_event_ts, ?), ?), "
        "last_event_ts = max(COALESCE(last_event_ts, ?), ?), last_ingestion_time = ?, "
        "upload_seq = upload_seq + 1 WHERE id = ?",
        (first, first, last, last, ingestion_time, stream_id),
    )
    conn.execute("UPDATE logs_groups SET stored_bytes = stored_bytes + ? WHERE id = ?", (nbytes, group_id))


def _insert_rows(
    conn: sqlite3.Connection,
    group_id: int,
    stream_id: int,
    events: Sequence[tuple[int, str]],
    ingestion_time: int,
) -> None:
    """Insert events one bound row each, in order (lone surrogates become replacement characters)."""
    conn.executemany(
        "INSERT INTO logs_events (group_id, stream_id, ts, ingestion_time, message) VALUES (?, ?, ?, ?, ?)",
        [(group_id, stream_id, ts, ingestion_time, _clean(msg)) for ts, msg in events],
    )


def _clean(message: str) -> str:
    return message.encode("utf-8", "replace").decode("utf-8")


def ensure_group_row(conn: sqlite3.Connection, region: str, account: str, name: str, now_ms: int) -> int:
    gid = _group_id(conn, region, account, name)
    if gid is not None:
        return gid
    cur = conn.execute(
        "INSERT INTO logs_groups (region, account, name, creation_time) VALUES (?, ?, ?, ?)",
        (region, account, name, now_ms),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def ensure_stream_row(conn: sqlite3.Connection, group_id: int, name: str, now_ms: int) -> int:
    sid = _stream_id(conn, group_id, name)
    if sid is not None:
        return sid
    cur = conn.execute(
        "INSERT INTO logs_streams (group_id, name, creation_time) VALUES (?, ?, ?)", (group_id, name, now_ms)
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


StreamKey = tuple[str, str, str, str]  # region, account, group, stream


def write_appended(
    conn: sqlite3.Connection, batch: Mapping[StreamKey, Sequence[tuple[int, str]]], now_ms: int
) -> int:
    """Durably store a batch from the writer interface, creating missing groups and streams."""
    count = 0
    for (region, account, group, stream), events in batch.items():
        gid = ensure_group_row(conn, region, account, group, now_ms)
        sid = ensure_stream_row(conn, gid, stream, now_ms)
        insert_events(conn, gid, sid, events, now_ms)
        count += len(events)
    return count


def retention_cutoff(retention_days: int | None, now_ms: int) -> int | None:
    """The oldest event timestamp a group with this retention still keeps (None: keeps all)."""
    return None if retention_days is None else now_ms - retention_days * 86_400_000


def expire_events(conn: sqlite3.Connection, now_ms: int, limit: int = 10_000) -> int:
    """Delete up to `limit` events older than their group's retention, shrinking its storedBytes;
    returns how many were deleted (fewer than `limit`: nothing expired is left)."""
    deleted = 0
    groups = conn.execute(
        "SELECT id, retention_days FROM logs_groups WHERE retention_days IS NOT NULL"
    ).fetchall()
    for gid, days in groups:
        if deleted >= limit:
            break
        cutoff = retention_cutoff(days, now_ms)
        rows = conn.execute(
            "SELECT id, length(CAST(message AS BLOB)) FROM logs_events INDEXED BY logs_events_group_ts "
            "WHERE group_id=? AND ts < ? LIMIT ?",
            (gid, cutoff, limit - deleted),
        ).fetchall()
        if not rows:
            continue
        conn.executemany("DELETE FROM logs_events WHERE id=?", [(r[0],) for r in rows])
        conn.execute(
            "UPDATE logs_groups SET stored_bytes = max(0, stored_bytes - ?) WHERE id=?",
            (sum(r[1] for r in rows), gid),
        )
        deleted += len(rows)
    return deleted


# -- reading events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventScan:
    """A walk over events in position order, bounded by time, position and size."""

    start_time: int | None = None  # ts >= start_time
    end_time: int | None = None  # ts < end_time (exclusive; callers turn inclusive ends into +1)
    after: int | None = None  # position strictly past this one (in the scan's direction)
    descending: bool = False
    limit: int = 10_000
    max_bytes: int = 0  # 0: no byte budget
    max_scanned: int = 0  # 0: no scan budget


@dataclass(frozen=True)
class ScanResult:
    events: list[LogEvent]
    last_scanned: int | None  # position of the last event examined
    exhausted: bool  # nothing further matches the bounds


def scan_events(
    conn: sqlite3.Connection,
    scan: EventScan,
    *,
    group_id: int,
    stream_ids: Sequence[int] | None = None,
    stream_prefix: str | None = None,
    keep: Callable[[str], bool] | None = None,
) -> ScanResult:
    """Events of a group (optionally some of its streams) in position order, filtered by `keep`."""
    where: list[str] = []
    args: list[Any] = []
    if stream_ids is not None and len(stream_ids) == 1:
        index = "logs_events_stream_ts"
        where.append("e.stream_id = ?")
        args.append(stream_ids[0])
    else:
        index = "logs_events_group_ts"
        where.append("e.group_id = ?")
        args.append(group_id)
        if stream_ids is not None:
            where.append(f"e.stream_id IN ({','.join('?' * len(stream_ids))})")
            args += list(stream_ids)
    if stream_prefix:
        where.append("substr(s.name, 1, ?) = ?")
        args += [len(stream_prefix), stream_prefix]
    if scan.start_time is not None:
        where.append("e.ts >= ?")
        args.append(min(scan.start_time, _INT64_MAX))
    if scan.end_time is not None:
        where.append("e.ts < ?")
        args.append(min(scan.end_time, _INT64_MAX))
    if scan.after is not None and scan.after >= 0:
        ts, rid = split_position(scan.after)
        ts, rid = min(ts, _INT64_MAX), min(rid, _INT64_MAX)  # tokens are client input
        if scan.descending:
            where.append("e.ts <= ? AND (e.ts, e.id) < (?, ?)")
        else:
            where.append("e.ts >= ? AND (e.ts, e.id) > (?, ?)")
        args += [ts, ts, rid]
    elif scan.after is not None and scan.descending:  # before the first possible position
        return ScanResult([], None, exhausted=True)
    direction = "DESC" if scan.descending else "ASC"
    sql = (
        f"SELECT e.id, s.name, e.ts, e.ingestion_time, e.message FROM logs_events e INDEXED BY {index} "
        f"JOIN logs_streams s ON s.id = e.stream_id WHERE {' AND '.join(where)} "
        f"ORDER BY e.ts {direction}, e.id {direction}"
    )
    events: list[LogEvent] = []
    size = 0
    scanned = 0
    last: int | None = None
    cur = conn.execute(sql, args)
    try:
        for row in cur:
            if len(events) >= scan.limit or (scan.max_bytes and size >= scan.max_bytes):
                return ScanResult(events, last, exhausted=False)
            if scan.max_scanned and scanned >= scan.max_scanned:
                return ScanResult(events, last, exhausted=False)
            scanned += 1
            rid, sname, ts, ing, msg = row
            last = ts * POSITION_SCALE + rid
            if keep is not None and not keep(msg):
                continue
            events.append(LogEvent(rid, sname, ts, ing, msg))
            size += len(msg) + 26
        return ScanResult(events, last, exhausted=True)
    finally:
        cur.close()


def stream_ids_by_names(conn: sqlite3.Connection, group_id: int, names: Iterable[str]) -> list[int]:
    names = list(names)
    rows = conn.execute(
        f"SELECT id FROM logs_streams WHERE group_id=? AND name IN ({','.join('?' * len(names))})",
        (group_id, *names),
    ).fetchall()
    return [int(r[0]) for r in rows]
