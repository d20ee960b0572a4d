"""A :class:`~ehpc_rerun.state.base.StateStore` in one SQLite file (stdlib ``sqlite3``).

Good for one FC instance (``/tmp`` is per instance) and for tests; every process that opens the
same file shares the state. Each operation is one ``BEGIN IMMEDIATE`` transaction: it takes the
file's write lock before reading, so a read-then-write decision cannot interleave with another
connection's, in this process or any other. WAL keeps readers from blocking that writer, and
``busy_timeout`` makes contenders wait for the lock instead of failing at once.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ehpc_rerun.errors import StateStoreUnavailable

from . import sqlite_docs
from .base import (
    DOC_TOMBSTONE_MS,
    SENT_LEASE_RETENTION_MS,
    ClaimResult,
    Doc,
    DocWrite,
    RecordStatus,
    StateRecord,
)

T = TypeVar("T")

# Pruning scans whole tables; once a minute of store time is plenty for GC.
PRUNE_INTERVAL_MS = 60_000
# An expired lease is kept this long before it is pruned, as Redis keeps it (its GC_SLACK_MS), so that
# a claim soon after the expiry still finds it and reports it as taken over (with its sent_ms).
PRUNE_SLACK_MS = 60_000
# Switching to WAL needs a moment of exclusive access, which concurrent first openers can
# contend for without the busy handler helping; a few short retries settle it.
_INIT_ATTEMPTS = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    key        TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    owner      TEXT NOT NULL,
    detail     TEXT NOT NULL,
    at_ms      INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS claims_expires ON claims (expires_ms);
CREATE TABLE IF NOT EXISTS history (
    key   TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS history_key_at ON history (key, at_ms);
CREATE INDEX IF NOT EXISTS history_at ON history (at_ms);
"""
# Added after the first release: a file made by it gets the column on open.
_MIGRATIONS = ("ALTER TABLE claims ADD COLUMN sent_ms INTEGER",)
_UPSERT = (
    "INSERT OR REPLACE INTO claims (key, status, owner, detail, at_ms, expires_ms, sent_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, NULL)"
)


def _status(value: str) -> RecordStatus:
    return "done" if value == "done" else "in_progress"


class SqliteStateStore:
    """Dedupe leases and rerun history in the SQLite file at ``path`` (parents are created)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self._path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        # One connection per store, serialised by a lock: FC may call from several threads, and
        # the file lock already serialises writers, so per-thread connections would buy nothing.
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._last_prune_ms: int | None = None
        with self._lock:
            self._open()

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"SqliteStateStore({str(self._path)!r})"

    # --- the contract ---------------------------------------------------------------------------

    def claim(
        self,
        keys: Sequence[str],
        *,
        owner: str,
        detail: str,
        lease_ms: int,
        budget_window_ms: int,
        now_ms: int,
    ) -> list[ClaimResult]:
        _check_non_negative(lease_ms=lease_ms, budget_window_ms=budget_window_ms)
        if not keys:
            return []

        def body(conn: sqlite3.Connection) -> list[ClaimResult]:
            results: list[ClaimResult] = []
            for key in keys:
                row = conn.execute(
                    "SELECT status, owner, detail, at_ms, expires_ms, sent_ms FROM claims WHERE key = ?",
                    (key,),
                ).fetchone()
                existing: StateRecord | None = None
                taken_over: StateRecord | None = None
                if row is not None and row[4] > now_ms:
                    existing = StateRecord(key, _status(row[0]), row[1], row[2], row[3], row[4], row[5])
                else:
                    if row is not None and row[0] == "in_progress" and row[1] != owner:
                        taken_over = StateRecord(key, "in_progress", row[1], row[2], row[3], row[4], row[5])
                    conn.execute(_UPSERT, (key, "in_progress", owner, detail, now_ms, now_ms + lease_ms))
                (count,) = conn.execute(
                    "SELECT COUNT(*) FROM history WHERE key = ? AND at_ms > ?",
                    (key, now_ms - budget_window_ms),
                ).fetchone()
                results.append(ClaimResult(key, existing is None, existing, int(count), taken_over))
            self._maybe_prune(conn, now_ms, budget_window_ms)
            return results

        return self._transact(body)

    def complete(
        self,
        keys: Sequence[str],
        *,
        owner: str,
        dedupe_window_ms: int,
        budget_window_ms: int,
        now_ms: int,
    ) -> None:
        _check_non_negative(dedupe_window_ms=dedupe_window_ms, budget_window_ms=budget_window_ms)
        if not keys:
            return

        def body(conn: sqlite3.Connection) -> None:
            for key in keys:
                row = conn.execute(
                    "SELECT owner, detail, expires_ms FROM claims WHERE key = ?", (key,)
                ).fetchone()
                # A live record of someone else means our lease was lost and they now hold the
                # key: leave it. Otherwise (ours, lapsed or gone) the rerun happened, so dedupe it.
                if row is None or row[0] == owner or row[2] <= now_ms:
                    kept_detail = row[1] if row is not None and row[0] == owner else ""
                    conn.execute(
                        _UPSERT, (key, "done", owner, kept_detail, now_ms, now_ms + dedupe_window_ms)
                    )
                conn.execute("INSERT INTO history (key, at_ms) VALUES (?, ?)", (key, now_ms))
            self._maybe_prune(conn, now_ms, budget_window_ms)

        self._transact(body)

    def release(self, keys: Sequence[str], *, owner: str) -> None:
        if not keys:
            return

        def body(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM claims WHERE key = ? AND owner = ? AND status = 'in_progress'",
                [(key, owner) for key in keys],
            )

        self._transact(body)

    def mark_sent(self, keys: Sequence[str], *, owner: str, now_ms: int) -> None:
        if keys:
            self._transact(lambda conn: sqlite_docs.mark_sent(conn, keys, owner, now_ms))

    def read_docs(self, keys: Sequence[str], *, now_ms: int) -> dict[str, Doc]:
        return self._transact(lambda conn: sqlite_docs.read(conn, keys, now_ms)) if keys else {}

    def write_docs(self, writes: Sequence[DocWrite], *, now_ms: int) -> list[bool]:
        sqlite_docs.check(writes)
        return self._transact(lambda conn: sqlite_docs.write(conn, writes, now_ms)) if writes else []

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()

    # --- plumbing -------------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> StateStoreUnavailable:
        reason = str(exc).rstrip(". ")
        return StateStoreUnavailable(
            f"cannot use the SQLite state store at {self._path}: {type(exc).__name__}: {reason}; "
            "check that the directory is writable and the file is a SQLite database, or point "
            "EHPC_RERUN_STATE elsewhere."
        )

    def _open(self) -> None:
        """Connect and create the schema; called with the lock held."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout_ms / 1000,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,  # guarded by self._lock instead
            )
        except (sqlite3.Error, OSError) as exc:
            raise self._unavailable(exc) from exc
        try:
            for attempt in range(_INIT_ATTEMPTS):
                try:
                    conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                    conn.execute("PRAGMA journal_mode = WAL")
                    # NORMAL is crash-safe in WAL mode; only an OS crash can drop the last commits.
                    conn.execute("PRAGMA synchronous = NORMAL")
                    # The migration runs in the schema's transaction: two first openers of an old file
                    # must not both see the column missing (the second ALTER would fail).
                    conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}{sqlite_docs.SCHEMA}")
                    _migrate(conn)
                    conn.execute("COMMIT")
                    break
                except sqlite3.OperationalError as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    if "locked" not in str(exc) or attempt == _INIT_ATTEMPTS - 1:
                        raise
                    time.sleep(0.01 * (attempt + 1))
        except sqlite3.Error as exc:
            conn.close()
            raise self._unavailable(exc) from exc
        self._conn = conn
        self._pid = os.getpid()

    def _transact(self, body: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._conn is None:
                raise StateStoreUnavailable(f"the SQLite state store at {self._path} is closed")
            if self._pid != os.getpid():
                # A forked child must not use its parent's connection (SQLite forbids it).
                self._open()
            conn = self._conn
            assert conn is not None
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = body(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    # The original error is the one worth reporting.
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise self._unavailable(exc) from exc

    def _maybe_prune(self, conn: sqlite3.Connection, now_ms: int, budget_window_ms: int) -> None:
        last = self._last_prune_ms
        if last is not None and last <= now_ms < last + PRUNE_INTERVAL_MS:
            return
        self._last_prune_ms = now_ms
        # Logically expired records are the same as absent ones, so deleting them changes nothing.
        # ... except a lease stamped "sent", kept for a later claim to report (SENT_LEASE_RETENTION_MS)
        conn.execute(
            "DELETE FROM claims WHERE expires_ms <= ? AND "
            "(sent_ms IS NULL OR status != 'in_progress' OR sent_ms <= ?)",
            (now_ms - PRUNE_SLACK_MS, now_ms - SENT_LEASE_RETENTION_MS),
        )
        conn.execute("DELETE FROM history WHERE at_ms <= ?", (now_ms - budget_window_ms,))
        conn.execute("DELETE FROM docs WHERE expires_ms <= ?", (now_ms - DOC_TOMBSTONE_MS,))


def _migrate(conn: sqlite3.Connection) -> None:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(claims)")}
    for statement in _MIGRATIONS:
        column = statement.split("ADD COLUMN ")[1].split()[0]
        if column not in columns:
            conn.execute(statement)


def _check_non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
