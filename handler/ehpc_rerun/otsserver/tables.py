"""Thread-safe in-memory tables: rows keyed by primary key, one version per cell (max_versions=1).

Every row operation runs under one lock, so each is atomic: the condition is checked and the change
applied without another request in between (Tablestore's single-row conditional write guarantee;
conditional update: https://www.alibabacloud.com/help/doc-detail/35194.html). BatchWriteRow applies each
row operation on its own, with its own result
(https://www.alibabacloud.com/help/en/tablestore/developer-reference/batchwriterow).

UpdateRow cell operations (UpdateRow:
https://www.alibabacloud.com/help/en/tablestore/developer-reference/updaterow): PUT sets a column, DELETE
removes the version with the given timestamp, DELETE_ALL removes the column, INCREMENT adds an INTEGER to
an INTEGER column (a missing column counts as 0). An UpdateRow on an absent row creates it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from .conditions import ColumnCondition, WriteCondition
from .errors import parameter_invalid, table_already_exist, table_not_exist
from .wire import INF_MAX, INF_MIN, CellChange, Infinity, PKValue, PrimaryKey, Value

PK_TYPES = {"STRING": str, "INTEGER": int, "BINARY": bytes}
Cells = dict[str, tuple[Value, int]]  # column -> (value, timestamp in ms)
StoredRow = tuple[PrimaryKey, list[tuple[str, Value, int]]]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Table:
    name: str
    primary_key: list[tuple[str, str]]  # (name, "STRING" | "INTEGER" | "BINARY")
    time_to_live: int = -1
    max_versions: int = 1
    created_ms: int = field(default_factory=now_ms)
    rows: dict[tuple[PKValue, ...], Cells] = field(default_factory=dict)

    def key_of(self, primary_key: PrimaryKey, *, allow_infinity: bool = False) -> tuple[PKValue, ...]:
        """Validate ``primary_key`` against the schema (names, order, types) and return the row key."""
        names = [name for name, _ in self.primary_key]
        if [name for name, _ in primary_key] != names:
            raise parameter_invalid(
                f"Validate PK name fail. Input: {[n for n, _ in primary_key]}, Meta: {names}."
            )
        for (name, value), (_, pk_type) in zip(primary_key, self.primary_key, strict=True):
            if isinstance(value, Infinity) and allow_infinity:
                continue
            expected = PK_TYPES[pk_type]
            if not isinstance(value, expected) or isinstance(value, bool):
                raise parameter_invalid(f"Validate PK type fail. Column: {name}, expected {pk_type}.")
        return tuple(value for _, value in primary_key)

    def stored(self, key: tuple[PKValue, ...], columns_to_get: Iterable[str] = ()) -> StoredRow:
        wanted = set(columns_to_get)
        cells = self.rows[key]
        columns = [(n, v, ts) for n, (v, ts) in sorted(cells.items()) if not wanted or n in wanted]
        return [(name, key[i]) for i, (name, _) in enumerate(self.primary_key)], columns


def _values(cells: Cells | None) -> dict[str, Value] | None:
    return None if cells is None else {name: value for name, (value, _) in cells.items()}


def _apply_update(cells: Cells, changes: list[CellChange]) -> Cells:
    updated = dict(cells)
    for cell in changes:
        if cell.op == "PUT":
            if cell.value is None:
                raise parameter_invalid(f"Column {cell.name} has no value to put.")
            updated[cell.name] = (cell.value, cell.timestamp if cell.timestamp is not None else now_ms())
        elif cell.op == "DELETE_ALL":
            updated.pop(cell.name, None)
        elif cell.op == "DELETE":
            if cell.timestamp is None:
                raise parameter_invalid(f"Deleting one version of column {cell.name} needs its timestamp.")
            if cell.name in updated and updated[cell.name][1] == cell.timestamp:
                del updated[cell.name]
        else:  # INCREMENT
            current = updated.get(cell.name, (0, 0))[0]
            if not isinstance(cell.value, int) or isinstance(cell.value, bool):
                raise parameter_invalid(f"INCREMENT of column {cell.name} needs an INTEGER value.")
            if not isinstance(current, int) or isinstance(current, bool):
                raise parameter_invalid(
                    f"INCREMENT of column {cell.name}: the stored value is not an INTEGER."
                )
            updated[cell.name] = (current + cell.value, now_ms())
    return updated


class Store:
    """All tables of one instance, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, Table] = {}

    def create_table(
        self,
        name: str,
        primary_key: Iterable[tuple[str, str]] = (("key", "STRING"),),
        time_to_live: int = -1,
        max_versions: int = 1,
    ) -> Table:
        schema = [(str(n), str(t).upper()) for n, t in primary_key]
        if not name or not 1 <= len(schema) <= 4 or any(t not in PK_TYPES for _, t in schema):
            raise parameter_invalid(
                "A table needs a name and 1-4 primary key columns of STRING, INTEGER or BINARY."
            )
        with self.lock:
            if name in self.tables:
                raise table_already_exist()
            table = self.tables[name] = Table(name, schema, time_to_live, max_versions)
            return table

    def drop_table(self, name: str) -> None:
        with self.lock:
            if self.tables.pop(name, None) is None:
                raise table_not_exist()

    def table(self, name: str) -> Table:
        table = self.tables.get(name)
        if table is None:
            raise table_not_exist()
        return table

    def names(self) -> list[str]:
        with self.lock:
            return sorted(self.tables)

    def get_row(
        self,
        table_name: str,
        primary_key: PrimaryKey,
        columns_to_get: Iterable[str] = (),
        column_filter: ColumnCondition | None = None,
    ) -> StoredRow | None:
        with self.lock:
            table = self.table(table_name)
            key = table.key_of(primary_key)
            cells = table.rows.get(key)
            if cells is None or (
                column_filter is not None and not column_filter.matches(_values(cells) or {})
            ):
                return None
            return table.stored(key, columns_to_get)

    def write_row(
        self,
        table_name: str,
        kind: str,
        primary_key: PrimaryKey,
        changes: list[CellChange],
        condition: WriteCondition,
    ) -> StoredRow:
        """Apply one PUT / UPDATE / DELETE atomically; return the row afterwards (PK only if deleted)."""
        with self.lock:
            table = self.table(table_name)
            key = table.key_of(primary_key)
            if any(cell.name in dict(table.primary_key) for cell in changes):
                raise parameter_invalid("An attribute column has the name of a primary key column.")
            current = table.rows.get(key)
            condition.check(_values(current))
            if kind == "PUT":
                stamp = now_ms()
                table.rows[key] = {
                    c.name: (c.value, c.timestamp or stamp) for c in changes if c.value is not None
                }
            elif kind == "UPDATE":
                table.rows[key] = _apply_update(current or {}, changes)
            else:
                table.rows.pop(key, None)
                return list(primary_key), []
            return table.stored(key)

    def get_range(
        self,
        table_name: str,
        start: PrimaryKey,
        end: PrimaryKey,
        *,
        forward: bool,
        limit: int | None,
        columns_to_get: Iterable[str] = (),
        column_filter: ColumnCondition | None = None,
    ) -> tuple[list[StoredRow], PrimaryKey | None]:
        """Rows from ``start`` (inclusive) to ``end`` (exclusive); the next start PK if cut by ``limit``."""
        with self.lock:
            table = self.table(table_name)
            low = table.key_of(start, allow_infinity=True)
            high = table.key_of(end, allow_infinity=True)
            keys = sorted(table.rows, reverse=not forward)
            selected = [k for k in keys if _in_range(k, low, high, forward)]
            if column_filter is not None:
                selected = [k for k in selected if column_filter.matches(_values(table.rows[k]) or {})]
            cap = min(limit or 5000, 5000)  # GetRange returns at most 5,000 rows per call
            rows = [table.stored(k, columns_to_get) for k in selected[:cap]]
            next_start = table.stored(selected[cap])[0] if len(selected) > cap else None
            return rows, next_start


def _cmp(key: tuple[PKValue, ...], bound: tuple[PKValue, ...]) -> int:
    for value, limit in zip(key, bound, strict=False):
        if isinstance(limit, Infinity):
            return -limit.sign  # every value is above INF_MIN and below INF_MAX
        if value != limit:
            return -1 if value < limit else 1  # type: ignore[operator]  # same PK column type
    return 0


def _in_range(
    key: tuple[PKValue, ...], start: tuple[PKValue, ...], end: tuple[PKValue, ...], forward: bool
) -> bool:
    if forward:
        return _cmp(key, start) >= 0 and _cmp(key, end) < 0
    return _cmp(key, start) <= 0 and _cmp(key, end) > 0


__all__ = ["INF_MAX", "INF_MIN", "Store", "Table"]
