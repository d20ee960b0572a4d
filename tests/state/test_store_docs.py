"""Documents (read_docs / write_docs): versions, logical expiry and compare-and-set, run against every backend
(SQLite file, real Redis, local Tablestore server), including many threads and processes racing on one doc."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest

from ehpc_rerun.otsserver import TablestoreServer
from ehpc_rerun.state import StateStore, open_store
from ehpc_rerun.state.base import ANY_VERSION, Doc, DocWrite

from .conftest import StoreFactory, fake_credentials

NOW = 1_000_000
TTL = 60_000


def put(store: StateStore, key: str, value: str, *, now: int = NOW, ttl: int = TTL, **kw: Any) -> bool:
    [applied] = store.write_docs([DocWrite(key, value, ttl, **kw)], now_ms=now)
    return applied


def delete(store: StateStore, key: str, *, now: int = NOW, **kw: Any) -> bool:
    [applied] = store.write_docs([DocWrite(key, None, **kw)], now_ms=now)
    return applied


def read(store: StateStore, key: str, *, now: int = NOW) -> Doc | None:
    return store.read_docs([key], now_ms=now).get(key)


# --- absent, live, expired ---------------------------------------------------------------------------


def test_a_document_never_written_is_not_read(store: StateStore) -> None:
    # given an empty store / when a key is read / then nothing comes back
    assert store.read_docs(["nothing-here"], now_ms=NOW) == {}


def test_a_new_document_is_version_1_and_lives_ttl_from_now(store: StateStore) -> None:
    # given an empty store / when a document is created (only if absent)
    applied = put(store, "d", '{"n": 1}', if_version=None)
    # then it was written, with version 1, expiring ttl after the caller's now
    assert applied is True
    assert read(store, "d") == Doc("d", '{"n": 1}', 1, NOW + TTL)


def test_a_document_is_live_until_its_expiry_and_gone_from_then(store: StateStore) -> None:
    # given a document expiring at NOW + TTL
    put(store, "d", "v")
    # when it is read just before and exactly at its expiry
    before, at = read(store, "d", now=NOW + TTL - 1), read(store, "d", now=NOW + TTL)
    # then it is there before and absent at the expiry (logical, by the caller's clock)
    assert before is not None and before.value == "v"
    assert at is None


def test_another_store_on_the_same_backend_reads_the_document(store_factory: StoreFactory) -> None:
    # given a document written through one store
    put(store_factory(), "shared", "from-a")
    # when another store (own connection, as another instance) reads it
    doc = read(store_factory(), "shared")
    # then it sees it
    assert doc == Doc("shared", "from-a", 1, NOW + TTL)


def test_text_is_stored_exactly_including_unicode_empty_and_large_values(store: StateStore) -> None:
    # given values that could be mangled on the way
    values = {"unicode": 'é✓ "quoted" \\ \n tab\t', "empty": "", "large": "x" * 100_000}
    # when they are written
    results = store.write_docs([DocWrite(k, v, TTL) for k, v in values.items()], now_ms=NOW)
    # then each reads back byte for byte
    assert results == [True, True, True]
    docs = store.read_docs(list(values), now_ms=NOW)
    assert {k: d.value for k, d in docs.items()} == values


# --- if_version ----------------------------------------------------------------------------------------


def test_create_only_if_absent_fails_on_a_live_document_and_leaves_it(store: StateStore) -> None:
    # given a live document
    put(store, "d", "first")
    # when another writer creates it "only if absent"
    applied = put(store, "d", "second", now=NOW + 10, if_version=None)
    # then it is refused and the first stays as it was
    assert applied is False
    assert read(store, "d", now=NOW + 10) == Doc("d", "first", 1, NOW + TTL)


def test_create_only_if_absent_succeeds_over_an_expired_document_with_a_new_version(
    store: StateStore,
) -> None:
    # given a document that went through 3 versions and then expired
    put(store, "d", "v1")
    put(store, "d", "v2", if_version=1)
    put(store, "d", "v3", if_version=2)
    later = NOW + TTL + 5
    # when it is created again "only if absent" after its expiry
    applied = put(store, "d", "fresh", now=later, if_version=None)
    # then the expired one counted as absent, and the new one's version is above every earlier one
    assert applied is True
    assert read(store, "d", now=later) == Doc("d", "fresh", 4, later + TTL)


def test_a_matching_version_replaces_the_document_and_increments_the_version(store: StateStore) -> None:
    # given a document at version 1
    put(store, "d", "v1")
    # when it is replaced on version 1, then on version 2, with new ttls
    first = put(store, "d", "v2", now=NOW + 1, ttl=10, if_version=1)
    second = put(store, "d", "v3", now=NOW + 2, ttl=20, if_version=2)
    # then both applied, each one version later, each living its own ttl from its own now
    assert (first, second) == (True, True)
    assert read(store, "d", now=NOW + 2) == Doc("d", "v3", 3, NOW + 22)


def test_a_stale_version_is_refused_and_changes_nothing(store: StateStore) -> None:
    # given a document at version 2
    put(store, "d", "v1")
    put(store, "d", "v2", if_version=1)
    # when a writer that read version 1 tries to replace it
    applied = put(store, "d", "lost-update", if_version=1)
    # then it is refused
    assert applied is False
    assert read(store, "d") == Doc("d", "v2", 2, NOW + TTL)


def test_a_version_condition_on_an_absent_document_is_refused(store: StateStore) -> None:
    # given no document / when written on version 1 / then refused and still absent
    assert put(store, "d", "v", if_version=1) is False
    assert read(store, "d") is None


def test_a_version_condition_on_an_expired_document_is_refused(store: StateStore) -> None:
    # given a document at version 1 that expired
    put(store, "d", "v1")
    later = NOW + TTL
    # when written on version 1 after the expiry
    applied = put(store, "d", "v2", now=later, if_version=1)
    # then refused: an expired document has no live version; it stays absent
    assert applied is False
    assert read(store, "d", now=later) is None


@pytest.mark.parametrize(
    ("history", "expected_version"),
    [([], 1), (["v1", "v2", "v3"], 4)],
    ids=["absent document", "document at version 3"],
)
def test_an_unconditional_write_always_applies(
    store: StateStore, history: list[str], expected_version: int
) -> None:
    # given a document that is absent, or live at version 3
    for version, value in enumerate(history):
        assert put(store, "d", value, if_version=version or None)
    # when written unconditionally
    applied = put(store, "d", "forced", if_version=ANY_VERSION)
    # then it applies, one version after the live one
    assert applied is True
    assert read(store, "d") == Doc("d", "forced", expected_version, NOW + TTL)


def test_an_unconditional_write_over_an_expired_document_gets_the_next_version(store: StateStore) -> None:
    # given a document at version 2 that expired
    put(store, "d", "v1")
    put(store, "d", "v2", if_version=1)
    later = NOW + TTL + 1
    # when written unconditionally after the expiry / then its version follows the expired one's
    assert put(store, "d", "again", now=later, if_version=ANY_VERSION) is True
    assert read(store, "d", now=later) == Doc("d", "again", 3, later + TTL)


def test_a_compare_and_set_read_before_a_delete_never_applies_to_the_re_created_document(
    store: StateStore,
) -> None:
    # given a writer that read version 1 of a document, which is then deleted and created anew
    put(store, "d", "A")
    stale = read(store, "d")
    assert stale is not None and stale.version == 1
    assert store.write_docs([DocWrite("d", None, if_version=1)], now_ms=NOW + 1) == [True]
    assert put(store, "d", "B", now=NOW + 2, if_version=None) is True
    # when the writer compares-and-sets on what it read
    applied = put(store, "d", "A+mine", now=NOW + 3, if_version=stale.version)
    # then it is refused (the versions never repeat: no ABA), and B is intact
    assert applied is False
    doc = read(store, "d", now=NOW + 3)
    assert doc is not None and doc.value == "B" and doc.version > stale.version


def test_a_compare_and_set_read_before_an_expiry_never_applies_to_the_document_after_it(
    store: StateStore,
) -> None:
    # given a writer that read version 1, then the document expired and was created anew
    put(store, "d", "A")
    later = NOW + TTL + 1
    assert put(store, "d", "B", now=later, if_version=None) is True
    # when the writer compares-and-sets on version 1 / then it is refused
    assert put(store, "d", "A+mine", now=later + 1, if_version=1) is False
    assert read(store, "d", now=later + 1) == Doc("d", "B", 2, later + TTL)


# --- delete ------------------------------------------------------------------------------------------


def test_a_delete_on_the_live_version_removes_the_document(store: StateStore) -> None:
    # given a document at version 2
    put(store, "d", "v1")
    put(store, "d", "v2", if_version=1)
    # when deleted on version 2
    applied = delete(store, "d", if_version=2)
    # then it is gone, and a new one gets a version above every earlier one (the delete's was 3)
    assert applied is True
    assert read(store, "d") is None
    assert put(store, "d", "reborn", if_version=None) is True
    assert read(store, "d") == Doc("d", "reborn", 4, NOW + TTL)


@pytest.mark.parametrize("if_version", [1, None], ids=["stale version", "only if absent"])
def test_a_delete_whose_condition_fails_leaves_the_document(
    store: StateStore, if_version: int | None
) -> None:
    # given a document at version 2
    put(store, "d", "v1")
    put(store, "d", "v2", if_version=1)
    # when deleted on version 1, or "only if absent"
    applied = delete(store, "d", if_version=if_version)
    # then refused, the document untouched
    assert applied is False
    assert read(store, "d") == Doc("d", "v2", 2, NOW + TTL)


def test_an_unconditional_delete_removes_a_live_document(store: StateStore) -> None:
    # given a live document / when deleted unconditionally / then gone
    put(store, "d", "v1")
    assert delete(store, "d", if_version=ANY_VERSION) is True
    assert read(store, "d") is None


@pytest.mark.parametrize("if_version", [None, ANY_VERSION], ids=["only if absent", "unconditional"])
def test_deleting_an_absent_document_holds_and_changes_nothing(
    store: StateStore, if_version: int | None
) -> None:
    # given no document / when deleted with a condition that holds for "absent"
    applied = delete(store, "d", if_version=if_version)
    # then the condition held (True) and there is still nothing
    assert applied is True
    assert read(store, "d") is None


# --- validation, batches -----------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, -5])
def test_a_write_without_a_positive_ttl_is_refused_before_anything_is_written(
    store: StateStore, ttl: int
) -> None:
    # given a batch whose second write has no positive ttl
    writes = [DocWrite("ok", "v", TTL), DocWrite("bad", "v", ttl)]
    # when written / then ValueError, naming the key, and the valid write was not applied either
    with pytest.raises(ValueError, match=r"ttl_ms must be > 0.*'bad'"):
        store.write_docs(writes, now_ms=NOW)
    assert store.read_docs(["ok", "bad"], now_ms=NOW) == {}


def test_a_delete_needs_no_ttl(store: StateStore) -> None:
    # given a live document / when deleted with the default ttl_ms=0 / then it is deleted
    put(store, "d", "v")
    assert store.write_docs([DocWrite("d", None, if_version=1)], now_ms=NOW) == [True]
    assert read(store, "d") is None


def test_empty_batches_do_nothing(store: StateStore) -> None:
    # when nothing is read or written / then nothing comes back
    assert store.read_docs([], now_ms=NOW) == {}
    assert store.write_docs([], now_ms=NOW) == []


def test_each_write_of_a_batch_applies_or_not_on_its_own(store: StateStore) -> None:
    # given "a" at version 1, "b" at version 1, "c" absent, "gone" at version 1
    for key in ("a", "b", "gone"):
        put(store, key, f"{key}1")
    # when one batch creates c, replaces a on a stale version, replaces b on its version, deletes gone,
    # and creates b "only if absent"
    results = store.write_docs(
        [
            DocWrite("c", "c1", TTL, if_version=None),
            DocWrite("a", "a-lost", TTL, if_version=7),
            DocWrite("b", "b2", TTL, if_version=1),
            DocWrite("gone", None, if_version=1),
            DocWrite("x", "x1", TTL, if_version=None),
        ],
        now_ms=NOW + 1,
    )
    # then each write got its own answer and only the successful ones changed anything
    assert results == [True, False, True, True, True]
    docs = store.read_docs(["a", "b", "c", "gone", "x"], now_ms=NOW + 1)
    assert {k: (d.value, d.version) for k, d in docs.items()} == {
        "a": ("a1", 1),
        "b": ("b2", 2),
        "c": ("c1", 1),
        "x": ("x1", 1),
    }


def test_writes_of_one_key_in_one_batch_apply_in_order(store: StateStore) -> None:
    # given no document
    # when one batch creates it, replaces it on version 1, fails to create it again and replaces it on 2
    results = store.write_docs(
        [
            DocWrite("d", "v1", TTL, if_version=None),
            DocWrite("d", "v2", TTL, if_version=1),
            DocWrite("d", "dup", TTL, if_version=None),
            DocWrite("d", "v3", TTL, if_version=2),
        ],
        now_ms=NOW,
    )
    # then each saw the one before it
    assert results == [True, True, False, True]
    assert read(store, "d") == Doc("d", "v3", 3, NOW + TTL)


def test_many_documents_are_read_and_written_in_one_call(store: StateStore) -> None:
    # given 250 documents written in one call (more than one Tablestore batch of either kind)
    keys = [f"snap/cluster-{i:03d}" for i in range(250)]
    assert store.write_docs([DocWrite(k, f"value-{k}", TTL) for k in keys], now_ms=NOW) == [True] * 250
    # when they are read with 10 absent keys and one key twice
    docs = store.read_docs([*keys, *(f"absent-{i}" for i in range(10)), keys[0]], now_ms=NOW)
    # then exactly the 250 come back, each with its own value
    assert sorted(docs) == keys
    assert all(doc.value == f"value-{key}" and doc.version == 1 for key, doc in docs.items())


# --- namespacing ---------------------------------------------------------------------------------------


def test_documents_and_claims_with_the_same_key_do_not_see_each_other(store: StateStore) -> None:
    # given a lease on a claim key, and keys shaped like the function's own claim keys
    keys = ["c1/j1", "job:cn-hangzhou:ehpc-hz-x:1.scheduler", "http-replay:ab12", "~doc:c1/j1", "~"]
    for key in keys:
        [claimed] = store.claim(
            [key], owner="inv-a", detail="evt", lease_ms=TTL, budget_window_ms=TTL, now_ms=NOW
        )
        assert claimed.acquired
    # when documents with the same keys are created "only if absent", and one is deleted
    created = store.write_docs([DocWrite(k, f"doc-{k}", TTL) for k in keys], now_ms=NOW)
    deleted = delete(store, "c1/j1", if_version=1)
    # then the leases did not count as documents, nor did the documents touch the leases
    assert created == [True] * len(keys)
    assert deleted is True
    assert set(store.read_docs(keys, now_ms=NOW)) == set(keys) - {"c1/j1"}
    again = store.claim(keys, owner="inv-b", detail="evt", lease_ms=TTL, budget_window_ms=TTL, now_ms=NOW + 1)
    assert [r.existing.owner if r.existing else None for r in again] == ["inv-a"] * len(keys)
    # and releasing the leases leaves the documents
    store.release(keys, owner="inv-a")
    assert len(store.read_docs(keys, now_ms=NOW + 2)) == len(keys) - 1


# --- concurrency: compare-and-set increments -------------------------------------------------------------


def _increment(store: StateStore, key: str, times: int) -> tuple[int, int]:
    """Read-then-CAS ``times`` increments of the counter in ``key``, retrying lost races.

    Returns (successful CAS writes, lost races)."""
    done = lost = 0
    while done < times:
        doc = store.read_docs([key], now_ms=NOW).get(key)
        value = int(doc.value) if doc else 0
        time.sleep(0.0005)  # widen the read-to-write window so that the writers really interleave
        [applied] = store.write_docs(
            [DocWrite(key, str(value + 1), TTL, if_version=doc.version if doc else None)], now_ms=NOW
        )
        if applied:
            done += 1
        else:
            lost += 1
    return done, lost


def test_eight_threads_incrementing_one_counter_lose_no_update(store_factory: StoreFactory) -> None:
    # given 8 threads, each with its own store, released together
    threads_n, each = 8, 12
    stores = [store_factory() for _ in range(threads_n)]
    barrier = threading.Barrier(threads_n)
    outcomes: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def run(store: StateStore) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(_increment(store, "counter", each))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    # when each does 12 read-then-CAS increments of one counter
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then the writers did race, the counter is the number of successful CAS writes, which is every
    # increment, and its version counts them too
    assert errors == []
    assert sum(lost for _, lost in outcomes) > 0
    successes = sum(done for done, _ in outcomes)
    doc = read(stores[0], "counter")
    assert doc is not None
    assert int(doc.value) == successes == threads_n * each
    assert doc.version == threads_n * each


def _process_worker(url: str, times: int, barrier: Any, queue: Any) -> None:
    store = open_store(url, credentials=fake_credentials)
    try:
        barrier.wait(timeout=30)
        queue.put(_increment(store, "counter", times))
    finally:
        store.close()


def test_three_processes_incrementing_one_counter_lose_no_update(store_url: str) -> None:
    # given 3 spawned processes, each opening the store itself (as three FC instances would)
    ctx = multiprocessing.get_context("spawn")
    processes_n, each = 3, 15
    barrier = ctx.Barrier(processes_n)
    queue = ctx.Queue()
    processes = [
        ctx.Process(target=_process_worker, args=(store_url, each, barrier, queue))
        for _ in range(processes_n)
    ]
    # when each does 15 read-then-CAS increments of one counter
    for process in processes:
        process.start()
    try:
        outcomes = [queue.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert [p.exitcode for p in processes] == [0] * processes_n
    # then the final value is the number of successful CAS writes, which is every increment
    store = open_store(store_url, credentials=fake_credentials)
    try:
        doc = read(store, "counter")
    finally:
        store.close()
    assert doc is not None
    assert int(doc.value) == sum(done for done, _ in outcomes) == processes_n * each


# --- Tablestore: round trips --------------------------------------------------------------------------


@pytest.fixture
def ts_store(tablestore_url: str) -> Any:
    store = open_store(tablestore_url, credentials=fake_credentials)
    yield store
    store.close()


def test_tablestore_reads_up_to_100_documents_in_one_request(
    tablestore_server: TablestoreServer, ts_store: StateStore
) -> None:
    # given 100 documents
    keys = [f"d{i}" for i in range(100)]
    ts_store.write_docs([DocWrite(k, "v", TTL) for k in keys], now_ms=NOW)
    tablestore_server.reset_calls()
    # when they are read / then that is one BatchGetRow
    assert len(ts_store.read_docs(keys, now_ms=NOW)) == 100
    assert dict(tablestore_server.calls) == {"BatchGetRow": 1}


def test_tablestore_version_conditioned_writes_are_one_request_and_others_read_first(
    tablestore_server: TablestoreServer, ts_store: StateStore
) -> None:
    # given 100 documents at version 1
    keys = [f"d{i}" for i in range(100)]
    ts_store.write_docs([DocWrite(k, "v1", TTL) for k in keys], now_ms=NOW)
    # when they are all replaced on version 1 (the read-then-CAS pattern: the caller already read them)
    tablestore_server.reset_calls()
    assert (
        ts_store.write_docs([DocWrite(k, "v2", TTL, if_version=1) for k in keys], now_ms=NOW) == [True] * 100
    )
    cas_calls = dict(tablestore_server.calls)
    # and then written "only if absent" / unconditionally, which depends on what is stored
    tablestore_server.reset_calls()
    mixed = [DocWrite(k, "v3", TTL, if_version=ANY_VERSION if i % 2 else None) for i, k in enumerate(keys)]
    results = ts_store.write_docs(mixed, now_ms=NOW)
    mixed_calls = dict(tablestore_server.calls)
    # then the version-conditioned batch was a single BatchWriteRow, the other one BatchGetRow + BatchWriteRow
    assert cas_calls == {"BatchWriteRow": 1}
    assert results == [bool(i % 2) for i in range(100)]
    assert mixed_calls == {"BatchGetRow": 1, "BatchWriteRow": 1}


def test_tablestore_documents_are_rows_of_the_same_table_under_their_own_prefix(
    tablestore_server: TablestoreServer, ts_store: StateStore, table: str
) -> None:
    # given a claim and a document on the same key, and a claim key that looks like a document row
    for key in ("k", "~doc:k"):
        ts_store.claim([key], owner="inv-a", detail="evt", lease_ms=TTL, budget_window_ms=TTL, now_ms=NOW)
    # when a document "k" is written twice
    put(ts_store, "k", '{"a":1}')
    put(ts_store, "k", '{"a":2}', if_version=1)
    # then the table holds the claim rows (the look-alike escaped) and one document row with its version
    stored = tablestore_server.rows(table)
    assert sorted(stored) == [("k",), ("~claim:~doc:k",), ("~doc:k",)]
    assert stored[("~doc:k",)] == {"value": '{"a":2}', "version": 2, "expires_ms": NOW + TTL}
    assert stored[("k",)]["status"] == "in_progress"
