"""BatchWriteRow / BatchGetRow / GetRange through the official SDK: per-row results and documented limits."""

from __future__ import annotations

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchGetRowRequest,
    BatchWriteRowRequest,
    ComparatorType,
    Condition,
    OTSClient,
    OTSServiceError,
    PutRowItem,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    UpdateRowItem,
)

from ehpc_rerun.otsserver import TablestoreServer
from tests.otsserver.conftest import TABLE

EXPECT_NOT_EXIST = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)


def test_batch_write_reports_the_failed_condition_per_row_and_applies_the_others(
    client: OTSClient, server: TablestoreServer
) -> None:
    # given two existing rows at version 1
    client.put_row(TABLE, Row([("key", "taken")], [("version", 1)]))
    client.put_row(TABLE, Row([("key", "other")], [("version", 1)]))
    stale = Condition(
        RowExistenceExpectation.EXPECT_EXIST, SingleColumnCondition("version", 7, ComparatorType.EQUAL)
    )
    request = BatchWriteRowRequest()
    request.add(
        TableInBatchWriteRowItem(
            TABLE,
            [
                PutRowItem(Row([("key", "new-1")], [("version", 1)]), EXPECT_NOT_EXIST),
                PutRowItem(Row([("key", "taken")], [("version", 2)]), EXPECT_NOT_EXIST),
                UpdateRowItem(Row([("key", "other")], {"PUT": [("version", 3)]}), stale),
                PutRowItem(Row([("key", "new-2")], [("version", 1)]), EXPECT_NOT_EXIST),
            ],
        )
    )

    # when the batch is written in one round trip
    server.reset_calls()
    response = client.batch_write_row(request)

    # then each row has its own result, in request order, and only the passing rows were applied
    put_ok, put_failed = response.get_put()
    update_ok, update_failed = response.get_update()
    assert [item.index for item in put_ok] == [0, 3]
    assert [(item.index, item.error_code, item.error_message) for item in put_failed + update_failed] == [
        (1, "OTSConditionCheckFail", "Condition check failed."),
        (2, "OTSConditionCheckFail", "Condition check failed."),
    ]
    assert update_ok == []
    assert server.rows() == {(key,): {"version": 1} for key in ("taken", "other", "new-1", "new-2")}
    assert server.calls == {"BatchWriteRow": 1}


def test_batch_get_returns_present_rows_and_empty_results_for_absent_ones(client: OTSClient) -> None:
    # given two stored rows
    client.put_row(TABLE, Row([("key", "a")], [("v", 1)]))
    client.put_row(TABLE, Row([("key", "b")], [("v", 2)]))
    request = BatchGetRowRequest()
    request.add(
        TableInBatchGetRowItem(TABLE, [[("key", "a")], [("key", "absent")], [("key", "b")]], max_version=1)
    )

    # when three keys are read at once, one of them absent
    items = client.batch_get_row(request).get_result_by_table(TABLE)

    # then every row is ok, in request order, and the absent one has no columns
    assert [item.is_ok for item in items] == [True, True, True]
    assert [[(n, v) for n, v, _ in item.row.attribute_columns] if item.row else None for item in items] == [
        [("v", 1)],
        None,
        [("v", 2)],
    ]


def test_batches_over_the_documented_row_limits_are_rejected(
    client: OTSClient, server: TablestoreServer
) -> None:
    # given a 101-row read and a 201-row write
    reads = BatchGetRowRequest()
    reads.add(TableInBatchGetRowItem(TABLE, [[("key", f"k{n}")] for n in range(101)], max_version=1))
    writes = BatchWriteRowRequest()
    writes.add(
        TableInBatchWriteRowItem(
            TABLE, [PutRowItem(Row([("key", f"k{n}")], [("v", n)]), None) for n in range(201)]
        )
    )

    # when each is sent
    with pytest.raises(OTSServiceError) as too_many_reads:
        client.batch_get_row(reads)
    with pytest.raises(OTSServiceError) as too_many_writes:
        client.batch_write_row(writes)

    # then both fail as a whole with OTSParameterInvalid and nothing was written
    assert (too_many_reads.value.get_http_status(), too_many_reads.value.get_error_code()) == (
        400,
        "OTSParameterInvalid",
    )
    assert too_many_writes.value.get_error_code() == "OTSParameterInvalid"
    assert server.rows() == {}


def test_batch_write_to_a_missing_table_fails_as_a_whole(client: OTSClient, server: TablestoreServer) -> None:
    # given a batch touching our table and one that does not exist
    request = BatchWriteRowRequest()
    request.add(TableInBatchWriteRowItem(TABLE, [PutRowItem(Row([("key", "x")], [("v", 1)]), None)]))
    request.add(TableInBatchWriteRowItem("missing", [PutRowItem(Row([("key", "y")], [("v", 1)]), None)]))

    # when it is written
    with pytest.raises(OTSServiceError) as failure:
        client.batch_write_row(request)

    # then the whole request fails and our table is untouched
    assert failure.value.get_error_code() == "OTSObjectNotExist"
    assert server.rows() == {}


def test_get_range_pages_through_rows_in_key_order(client: OTSClient) -> None:
    # given five rows written out of order
    for key in ("c", "a", "e", "b", "d"):
        client.put_row(TABLE, Row([("key", key)], [("v", key.upper())]))

    # when the range is read two rows at a time
    seen: list[tuple[str, str]] = []
    start: list[tuple[str, object]] | None = [("key", INF_MIN)]
    while start is not None:
        _, start, rows, _ = client.get_range(
            TABLE, "FORWARD", start, [("key", INF_MAX)], limit=2, max_version=1
        )
        seen += [(row.primary_key[0][1], row.attribute_columns[0][1]) for row in rows]

    # then every row came back once, in order
    assert seen == [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D"), ("e", "E")]
