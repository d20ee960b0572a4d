"""PlainBuffer rows on the wire: decode what the SDK sends, encode what it reads back.

Rows inside PutRow/UpdateRow/DeleteRow/GetRow/BatchGetRow/BatchWriteRow/GetRange are PlainBuffer-encoded with
CRC8 checksums per cell and per row (format: https://www.alibabacloud.com/help/en/tablestore/developer-reference/
plainbuffer, and the SDK's ``tablestore/plainbuffer/*``).

ENCODING (server -> SDK) reuses the SDK's own ``PlainBufferBuilder``, so the SDK reads exactly what it writes.
DECODING (SDK -> server) is written by hand here: the SDK only decodes the rows a server returns, and its
reader fails on the cell-type tag an UpdateRow carries (``read_column`` refers to an undefined ``cell_type``),
so it cannot read an UpdateRow's DELETE / DELETE_ALL / INCREMENT cells. Checksums are computed with the SDK's
own ``PlainBufferCrc8`` in the order the SDK's writer uses (name, value, timestamp, cell type).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ._sdk import PlainBufferBuilder, PlainBufferCrc8
from .errors import OTSError, parameter_invalid

HEADER = 0x75
TAG_ROW_PK, TAG_ROW_DATA, TAG_CELL, TAG_CELL_NAME, TAG_CELL_VALUE = 0x1, 0x2, 0x3, 0x4, 0x5
TAG_CELL_TYPE, TAG_CELL_TIMESTAMP, TAG_DELETE_ROW_MARKER = 0x6, 0x7, 0x8
TAG_ROW_CHECKSUM, TAG_CELL_CHECKSUM = 0x9, 0xA
VT_INTEGER, VT_DOUBLE, VT_BOOLEAN, VT_STRING, VT_BLOB = 0x0, 0x1, 0x2, 0x3, 0x7
VT_INF_MIN, VT_INF_MAX, VT_AUTO_INCREMENT = 0x9, 0xA, 0xB
CELL_OPS = {0x1: "DELETE_ALL", 0x3: "DELETE", 0x4: "INCREMENT"}


class Infinity:
    """INF_MIN / INF_MAX, the range bounds GetRange accepts in place of a primary key value."""

    def __init__(self, name: str, sign: int) -> None:
        self.name = name
        self.sign = sign

    def __repr__(self) -> str:
        return self.name


INF_MIN = Infinity("INF_MIN", -1)
INF_MAX = Infinity("INF_MAX", 1)

# Attribute values: STRING, INTEGER, BOOLEAN, DOUBLE, BINARY (bytes). Primary key values add the range bounds.
Value = str | int | bool | float | bytes
PKValue = str | int | bytes | Infinity
PrimaryKey = list[tuple[str, PKValue]]


@dataclass
class CellChange:
    """An attribute cell of a request row; ``op``: PUT (set), DELETE (one version), DELETE_ALL, INCREMENT."""

    name: str
    value: Value | None
    op: str = "PUT"
    timestamp: int | None = None


@dataclass
class DecodedRow:
    primary_key: PrimaryKey
    cells: list[CellChange] = field(default_factory=list)
    delete_marker: bool = False


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise parameter_invalid("Invalid PlainBuffer: unexpected end of data.")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def int32(self) -> int:
        return int(struct.unpack("<i", self.take(4))[0])

    def int64(self) -> int:
        return int(struct.unpack("<q", self.take(8))[0])

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def expect(self, tag: int, what: str) -> None:
        if self.byte() != tag:
            raise parameter_invalid(f"Invalid PlainBuffer: expected {what}.")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise parameter_invalid("Invalid PlainBuffer: a STRING value is not UTF-8.") from None


def _read_variant(reader: _Reader, crc: int) -> tuple[PKValue | Value, int]:
    """Read a type byte and its payload (no length prefix); return the value and the updated checksum."""
    vtype = reader.byte()
    crc = PlainBufferCrc8.crc_int8(crc, vtype)
    if vtype == VT_INTEGER:
        number = reader.int64()
        return number, PlainBufferCrc8.crc_int64(crc, number)
    if vtype in (VT_STRING, VT_BLOB):
        size = reader.int32()
        raw = reader.take(size)
        crc = PlainBufferCrc8.crc_string(PlainBufferCrc8.crc_int32(crc, size), raw)
        return (_text(raw) if vtype == VT_STRING else raw), crc
    if vtype == VT_BOOLEAN:
        flag = reader.byte() != 0
        return flag, PlainBufferCrc8.crc_int8(crc, 1 if flag else 0)
    if vtype == VT_DOUBLE:
        bits = reader.int64()
        return float(struct.unpack("<d", struct.pack("<q", bits))[0]), PlainBufferCrc8.crc_int64(crc, bits)
    if vtype == VT_INF_MIN:
        return INF_MIN, crc
    if vtype == VT_INF_MAX:
        return INF_MAX, crc
    if vtype == VT_AUTO_INCREMENT:
        raise parameter_invalid("Auto-increment primary keys are not supported by the local server.")
    raise parameter_invalid(f"Invalid PlainBuffer: unknown value type {vtype}.")


def _read_cell_value(reader: _Reader, crc: int) -> tuple[PKValue | Value, int]:
    reader.expect(TAG_CELL_VALUE, "TAG_CELL_VALUE")
    size = reader.int32()
    end = reader.pos + size
    value, crc = _read_variant(reader, crc)
    if reader.pos != end:
        raise parameter_invalid("Invalid PlainBuffer: cell value length mismatch.")
    return value, crc


def _read_name(reader: _Reader) -> tuple[str, int]:
    reader.expect(TAG_CELL_NAME, "TAG_CELL_NAME")
    raw = reader.take(reader.int32())
    return _text(raw), PlainBufferCrc8.crc_string(0, raw)


def _check(reader: _Reader, tag: int, computed: int, what: str) -> None:
    reader.expect(tag, what)
    if reader.byte() != computed:
        raise parameter_invalid(f"Invalid PlainBuffer: {what} mismatch.")


def decode_row(data: bytes) -> DecodedRow:
    """Decode one PlainBuffer row (header included), verifying every cell and row checksum."""
    reader = _Reader(bytes(data))
    if reader.int32() != HEADER:
        raise parameter_invalid("Invalid PlainBuffer: bad header.")
    reader.expect(TAG_ROW_PK, "TAG_ROW_PK")
    row = DecodedRow(primary_key=[])
    row_crc = 0
    while reader.peek() == TAG_CELL:
        reader.byte()
        name, crc = _read_name(reader)
        value, crc = _read_cell_value(reader, crc)
        _check(reader, TAG_CELL_CHECKSUM, crc, "cell checksum")
        row.primary_key.append((name, value))  # type: ignore[arg-type]  # PK values are never float/bool here
        row_crc = PlainBufferCrc8.crc_int8(row_crc, crc)
    if reader.peek() == TAG_ROW_DATA:
        reader.byte()
        while reader.peek() == TAG_CELL:
            reader.byte()
            cell, crc = _read_attribute_cell(reader)
            row.cells.append(cell)
            row_crc = PlainBufferCrc8.crc_int8(row_crc, crc)
    if reader.peek() == TAG_DELETE_ROW_MARKER:
        reader.byte()
        row.delete_marker = True
    row_crc = PlainBufferCrc8.crc_int8(row_crc, 1 if row.delete_marker else 0)
    _check(reader, TAG_ROW_CHECKSUM, row_crc, "row checksum")
    if reader.peek() is not None:
        raise parameter_invalid("Invalid PlainBuffer: trailing data after the row.")
    return row


def _read_attribute_cell(reader: _Reader) -> tuple[CellChange, int]:
    name, crc = _read_name(reader)
    cell = CellChange(name=name, value=None)
    if reader.peek() == TAG_CELL_VALUE:
        value, crc = _read_cell_value(reader, crc)
        if isinstance(value, Infinity):
            raise parameter_invalid("INF_MIN/INF_MAX are not attribute values.")
        cell.value = value
    op_code = None
    if reader.peek() == TAG_CELL_TYPE:
        reader.byte()
        op_code = reader.byte()
        if op_code not in CELL_OPS:
            raise parameter_invalid(f"Invalid PlainBuffer: unknown cell type {op_code}.")
        cell.op = CELL_OPS[op_code]
    if reader.peek() == TAG_CELL_TIMESTAMP:
        reader.byte()
        cell.timestamp = reader.int64()
        crc = PlainBufferCrc8.crc_int64(crc, cell.timestamp)
    if op_code is not None:
        crc = PlainBufferCrc8.crc_int8(crc, op_code)
    _check(reader, TAG_CELL_CHECKSUM, crc, "cell checksum")
    return cell, crc


def decode_variant(data: bytes) -> Value:
    """Decode a column value as SingleColumnValueFilter carries it (type byte + payload, no tags, no CRC)."""
    reader = _Reader(bytes(data))
    value, _ = _read_variant(reader, 0)
    if isinstance(value, Infinity) or reader.peek() is not None:
        raise parameter_invalid("Invalid column value in the column condition.")
    return value


def _sdk_value(value: PKValue | Value) -> object:
    # The SDK's writer encodes ``bytes`` as STRING and ``bytearray`` as BINARY: hand it bytearray for BINARY.
    return bytearray(value) if isinstance(value, bytes) else value


def _sdk_pk(primary_key: PrimaryKey) -> list[tuple[str, object]]:
    return [(name, _sdk_value(value)) for name, value in primary_key]


def encode_row(primary_key: PrimaryKey, columns: list[tuple[str, Value, int]]) -> bytes:
    """Encode a stored row (columns as ``(name, value, timestamp_ms)``) the way the SDK's reader expects."""
    attributes = [(name, _sdk_value(value), ts) for name, value, ts in columns]
    try:
        return bytes(PlainBufferBuilder.serialize_for_put_row(_sdk_pk(primary_key), attributes))
    except Exception as exc:  # the SDK raises OTSClientError for values it cannot encode
        raise OTSError(500, "OTSInternalServerError", f"Cannot encode a stored row: {exc}") from exc


def encode_rows(rows: list[tuple[PrimaryKey, list[tuple[str, Value, int]]]]) -> bytes:
    """GetRange's ``rows``: one header, then the rows back to back (what the SDK's ``read_rows`` reads)."""
    if not rows:
        return b""
    encoded = [encode_row(pk, columns) for pk, columns in rows]
    return encoded[0] + b"".join(chunk[4:] for chunk in encoded[1:])


def encode_primary_key(primary_key: PrimaryKey) -> bytes:
    return bytes(PlainBufferBuilder.serialize_primary_key(_sdk_pk(primary_key)))
