"""Conditional writes: row existence expectations and column conditions, as Tablestore defines them.

Sources:
- RowExistenceExpectation IGNORE / EXPECT_EXIST / EXPECT_NOT_EXIST:
  https://alibabacloud.com/help/en/tablestore/developer-reference/rowexistenceexpectation
- Conditional update (row existence checked first, then the column condition; SingleColumnValueCondition
  compares a column with a constant; CompositeColumnValueCondition combines sub-conditions with
  NOT/AND/OR; up to 10): https://www.alibabacloud.com/help/doc-detail/35194.html and
  https://alibabacloud.com/help/en/tablestore/developer-reference/configure-conditional-update-by-using-python-sdk
- SingleColumnValueFilter fields (``filter_if_missing`` = not pass_if_missing; ``latest_version_only``;
  ``column_value`` PlainBuffer-encoded):
  https://alibabacloud.com/help/en/tablestore/developer-reference/singlecolumnvaluefilter
- The wire shape: ``Condition.column_condition`` is a serialized ``Filter`` of
  ``table_store_filter.proto``.

Comparing a column with a constant of another type is not described by the docs; here only EQUAL/NOT_EQUAL
can decide it (never equal), and an ordering comparison between different types fails (UNVERIFIED against
the service). BOOLEAN and INTEGER are different types even though Python's ``bool`` is an ``int``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._sdk import DecodeError, filter_pb2, pb2
from .errors import condition_check_fail, parameter_invalid
from .wire import Value, decode_variant

MAX_SUB_CONDITIONS = 10


def _kind(value: Value) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, str):
        return "STRING"
    return "BINARY"


def _compare(comparator: int, current: Value, expected: Value) -> bool:
    if comparator == filter_pb2.CT_EXIST:
        return True
    if comparator == filter_pb2.CT_NOT_EXIST:
        return False
    same_kind = _kind(current) == _kind(expected)
    if comparator == filter_pb2.CT_EQUAL:
        return same_kind and current == expected
    if comparator == filter_pb2.CT_NOT_EQUAL:
        return not same_kind or current != expected
    if not same_kind:
        return False
    left, right = current, expected
    if comparator == filter_pb2.CT_GREATER_THAN:
        return left > right  # type: ignore[operator]  # same kind: comparable
    if comparator == filter_pb2.CT_GREATER_EQUAL:
        return left >= right  # type: ignore[operator]
    if comparator == filter_pb2.CT_LESS_THAN:
        return left < right  # type: ignore[operator]
    if comparator == filter_pb2.CT_LESS_EQUAL:
        return left <= right  # type: ignore[operator]
    raise parameter_invalid(f"Unknown comparator {comparator} in the column condition.")


def _parse(message: filter_pb2.Filter | filter_pb2.SingleColumnValueFilter, raw: bytes, what: str) -> None:
    try:
        message.ParseFromString(raw)
    except DecodeError:
        raise parameter_invalid(f"Invalid {what} in the column condition.") from None


class ColumnCondition:
    """A parsed column condition (``Filter``), evaluated against a row's current column values."""

    def __init__(self, raw_filter: bytes) -> None:
        self.filter = filter_pb2.Filter()
        _parse(self.filter, raw_filter, "Filter")
        self.count = 0
        self._check(self.filter)
        if self.count > MAX_SUB_CONDITIONS:
            raise parameter_invalid(
                f"Too many column conditions: {self.count} (at most {MAX_SUB_CONDITIONS})."
            )

    def _check(self, node: filter_pb2.Filter) -> None:
        if node.type == filter_pb2.FT_SINGLE_COLUMN_VALUE:
            self.count += 1
            single = filter_pb2.SingleColumnValueFilter()
            _parse(single, node.filter, "SingleColumnValueFilter")
            if single.HasField("value_trans_rule"):
                raise parameter_invalid("Regex column conditions are not supported by the local server.")
            decode_variant(single.column_value)
        elif node.type == filter_pb2.FT_COMPOSITE_COLUMN_VALUE:
            composite = filter_pb2.CompositeColumnValueFilter()
            _parse(composite, node.filter, "CompositeColumnValueFilter")
            subs = list(composite.sub_filters)
            if composite.combinator == filter_pb2.LO_NOT and len(subs) != 1:
                raise parameter_invalid("A NOT column condition takes exactly one sub-condition.")
            if composite.combinator in (filter_pb2.LO_AND, filter_pb2.LO_OR) and len(subs) < 2:
                raise parameter_invalid("An AND/OR column condition takes at least two sub-conditions.")
            for sub in subs:
                self._check(sub)
        else:
            raise parameter_invalid(f"Unsupported column condition type {node.type}.")

    def matches(self, columns: Mapping[str, Value]) -> bool:
        return self._eval(self.filter, columns)

    def _eval(self, node: filter_pb2.Filter, columns: Mapping[str, Value]) -> bool:
        if node.type == filter_pb2.FT_SINGLE_COLUMN_VALUE:
            single = filter_pb2.SingleColumnValueFilter()
            single.ParseFromString(node.filter)
            if single.column_name not in columns:
                if single.comparator == filter_pb2.CT_NOT_EXIST:
                    return True
                return not single.filter_if_missing  # pass_if_missing
            # One version per cell is kept, so latest_version_only=True and False look at the same value.
            return _compare(
                single.comparator, columns[single.column_name], decode_variant(single.column_value)
            )
        composite = filter_pb2.CompositeColumnValueFilter()
        composite.ParseFromString(node.filter)
        results = (self._eval(sub, columns) for sub in composite.sub_filters)
        if composite.combinator == filter_pb2.LO_NOT:
            return not next(results)
        if composite.combinator == filter_pb2.LO_AND:
            return all(results)
        return any(results)


class WriteCondition:
    """``Condition`` of a write: the row existence expectation, then the optional column condition."""

    def __init__(self, proto: pb2.Condition) -> None:
        if proto.row_existence not in (pb2.IGNORE, pb2.EXPECT_EXIST, pb2.EXPECT_NOT_EXIST):
            raise parameter_invalid(f"Invalid row existence expectation {proto.row_existence}.")
        self.expectation = proto.row_existence
        self.column: ColumnCondition | None = None
        if proto.HasField("column_condition") and proto.column_condition:
            self.column = ColumnCondition(proto.column_condition)

    def check(self, current: Mapping[str, Value] | None) -> None:
        """Raise OTSConditionCheckFail unless the row (``None`` when absent) meets the condition."""
        if self.expectation == pb2.EXPECT_EXIST and current is None:
            raise condition_check_fail()
        if self.expectation == pb2.EXPECT_NOT_EXIST and current is not None:
            raise condition_check_fail()
        if self.column is not None and not self.column.matches(current or {}):
            raise condition_check_fail()
