"""The Tablestore state store's rows: the record, the version, the compact history, kept bounded and
extensible (checked in the local Tablestore server's table)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.otsserver import TablestoreServer
from ehpc_rerun.state.tablestore import TablestoreStateStore

from .test_tablestore_store import BUDGET, _claim, _complete, _row

# --- the row layout ------------------------------------------------------------------------------


def test_rows_hold_the_record_a_version_and_a_compact_history(
    tablestore_server: TablestoreServer, open_ts: Callable[..., TablestoreStateStore], table: str
) -> None:
    store = open_ts()
    _claim(store, ["k"], "inv-a", now=100)
    _complete(store, ["k"], "inv-a", now=200, dedupe=5_000)
    assert _row(tablestore_server, table, "k") == {
        "status": "done",
        "owner": "inv-a",
        "detail": "evt-inv-a",
        "at_ms": 200,
        "expires_ms": 5_200,
        "version": 2,
        "history": '[{"at_ms":200,"id":"inv-a:200"}]',
    }


def test_history_is_pruned_to_the_budget_window_on_every_write(
    tablestore_server: TablestoreServer, open_ts: Callable[..., TablestoreStateStore], table: str
) -> None:
    # given reruns at t=0 and t=10
    store = open_ts()
    for now in (0, 10):
        _claim(store, ["k"], f"inv-{now}", now=now)
        _complete(store, ["k"], f"inv-{now}", now=now, dedupe=1)
    # when a claim is written after the first left the window
    _claim(store, ["k"], "inv-late", now=BUDGET + 5)
    # then only the second is kept
    row = _row(tablestore_server, table, "k")
    assert row is not None and json.loads(row["history"]) == [{"at_ms": 10, "id": "inv-10:10"}]


def test_fields_added_to_history_entries_by_other_versions_are_kept(
    tablestore_server: TablestoreServer, open_ts: Callable[..., TablestoreStateStore], table: str
) -> None:
    # given a history entry written by a newer version, with fields this one does not know
    store = open_ts()
    _claim(store, ["k"], "inv-a", now=0)
    _complete(store, ["k"], "inv-a", now=1, dedupe=1)
    stored = tablestore_server.store.table(table).rows[("k",)]
    newer = [{"at_ms": 1, "id": "inv-a:1", "source": "cms", "ehpc_request_id": "req-1"}]
    stored["history"] = (json.dumps(newer), stored["history"][1])
    # when this version rewrites the row
    _claim(store, ["k"], "inv-b", now=5)
    _complete(store, ["k"], "inv-b", now=6)
    # then the unknown fields survive, and the new entry is appended
    row = _row(tablestore_server, table, "k")
    assert row is not None
    assert json.loads(row["history"]) == [*newer, {"at_ms": 6, "id": "inv-b:6"}]


def test_release_deletes_a_lease_without_history_and_keeps_one_with_history(
    tablestore_server: TablestoreServer, open_ts: Callable[..., TablestoreStateStore], table: str
) -> None:
    # given a fresh lease on "new" and a lease on "old", which was rerun once before
    store = open_ts()
    _claim(store, ["old"], "inv-a", now=0)
    _complete(store, ["old"], "inv-a", now=0, dedupe=1)
    _claim(store, ["new", "old"], "inv-b", now=10)
    # when inv-b releases both
    store.release(["new", "old"], owner="inv-b")
    # then "new" is gone and "old" keeps its history, with no live record
    assert _row(tablestore_server, table, "new") is None
    old = _row(tablestore_server, table, "old")
    assert old is not None and old["status"] == "released" and old["expires_ms"] == 0
    assert len(json.loads(old["history"])) == 1
    assert _claim(store, ["old"], "inv-c", now=11)[0].acquired


def test_a_row_this_code_did_not_write_fails_closed(
    tablestore_server: TablestoreServer, open_ts: Callable[..., TablestoreStateStore], table: str
) -> None:
    # given a row whose expiry is text, as another program might write it
    tablestore_server.store.table(table).rows[("k",)] = {"status": ("done", 1), "expires_ms": ("soon", 1)}
    store = open_ts()
    # when claimed / then the store refuses rather than guessing
    with pytest.raises(StateStoreUnavailable, match=r"unexpected data in the Tablestore table .*expires_ms"):
        _claim(store, ["k"], "inv-a", now=0)
