"""The SQLite store's documents and send marks (see :mod:`.base`): bodies run inside its transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .base import Doc, DocWrite, doc_condition_holds

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_expires ON docs (expires_ms);
"""


def check(writes: Sequence[DocWrite]) -> None:
    for write in writes:
        if write.value is not None and write.ttl_ms <= 0:
            raise ValueError(f"ttl_ms must be > 0 to write document {write.key!r}")


def mark_sent(conn: sqlite3.Connection, keys: Sequence[str], owner: str, now_ms: int) -> None:
    conn.executemany(
        "UPDATE claims SET sent_ms = ? WHERE key = ? AND owner = ? AND status = 'in_progress' "
        "AND expires_ms > ?",
        [(now_ms, key, owner, now_ms) for key in keys],
    )


def read(conn: sqlite3.Connection, keys: Sequence[str], now_ms: int) -> dict[str, Doc]:
    found: dict[str, Doc] = {}
    for key in dict.fromkeys(keys):
        row = conn.execute(
            "SELECT value, version, expires_ms FROM docs WHERE key = ? AND expires_ms > ?", (key, now_ms)
        ).fetchone()
        if row is not None:
            found[key] = Doc(key, row[0], int(row[1]), int(row[2]))
    return found


def write(conn: sqlite3.Connection, writes: Sequence[DocWrite], now_ms: int) -> list[bool]:
    applied: list[bool] = []
    for item in writes:
        row = conn.execute("SELECT version, expires_ms FROM docs WHERE key = ?", (item.key,)).fetchone()
        stored = 0 if row is None else int(row[0])  # live or not: versions never repeat (base.DocWrite)
        live = stored if row is not None and int(row[1]) > now_ms else None
        if not doc_condition_holds(item.if_version, live):
            applied.append(False)
            continue
        if item.value is None:
            # a tombstone: not live, but it keeps the version until the prune (DOC_TOMBSTONE_MS)
            conn.execute(
                "UPDATE docs SET value = '', version = ?, expires_ms = ? WHERE key = ?",
                (stored + 1, now_ms, item.key),
            )
        else:
            conn.execute(
                "INSERT OR REPLACE INTO docs (key, value, version, expires_ms) VALUES (?, ?, ?, ?)",
                (item.key, item.value, stored + 1, now_ms + item.ttl_ms),
            )
        applied.append(True)
    return applied
