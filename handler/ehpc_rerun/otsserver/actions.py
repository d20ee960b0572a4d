"""The Tablestore actions the local server implements: protobuf request in, protobuf response out.

Messages are the SDK's own ``table_store_pb2`` classes. Limits and batch semantics:
- BatchGetRow: at most 100 rows per request; each row has its own result.
  https://www.alibabacloud.com/help/doc-detail/27310.html
- BatchWriteRow: at most 200 rows per request; a missing table, duplicate tables or duplicate primary keys
  in one table fail the whole request; otherwise every row operation runs on its own and reports ``is_ok``
  / ``error`` (HTTP 200 even if some rows fail), in request order.
  https://www.alibabacloud.com/help/en/tablestore/table-store-service/developer-reference/batchwriterow
"""

from __future__ import annotations

from collections.abc import Callable

from ._sdk import DecodeError, Message, pb2
from .conditions import ColumnCondition, WriteCondition
from .errors import OTSError, parameter_invalid
from .tables import Store, StoredRow
from .wire import PrimaryKey, decode_row, encode_primary_key, encode_row, encode_rows

MAX_BATCH_GET_ROWS = 100
MAX_BATCH_WRITE_ROWS = 200
KINDS = {pb2.PUT: "PUT", pb2.UPDATE: "UPDATE", pb2.DELETE: "DELETE"}

Handler = Callable[[Store, bytes], Message]


def _parse(message: Message, body: bytes) -> None:
    try:
        message.ParseFromString(body)
    except DecodeError:
        raise parameter_invalid("Failed to parse the ProtoBuf message.") from None


def _consumed(target: pb2.ConsumedCapacity, *, read: int = 0, write: int = 0) -> None:
    target.capacity_unit.read = read
    target.capacity_unit.write = write


def _filter(raw: bytes) -> ColumnCondition | None:
    return ColumnCondition(raw) if raw else None


def _encoded(row: StoredRow | None) -> bytes:
    return b"" if row is None else encode_row(*row)


def _table_meta(store: Store, name: str, target: pb2.TableMeta) -> None:
    table = store.table(name)
    target.table_name = table.name
    for pk_name, pk_type in table.primary_key:
        column = target.primary_key.add()
        column.name = pk_name
        column.type = pb2.PrimaryKeyType.Value(pk_type)


def create_table(store: Store, body: bytes) -> Message:
    request = pb2.CreateTableRequest()
    _parse(request, body)
    schema = [(c.name, pb2.PrimaryKeyType.Name(c.type)) for c in request.table_meta.primary_key]
    options = request.table_options
    store.create_table(
        request.table_meta.table_name,
        schema,
        time_to_live=options.time_to_live if options.HasField("time_to_live") else -1,
        max_versions=options.max_versions if options.HasField("max_versions") else 1,
    )
    return pb2.CreateTableResponse()


def list_table(store: Store, body: bytes) -> Message:
    response = pb2.ListTableResponse()
    response.table_names.extend(store.names())
    return response


def describe_table(store: Store, body: bytes) -> Message:
    request = pb2.DescribeTableRequest()
    _parse(request, body)
    response = pb2.DescribeTableResponse()
    with store.lock:
        _table_meta(store, request.table_name, response.table_meta)
        table = store.table(request.table_name)
        response.reserved_throughput_details.capacity_unit.read = 0
        response.reserved_throughput_details.capacity_unit.write = 0
        response.reserved_throughput_details.last_increase_time = table.created_ms // 1000
        response.table_options.time_to_live = table.time_to_live
        response.table_options.max_versions = table.max_versions
        response.table_options.deviation_cell_version_in_sec = 86400
    return response


def delete_table(store: Store, body: bytes) -> Message:
    request = pb2.DeleteTableRequest()
    _parse(request, body)
    store.drop_table(request.table_name)
    return pb2.DeleteTableResponse()


def get_row(store: Store, body: bytes) -> Message:
    request = pb2.GetRowRequest()
    _parse(request, body)
    primary_key = decode_row(request.primary_key).primary_key
    row = store.get_row(request.table_name, primary_key, request.columns_to_get, _filter(request.filter))
    response = pb2.GetRowResponse()
    _consumed(response.consumed, read=1)
    response.row = _encoded(row)
    return response


def _write(
    store: Store, table_name: str, kind: str, row_change: bytes, condition: pb2.Condition
) -> StoredRow:
    decoded = decode_row(row_change)
    if kind == "DELETE" and not decoded.delete_marker:
        raise parameter_invalid("A DeleteRow primary key must carry the delete marker.")
    return store.write_row(table_name, kind, decoded.primary_key, decoded.cells, WriteCondition(condition))


def _returned(row: StoredRow, content: pb2.ReturnContent) -> bytes:
    if content.return_type == pb2.RT_PK:
        return encode_primary_key(row[0])
    if content.return_type == pb2.RT_AFTER_MODIFY:
        wanted = set(content.return_column_names)
        return encode_row(row[0], [c for c in row[1] if not wanted or c[0] in wanted])
    return b""


def _single_write(kind: str, request_class: type[Message], response_class: type[Message]) -> Handler:
    def handle(store: Store, body: bytes) -> Message:
        request = request_class()
        _parse(request, body)
        change = (
            request.primary_key
            if kind == "DELETE"
            else (request.row if kind == "PUT" else request.row_change)
        )
        row = _write(store, request.table_name, kind, change, request.condition)
        response = response_class()
        _consumed(response.consumed, write=1)
        returned = _returned(row, request.return_content)
        if returned:
            response.row = returned
        return response

    return handle


def batch_get_row(store: Store, body: bytes) -> Message:
    request = pb2.BatchGetRowRequest()
    _parse(request, body)
    if sum(len(t.primary_key) for t in request.tables) > MAX_BATCH_GET_ROWS:
        raise parameter_invalid(f"Rows count exceeds the upper limit: {MAX_BATCH_GET_ROWS}.")
    for table in request.tables:
        store.table(table.table_name)  # a missing table fails the whole request
    response = pb2.BatchGetRowResponse()
    for table in request.tables:
        out = response.tables.add()
        out.table_name = table.table_name
        column_filter = _filter(table.filter)
        for raw_key in table.primary_key:
            result = out.rows.add()
            try:
                row = store.get_row(
                    table.table_name, decode_row(raw_key).primary_key, table.columns_to_get, column_filter
                )
            except OTSError as error:
                result.is_ok = False
                result.error.code, result.error.message = error.code, error.message
                continue
            result.is_ok = True
            _consumed(result.consumed, read=1)
            result.row = _encoded(row)
    return response


def batch_write_row(store: Store, body: bytes) -> Message:
    request = pb2.BatchWriteRowRequest()
    _parse(request, body)
    if sum(len(t.rows) for t in request.tables) > MAX_BATCH_WRITE_ROWS:
        raise parameter_invalid(f"Rows count exceeds the upper limit: {MAX_BATCH_WRITE_ROWS}.")
    names = [t.table_name for t in request.tables]
    if len(set(names)) != len(names):
        raise parameter_invalid("Duplicated table name in the request.")
    for table in request.tables:
        store.table(table.table_name)
        if not table.rows:
            raise parameter_invalid(f"No row specified in table: '{table.table_name}'.")
        keys: list[PrimaryKey] = [decode_row(row.row_change).primary_key for row in table.rows]
        if len({repr(k) for k in keys}) != len(keys):
            raise parameter_invalid("The input parameter is invalid: duplicated primary key in one table.")
    response = pb2.BatchWriteRowResponse()
    for table in request.tables:
        out = response.tables.add()
        out.table_name = table.table_name
        for row in table.rows:
            result = out.rows.add()
            try:
                if row.type not in KINDS:
                    raise parameter_invalid(f"Unknown operation type {row.type}.")
                written = _write(store, table.table_name, KINDS[row.type], row.row_change, row.condition)
            except OTSError as error:
                result.is_ok = False
                result.error.code, result.error.message = error.code, error.message
                continue
            result.is_ok = True
            _consumed(result.consumed, write=1)
            returned = _returned(written, row.return_content)
            if returned:
                result.row = returned
    return response


def get_range(store: Store, body: bytes) -> Message:
    request = pb2.GetRangeRequest()
    _parse(request, body)
    rows, next_start = store.get_range(
        request.table_name,
        decode_row(request.inclusive_start_primary_key).primary_key,
        decode_row(request.exclusive_end_primary_key).primary_key,
        forward=request.direction == pb2.FORWARD,
        limit=request.limit if request.HasField("limit") and request.limit > 0 else None,
        columns_to_get=request.columns_to_get,
        column_filter=_filter(request.filter),
    )
    response = pb2.GetRangeResponse()
    _consumed(response.consumed, read=max(1, len(rows)))
    response.rows = encode_rows(rows)
    if next_start is not None:
        response.next_start_primary_key = encode_primary_key(next_start)
    return response


HANDLERS: dict[str, Handler] = {
    "CreateTable": create_table,
    "ListTable": list_table,
    "DescribeTable": describe_table,
    "DeleteTable": delete_table,
    "GetRow": get_row,
    "PutRow": _single_write("PUT", pb2.PutRowRequest, pb2.PutRowResponse),
    "UpdateRow": _single_write("UPDATE", pb2.UpdateRowRequest, pb2.UpdateRowResponse),
    "DeleteRow": _single_write("DELETE", pb2.DeleteRowRequest, pb2.DeleteRowResponse),
    "BatchGetRow": batch_get_row,
    "BatchWriteRow": batch_write_row,
    "GetRange": get_range,
}

__all__ = ["HANDLERS"]
