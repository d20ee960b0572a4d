"""One Tablestore row per key: how a row is read, what each operation writes, and the rerun history.

Pure data and decisions, no SDK: :mod:`ehpc_rerun.state.tablestore` sends what this module plans.

Row layout (primary key ``key`` STRING: the claim key, see
:func:`~ehpc_rerun.state.tablestore_batches.claim_row_key`)::

    status      STRING   "in_progress" | "done" | "released" (a dropped lease: no record)
    owner       STRING   the invocation that holds or held the record
    detail      STRING   free text (what caused the rerun)
    at_ms       INTEGER  when the record was claimed / completed
    expires_ms  INTEGER  logical expiry, compared with the caller's now_ms
    version     INTEGER  optimistic lock: every write is conditional on the version it read, and adds 1
    history     STRING   compact JSON list of reruns, e.g. [{"at_ms":123,"id":"inv-a:123"}]
    sent_ms     INTEGER  in-progress leases only, once marked sent (mark_sent); absent otherwise

Documents (:mod:`~ehpc_rerun.state.tablestore_docs`) share the table, under keys of their own.

History entries are JSON objects: unknown fields are kept when a row is rewritten (an older version of the
function never strips what a newer one wrote), and each write drops entries outside the budget window.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .base import RecordStatus, StateRecord

STATUS = "status"
OWNER = "owner"
DETAIL = "detail"
AT_MS = "at_ms"
EXPIRES_MS = "expires_ms"
VERSION = "version"
HISTORY = "history"
SENT_MS = "sent_ms"
COLUMNS = (STATUS, OWNER, DETAIL, AT_MS, EXPIRES_MS, VERSION, HISTORY, SENT_MS)
RELEASED = "released"

# budget_max_reruns is at most 1000 (settings.py), so a count above that already blocks every
# rerun; keeping only the newest 1000 entries bounds a row (≈ 60 bytes each) whatever happens.
MAX_HISTORY = 1000


class ForeignRow(ValueError):
    """A row in our table that this code did not write (wrong types, unreadable history)."""


@dataclass(frozen=True)
class Rerun:
    """One rerun in a key's history; ``extra`` holds fields added by other versions, kept as they are."""

    at_ms: int
    id: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.extra, "at_ms": self.at_ms, "id": self.id}


@dataclass(frozen=True)
class StoredRow:
    """A row as read from the table."""

    key: str
    status: str
    owner: str
    detail: str
    at_ms: int
    expires_ms: int
    version: int
    history: tuple[Rerun, ...]
    sent_ms: int | None = None

    def live_record(self, now_ms: int) -> StateRecord | None:
        """The record that blocks a claim at ``now_ms``, if any (expiry is logical, by the caller's clock)."""
        if self.status not in ("in_progress", "done") or self.expires_ms <= now_ms:
            return None
        return self.record()

    def record(self) -> StateRecord:
        status: RecordStatus = "done" if self.status == "done" else "in_progress"
        sent = self.sent_ms if status == "in_progress" else None
        return StateRecord(self.key, status, self.owner, self.detail, self.at_ms, self.expires_ms, sent)

    def expired_lease_of_another(self, owner: str, now_ms: int) -> bool:
        """Whether a claim by ``owner`` at ``now_ms`` would take over another invocation's lapsed lease."""
        return self.status == "in_progress" and self.owner != owner and self.expires_ms <= now_ms

    def is_live_lease_of(self, owner: str, now_ms: int) -> bool:
        return self.status == "in_progress" and self.owner == owner and self.expires_ms > now_ms


@dataclass(frozen=True)
class Write:
    """One conditional row write.

    ``kind`` "put" creates a row that must not exist yet (``expect_version`` is None); "update" and
    "delete" need the row to still be at ``expect_version``, i.e. unchanged since we read it.
    """

    key: str
    kind: Literal["put", "update", "delete"]
    expect_version: int | None
    columns: dict[str, str | int]
    # release only: the row must still be this owner's in-progress lease (belt and braces with the version)
    expect_owner: str | None = None
    # documents written without reading first: the row must also have expires_ms > this (be live)
    expect_live_at_ms: int | None = None
    # update only: columns to remove (a new lease or a done record must not keep an old lease's sent_ms)
    delete_columns: tuple[str, ...] = ()

    def approx_bytes(self) -> int:
        """Upper bound of the row's size on the wire (for BatchWriteRow's 4 MB limit)."""
        text = sum(len(str(v).encode()) + len(k) + 16 for k, v in self.columns.items())
        return text + len(self.key.encode()) + 64


# --- reading ----------------------------------------------------------------------------------------


def parse_row(key: str, attributes: Sequence[Sequence[Any]] | None) -> StoredRow | None:
    """A row from the SDK's attribute list ``[(name, value, timestamp), ...]``; None if there is none."""
    if not attributes:
        return None
    values = {str(item[0]): item[1] for item in attributes}
    try:
        return StoredRow(
            key=key,
            status=_text(values, STATUS),
            owner=_text(values, OWNER),
            detail=_text(values, DETAIL),
            at_ms=_integer(values, AT_MS),
            expires_ms=_integer(values, EXPIRES_MS),
            version=_integer(values, VERSION),
            history=parse_history(values.get(HISTORY, "[]")),
            sent_ms=_integer(values, SENT_MS) if SENT_MS in values else None,
        )
    except (TypeError, ValueError) as exc:
        raise ForeignRow(f"row {key!r}: {exc}") from None


def parse_history(raw: object) -> tuple[Rerun, ...]:
    if not isinstance(raw, str):
        raise ForeignRow("history is not a string")
    try:
        items = json.loads(raw)
    except ValueError:
        raise ForeignRow("history is not JSON") from None
    if not isinstance(items, list):
        raise ForeignRow("history is not a JSON list")
    out: list[Rerun] = []
    for item in items:
        if not isinstance(item, dict):
            raise ForeignRow("a history entry is not an object")
        at_ms, ident = item.get("at_ms"), item.get("id")
        if isinstance(at_ms, bool) or not isinstance(at_ms, int) or not isinstance(ident, str):
            raise ForeignRow("a history entry lacks an integer at_ms or a string id")
        extra = {k: v for k, v in item.items() if k not in ("at_ms", "id")}
        out.append(Rerun(at_ms, ident, extra))
    return tuple(out)


def dump_history(history: Sequence[Rerun]) -> str:
    return json.dumps([entry.to_json() for entry in history], separators=(",", ":"), ensure_ascii=False)


def in_window(history: Sequence[Rerun], cutoff_ms: int) -> list[Rerun]:
    """Entries younger than the budget window (at_ms > now - window), oldest first, at most MAX_HISTORY."""
    kept = sorted((entry for entry in history if entry.at_ms > cutoff_ms), key=lambda e: e.at_ms)
    return kept[-MAX_HISTORY:]


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name, "")
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _integer(values: Mapping[str, Any], name: str) -> int:
    value = values.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} is not an integer")
    return value


# --- planning writes --------------------------------------------------------------------------------


def _record_columns(
    status: str, owner: str, detail: str, at_ms: int, expires_ms: int, version: int, history: Sequence[Rerun]
) -> dict[str, str | int]:
    return {
        STATUS: status,
        OWNER: owner,
        DETAIL: detail,
        AT_MS: at_ms,
        EXPIRES_MS: expires_ms,
        VERSION: version,
        HISTORY: dump_history(history),
    }


def _write(key: str, row: StoredRow | None, columns: dict[str, str | int], *, fresh: bool = False) -> Write:
    """``fresh``: a new record replaces the row's, so a lapsed lease's sent_ms must go with it."""
    if row is None:
        return Write(key, "put", None, columns)
    dropped = (SENT_MS,) if fresh and row.sent_ms is not None else ()
    return Write(key, "update", row.version, columns, delete_columns=dropped)


def plan_claim(
    key: str, row: StoredRow | None, *, owner: str, detail: str, now_ms: int, lease_ms: int, cutoff_ms: int
) -> Write:
    """The lease to write on a key that has no live record (absent, expired or released)."""
    history = in_window(row.history, cutoff_ms) if row is not None else []
    version = row.version + 1 if row is not None else 1
    columns = _record_columns("in_progress", owner, detail, now_ms, now_ms + lease_ms, version, history)
    return _write(key, row, columns, fresh=True)


def rerun_id(owner: str, now_ms: int) -> str:
    """Unique per rerun of a key: the same owner completing again at the same instant is a retry."""
    return f"{owner}:{now_ms}"


def plan_complete(
    key: str, row: StoredRow | None, *, owner: str, now_ms: int, dedupe_ms: int, cutoff_ms: int
) -> Write | None:
    """Record the rerun; make it the key's done record unless another owner now holds a live one.

    None when there is nothing to write (this exact completion is already recorded).
    """
    ident = rerun_id(owner, now_ms)
    history = in_window(row.history, cutoff_ms) if row is not None else []
    already = any(entry.id == ident for entry in history)
    if not already:
        history = [*history, Rerun(now_ms, ident)][-MAX_HISTORY:]
    if row is None:
        return _write(key, None, _record_columns("done", owner, "", now_ms, now_ms + dedupe_ms, 1, history))
    version = row.version + 1
    others_live = row.owner != owner and row.live_record(now_ms) is not None
    if others_live:
        # Our lease was lost and someone else holds the key: leave their record, count our rerun.
        if already:
            return None
        columns = _record_columns(
            row.status, row.owner, row.detail, row.at_ms, row.expires_ms, version, history
        )
        return _write(key, row, columns)
    if already and row.status == "done" and row.owner == owner and row.at_ms == now_ms:
        return None
    kept_detail = row.detail if row.owner == owner else ""
    return _write(
        key,
        row,
        _record_columns("done", owner, kept_detail, now_ms, now_ms + dedupe_ms, version, history),
        fresh=True,
    )


def plan_mark_sent(key: str, row: StoredRow | None, *, owner: str, now_ms: int) -> Write | None:
    """Stamp our live lease with ``sent_ms``; the version moves, so a claimer that read it unstamped and
    decided to take it over (its clock past the expiry) has its write refused and reads the stamp."""
    if row is None or not row.is_live_lease_of(owner, now_ms):
        return None
    columns = _record_columns(
        row.status, row.owner, row.detail, row.at_ms, row.expires_ms, row.version + 1, row.history
    )
    columns[SENT_MS] = now_ms
    return _write(key, row, columns)


def plan_release(key: str, row: StoredRow | None, *, owner: str) -> Write | None:
    """Drop our in-progress lease; keep the row (marked released) while it still holds rerun history."""
    if row is None or row.status != "in_progress" or row.owner != owner:
        return None  # not ours (or already gone): nothing to do
    if not row.history:
        return Write(key, "delete", row.version, {}, expect_owner=owner)
    # Deleting the row would forget the key's reruns, i.e. reset its budget: keep the history.
    columns = _record_columns(RELEASED, row.owner, row.detail, row.at_ms, 0, row.version + 1, row.history)
    return Write(key, "update", row.version, columns, expect_owner=owner)


def landed(write: Write, row: StoredRow | None) -> bool:
    """Whether ``row`` is exactly what ``write`` would have produced (so it was applied)."""
    if write.kind == "delete" or row is None:
        return False
    expected_version = 1 if write.expect_version is None else write.expect_version + 1
    return (
        row.version == expected_version
        and row.status == write.columns[STATUS]
        and row.owner == write.columns[OWNER]
        and row.at_ms == write.columns[AT_MS]
        and dump_history(row.history) == write.columns[HISTORY]
    )
