"""Single-row operations through the official SDK: values, row existence and column conditions."""

from __future__ import annotations

import pytest
from tablestore import (
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    LogicalOperator,
    OTSClient,
    OTSServiceError,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
)

from ehpc_rerun.otsserver import TablestoreServer
from tests.otsserver.conftest import TABLE

EXPECT_NOT_EXIST = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)
EXPECT_EXIST = Condition(RowExistenceExpectation.EXPECT_EXIST)


def values_of(client: OTSClient, key: str) -> dict[str, object] | None:
    _, row, _ = client.get_row(TABLE, [("key", key)], max_version=1)
    return None if row is None else {name: value for name, value, _ts in row.attribute_columns}


def test_every_value_type_survives_put_get_update_and_delete(
    client: OTSClient, server: TablestoreServer
) -> None:
    # given a row with one column of each Tablestore type
    columns = [("s", "héllo"), ("i", -42), ("b", True), ("d", 2.5), ("bin", bytearray(b"\x00\xffraw"))]

    # when it is put, read, updated (set, delete a column, increment) and deleted
    client.put_row(TABLE, Row([("key", "job-1")], columns))
    read_back = values_of(client, "job-1")
    update = {"PUT": [("s", "bye")], "DELETE_ALL": ["b"], "INCREMENT": [("i", 2)]}
    client.update_row(TABLE, Row([("key", "job-1")], update), Condition(RowExistenceExpectation.IGNORE))
    updated = values_of(client, "job-1")
    client.delete_row(TABLE, Row([("key", "job-1")]), Condition(RowExistenceExpectation.IGNORE))

    # then every type came back as written, the update applied, and the row is gone
    assert read_back == {"s": "héllo", "i": -42, "b": True, "d": 2.5, "bin": bytearray(b"\x00\xffraw")}
    assert updated == {"s": "bye", "i": -40, "d": 2.5, "bin": bytearray(b"\x00\xffraw")}
    assert values_of(client, "job-1") is None
    assert server.rows() == {}
    assert server.calls["PutRow"] == 1 and server.calls["UpdateRow"] == 1 and server.calls["DeleteRow"] == 1


def test_expect_not_exist_put_succeeds_once_then_fails_the_condition(client: OTSClient) -> None:
    # given a first conditional put of a key
    client.put_row(TABLE, Row([("key", "dedupe")], [("owner", "a")]), EXPECT_NOT_EXIST)

    # when a second one comes for the same key
    with pytest.raises(OTSServiceError) as failure:
        client.put_row(TABLE, Row([("key", "dedupe")], [("owner", "b")]), EXPECT_NOT_EXIST)

    # then it fails with Tablestore's code and the first value stays
    assert (failure.value.get_http_status(), failure.value.get_error_code()) == (403, "OTSConditionCheckFail")
    assert failure.value.get_error_message() == "Condition check failed."
    assert values_of(client, "dedupe") == {"owner": "a"}


def test_expect_exist_on_an_absent_row_fails_and_creates_nothing(
    client: OTSClient, server: TablestoreServer
) -> None:
    # when an update expects a row that is not there
    with pytest.raises(OTSServiceError) as failure:
        client.update_row(TABLE, Row([("key", "ghost")], {"PUT": [("v", 1)]}), EXPECT_EXIST)

    # then the condition fails and no row appears
    assert failure.value.get_error_code() == "OTSConditionCheckFail"
    assert server.rows() == {}


def test_version_column_condition_guards_an_optimistic_update(client: OTSClient) -> None:
    # given a row at version 3
    client.put_row(TABLE, Row([("key", "lease")], [("version", 3), ("status", "in_progress")]))

    def only_if(version: int) -> Condition:
        equal = SingleColumnCondition("version", version, ComparatorType.EQUAL)
        return Condition(RowExistenceExpectation.EXPECT_EXIST, equal)

    # when one update expects version 2 (stale) and another expects version 3
    with pytest.raises(OTSServiceError) as stale:
        client.update_row(TABLE, Row([("key", "lease")], {"PUT": [("version", 9)]}), only_if(2))
    client.update_row(TABLE, Row([("key", "lease")], {"PUT": [("version", 4)]}), only_if(3))

    # then only the current one applied
    assert stale.value.get_error_code() == "OTSConditionCheckFail"
    assert values_of(client, "lease") == {"version": 4, "status": "in_progress"}


def test_composite_and_condition_deletes_only_the_owners_in_progress_row(client: OTSClient) -> None:
    # given a row owned by "worker-a" and in progress
    client.put_row(TABLE, Row([("key", "claim")], [("owner", "worker-a"), ("status", "in_progress")]))

    def owned_by(owner: str) -> Condition:
        both = CompositeColumnCondition(LogicalOperator.AND)
        both.add_sub_condition(SingleColumnCondition("owner", owner, ComparatorType.EQUAL))
        both.add_sub_condition(SingleColumnCondition("status", "in_progress", ComparatorType.EQUAL))
        return Condition(RowExistenceExpectation.IGNORE, both)

    # when another owner tries to delete it, then its owner does
    with pytest.raises(OTSServiceError) as wrong_owner:
        client.delete_row(TABLE, Row([("key", "claim")]), owned_by("worker-b"))
    still_there = values_of(client, "claim")
    client.delete_row(TABLE, Row([("key", "claim")]), owned_by("worker-a"))

    # then the first delete was refused and the second one removed the row
    assert wrong_owner.value.get_error_code() == "OTSConditionCheckFail"
    assert still_there == {"owner": "worker-a", "status": "in_progress"}
    assert values_of(client, "claim") is None


def test_comparators_pass_if_missing_and_not_or_combinators(client: OTSClient) -> None:
    # given a row with n = 5 and no "missing" column
    client.put_row(TABLE, Row([("key", "cmp")], [("n", 5)]))

    def passes(condition: object) -> bool:
        try:
            client.update_row(
                TABLE, Row([("key", "cmp")], {"PUT": [("touched", True)]}), Condition("IGNORE", condition)
            )
        except OTSServiceError as error:
            assert error.get_error_code() == "OTSConditionCheckFail"
            return False
        return True

    def single(op: str, value: object, **kw: bool) -> SingleColumnCondition:
        return SingleColumnCondition("n", value, getattr(ComparatorType, op), **kw)

    def combine(op: str, *subs: SingleColumnCondition) -> CompositeColumnCondition:
        node = CompositeColumnCondition(getattr(LogicalOperator, op))
        for sub in subs:
            node.add_sub_condition(sub)
        return node

    missing = SingleColumnCondition("missing", 1, ComparatorType.EQUAL, pass_if_missing=False)
    missing_ok = SingleColumnCondition("missing", 1, ComparatorType.EQUAL, pass_if_missing=True)

    # when / then each comparator and combinator decides as documented
    assert [passes(single(op, 5)) for op in ("EQUAL", "NOT_EQUAL", "GREATER_THAN")] == [True, False, False]
    assert [passes(single(op, 4)) for op in ("GREATER_THAN", "GREATER_EQUAL", "LESS_THAN", "LESS_EQUAL")] == [
        True,
        True,
        False,
        False,
    ]
    assert passes(single("EQUAL", "5")) is False  # a STRING is never equal to an INTEGER
    assert (passes(missing), passes(missing_ok)) == (False, True)
    assert passes(combine("NOT", single("EQUAL", 5))) is False
    assert passes(combine("OR", single("EQUAL", 1), single("EQUAL", 5))) is True
    assert passes(combine("AND", single("EQUAL", 5), missing)) is False


def test_missing_table_answers_object_not_exist(client: OTSClient) -> None:
    # when a row is read from a table that was never created
    with pytest.raises(OTSServiceError) as failure:
        client.get_row("no_such_table", [("key", "k")], max_version=1)

    # then Tablestore's code, status and message come back
    assert failure.value.get_http_status() == 404
    assert failure.value.get_error_code() == "OTSObjectNotExist"
    assert failure.value.get_error_message() == "Requested table does not exist."


def test_tables_can_be_created_described_listed_and_dropped(
    client: OTSClient, server: TablestoreServer
) -> None:
    # given a second table made from the test side
    server.create_table("extra", [("pk", "INTEGER")])

    # when the SDK lists and describes it, then deletes it
    listed = client.list_table()
    described = client.describe_table("extra")
    client.delete_table("extra")

    # then it was seen with its schema and is gone afterwards
    assert set(listed) == {TABLE, "extra"}
    assert described.table_meta.schema_of_primary_key == [("pk", "INTEGER")]
    assert client.list_table() == (TABLE,)
