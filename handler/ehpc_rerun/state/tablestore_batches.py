"""BatchGetRow / BatchWriteRow for the Tablestore state store: chunked to the documented limits, with
per-row results (a batch can partly fail with HTTP 200) turned into "settled" or "decide again".

Limits: BatchGetRow reads at most 100 rows, BatchWriteRow writes at most 200 rows and 4 MB, and neither
may name a primary key twice (https://www.alibabacloud.com/help/en/tablestore/developer-reference/batch-get-row-in-python,
https://www.alibabacloud.com/help/zh/tablestore/table-store-service/developer-reference/batchwriterow).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, Generic, TypeVar

from ehpc_rerun.errors import StateStoreUnavailable

from . import tablestore_rows as rows

PK = "key"
# The table holds claim rows and document rows (the deploy template makes one table and grants only
# BatchGetRow/BatchWriteRow on it). Document rows start with DOC_ROW_PREFIX; a claim key starting with
# "~" (none of ours does: "job:...", "http-replay:...") is stored under CLAIM_ESCAPE + key. So every
# row key starting with "~doc:" is a document, and no claim key can map to one, whatever its text.
DOC_ROW_PREFIX = "~doc:"
CLAIM_ESCAPE = "~claim:"

MAX_GET_ROWS = 100
MAX_WRITE_ROWS = 200
MAX_WRITE_BYTES = 3 * 1024 * 1024  # under the 4 MB limit, with room for encoding overhead
# Row-level failures that mean "not applied, try again" (the SDK retries these only for whole requests).
RETRYABLE = frozenset(
    {
        "OTSConditionCheckFail",  # another instance changed the row since we read it
        "OTSRowOperationConflict",
        "OTSServerBusy",
        "OTSNotEnoughCapacityUnit",
        "OTSOperationThrottled",
        "OTSPartitionUnavailable",
        "OTSTimeout",
        "OTSInternalServerError",
        "OTSServerUnavailable",
        "OTSQuotaExhausted",
    }
)
CONDITION_FAILED = "OTSConditionCheckFail"
_READ_ATTEMPTS = 3

Call = Callable[[str, Any], Any]
Explain = Callable[[BaseException], StateStoreUnavailable]
RowT = TypeVar("RowT")
# (key, attribute columns or None) -> the parsed row, None if there is none; raises rows.ForeignRow.
Parse = Callable[[str, Any], "RowT | None"]


def claim_row_key(key: str) -> str:
    """The primary key of the row holding claim key ``key``."""
    return CLAIM_ESCAPE + key if key.startswith("~") else key


def doc_row_key(key: str) -> str:
    """The primary key of the row holding document ``key``."""
    return DOC_ROW_PREFIX + key


class BatchIO(Generic[RowT]):
    """Reads and conditional writes of whole batches of rows of one table, in one namespace of keys:
    ``row_key`` maps a key to its primary key (claims and documents share the table), ``parse`` reads
    a row's attribute columns."""

    def __init__(
        self,
        sdk: ModuleType,
        table: str,
        call: Call,
        unavailable: Explain,
        *,
        parse: Parse[RowT],
        row_key: Callable[[str], str],
    ) -> None:
        self._sdk, self._table, self._call, self._unavailable = sdk, table, call, unavailable
        self._parse, self._row_key = parse, row_key

    def read(self, keys: Sequence[str]) -> dict[str, RowT | None]:
        """The current row of each (distinct) key, None where there is none."""
        out: dict[str, RowT | None] = {}
        for chunk in _chunks(list(keys), MAX_GET_ROWS):
            todo = chunk
            for attempt in range(_READ_ATTEMPTS):
                failed = self._read_chunk(todo, out, last=attempt == _READ_ATTEMPTS - 1)
                if not failed:
                    break
                todo = failed
        return out

    def _read_chunk(self, keys: list[str], out: dict[str, RowT | None], *, last: bool) -> list[str]:
        sdk = self._sdk
        request = sdk.BatchGetRowRequest()
        primary_keys = [[(PK, self._row_key(key))] for key in keys]
        request.add(sdk.TableInBatchGetRowItem(self._table, primary_keys, None, None, max_version=1))
        items = self._call("batch_get_row", request).get_result_by_table(self._table)
        if items is None or len(items) != len(keys):
            raise self._odd_reply("BatchGetRow")
        failed: list[str] = []
        for key, item in zip(keys, items, strict=True):
            if not item.is_ok:
                if item.error_code in RETRYABLE and not last:
                    failed.append(key)
                    continue
                raise self._row_error(item.error_code, item.error_message)
            attributes = item.row.attribute_columns if item.row is not None else None
            try:
                out[key] = self._parse(key, attributes)
            except rows.ForeignRow as exc:
                raise StateStoreUnavailable(
                    f"unexpected data in the Tablestore table {self._table!r}: {exc}; is another program "
                    "writing to this table? Give the state store a table of its own (EHPC_RERUN_STATE)"
                ) from None
        return failed

    def write(self, writes: Sequence[rows.Write]) -> set[str]:
        """Send every write; returns the keys whose write was not applied and must be decided again."""
        return set(self.write_failures(writes))

    def write_failures(self, writes: Sequence[rows.Write]) -> dict[str, str]:
        """Send every write; returns, for each write not applied, its (retryable) error code, e.g.
        :data:`CONDITION_FAILED`. Other row errors raise StateStoreUnavailable."""
        failed: dict[str, str] = {}
        for chunk in _write_chunks(writes):
            failed.update(self._write_chunk(chunk))
        return failed

    def _write_chunk(self, writes: list[rows.Write]) -> dict[str, str]:
        sdk = self._sdk
        request = sdk.BatchWriteRowRequest()
        request.add(sdk.TableInBatchWriteRowItem(self._table, [self._row_item(w) for w in writes]))
        response = self._call("batch_write_row", request)
        # The SDK groups results by kind, each group in request order (5.x has no index on an item).
        by_kind: dict[str, Iterator[Any]] = {}
        try:
            by_kind = {
                "put": iter(response.get_put_by_table(self._table)),
                "update": iter(response.get_update_by_table(self._table)),
                "delete": iter(response.get_delete_by_table(self._table)),
            }
        except KeyError:
            raise self._odd_reply("BatchWriteRow") from None
        retry: dict[str, str] = {}
        for w in writes:
            item = next(by_kind[w.kind], None)
            if item is None:
                raise self._odd_reply("BatchWriteRow")
            if item.is_ok:
                continue
            if item.error_code in RETRYABLE:
                retry[w.key] = str(item.error_code)
            else:
                raise self._row_error(item.error_code, item.error_message)
        return retry

    def _row_item(self, w: rows.Write) -> Any:
        sdk = self._sdk
        pk = [(PK, self._row_key(w.key))]
        if w.kind == "put":
            return sdk.PutRowItem(
                sdk.Row(pk, list(w.columns.items())),
                sdk.Condition(sdk.RowExistenceExpectation.EXPECT_NOT_EXIST),
            )
        checks = [self._equals(rows.VERSION, w.expect_version)]
        if w.expect_owner is not None:
            checks += [self._equals(rows.OWNER, w.expect_owner), self._equals(rows.STATUS, "in_progress")]
        if w.expect_live_at_ms is not None:
            checks.append(self._compare(rows.EXPIRES_MS, "GREATER_THAN", w.expect_live_at_ms))
        column_condition = checks[0]
        if len(checks) > 1:
            column_condition = sdk.CompositeColumnCondition(sdk.LogicalOperator.AND)
            for check in checks:
                column_condition.add_sub_condition(check)
        condition = sdk.Condition(sdk.RowExistenceExpectation.EXPECT_EXIST, column_condition)
        if w.kind == "delete":
            return sdk.DeleteRowItem(sdk.Row(pk), condition)
        changes: dict[str, Any] = {"put": list(w.columns.items())}
        if w.delete_columns:
            changes["delete_all"] = list(w.delete_columns)
        return sdk.UpdateRowItem(sdk.Row(pk, changes), condition)

    def _equals(self, column: str, value: object) -> Any:
        return self._compare(column, "EQUAL", value)

    def _compare(self, column: str, comparator: str, value: object) -> Any:
        # pass_if_missing=False: a row without the column (not one of ours) must not pass the check.
        return self._sdk.SingleColumnCondition(
            column, value, getattr(self._sdk.ComparatorType, comparator), pass_if_missing=False
        )

    def _row_error(self, code: str, message: str) -> StateStoreUnavailable:
        # Same wording as a whole-request failure with that code.
        return self._unavailable(self._sdk.OTSServiceError(200, code, message or ""))

    def _odd_reply(self, action: str) -> StateStoreUnavailable:
        return StateStoreUnavailable(
            f"the Tablestore {action} reply for table {self._table!r} does not match the request; "
            "check that EHPC_RERUN_STATE points at a Tablestore endpoint"
        )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _write_chunks(writes: Sequence[rows.Write]) -> Iterator[list[rows.Write]]:
    chunk: list[rows.Write] = []
    size = 0
    for w in writes:
        cost = w.approx_bytes()
        if chunk and (len(chunk) >= MAX_WRITE_ROWS or size + cost > MAX_WRITE_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(w)
        size += cost
    if chunk:
        yield chunk
