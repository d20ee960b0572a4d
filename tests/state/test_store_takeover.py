"""Send marks and take-overs (mark_sent, ClaimResult.taken_over, StateRecord.sent_ms), run against every
backend (SQLite file, real Redis, local Tablestore server)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from ehpc_rerun.otsserver import TablestoreServer
from ehpc_rerun.state import ClaimResult, SqliteStateStore, StateRecord, StateStore
from ehpc_rerun.state.tablestore import TablestoreStateStore

from .conftest import StoreFactory
from .test_tablestore_store import _after_first_read

LEASE = 1_000
DEDUPE = 5_000
BUDGET = 86_400_000


def claim(store: StateStore, keys: list[str], owner: str, now: int, lease: int = LEASE) -> list[ClaimResult]:
    return store.claim(
        keys, owner=owner, detail=f"evt-{owner}", lease_ms=lease, budget_window_ms=BUDGET, now_ms=now
    )


def claim_one(store: StateStore, key: str, owner: str, now: int) -> ClaimResult:
    [result] = claim(store, [key], owner, now)
    return result


def lease(key: str, owner: str, at: int, sent: int | None = None) -> StateRecord:
    """The in-progress record ``claim`` writes for ``owner`` at ``at``."""
    return StateRecord(key, "in_progress", owner, f"evt-{owner}", at, at + LEASE, sent)


# --- mark_sent -----------------------------------------------------------------------------------------


def test_a_live_lease_marked_sent_still_blocks_and_shows_when_it_was_sent(store: StateStore) -> None:
    # given inv-a's lease, marked sent at t=200
    claim_one(store, "k", "inv-a", now=0)
    store.mark_sent(["k"], owner="inv-a", now_ms=200)
    # when inv-b claims while it is live
    result = claim_one(store, "k", "inv-b", now=500)
    # then it is blocked as before, is told the lease was sent at 200, and took nothing over
    assert not result.acquired
    assert result.existing == lease("k", "inv-a", 0, sent=200)
    assert result.taken_over is None


def test_a_live_lease_never_marked_shows_no_send_time(store: StateStore) -> None:
    # given inv-a's lease, not marked / when inv-b claims it / then existing.sent_ms is None
    claim_one(store, "k", "inv-a", now=0)
    assert claim_one(store, "k", "inv-b", now=500).existing == lease("k", "inv-a", 0)


def test_mark_sent_by_another_owner_leaves_the_lease_unmarked(store: StateStore) -> None:
    # given inv-a's lease
    claim_one(store, "k", "inv-a", now=0)
    # when inv-b marks the key sent
    store.mark_sent(["k"], owner="inv-b", now_ms=200)
    # then inv-a's lease is unmarked, live or lapsed
    assert claim_one(store, "k", "inv-c", now=500).existing == lease("k", "inv-a", 0)
    assert claim_one(store, "k", "inv-c", now=LEASE).taken_over == lease("k", "inv-a", 0)


def test_mark_sent_on_our_lapsed_lease_does_not_mark_it(store: StateStore) -> None:
    # given inv-a's lease, lapsed at t=1000
    claim_one(store, "k", "inv-a", now=0)
    # when inv-a marks it sent at the expiry
    store.mark_sent(["k"], owner="inv-a", now_ms=LEASE)
    # then it was not marked: inv-b takes over a lease that was never sent
    result = claim_one(store, "k", "inv-b", now=LEASE + 1)
    assert result.acquired
    assert result.taken_over == lease("k", "inv-a", 0)


def test_mark_sent_leaves_done_records_and_creates_nothing(store: StateStore) -> None:
    # given a done record on "done" and nothing on "absent"
    claim_one(store, "done", "inv-a", now=0)
    store.complete(["done"], owner="inv-a", dedupe_window_ms=DEDUPE, budget_window_ms=BUDGET, now_ms=100)
    # when both are marked sent
    store.mark_sent(["done", "absent"], owner="inv-a", now_ms=200)
    # then the done record carries no send time, and "absent" is still free with nothing taken over
    done, absent = claim(store, ["done", "absent"], "inv-b", now=300)
    assert done.existing == StateRecord("done", "done", "inv-a", "evt-inv-a", 100, 100 + DEDUPE, None)
    assert absent.acquired and absent.taken_over is None


def test_mark_sent_stamps_each_of_our_leases_in_a_batch(store: StateStore) -> None:
    # given inv-a holding "a" and "b", inv-x holding "x"
    claim(store, ["a", "b"], "inv-a", now=0)
    claim_one(store, "x", "inv-x", now=0)
    # when inv-a marks all three sent
    store.mark_sent(["a", "b", "x"], owner="inv-a", now_ms=300)
    # then only inv-a's are marked
    results = claim(store, ["a", "b", "x"], "inv-b", now=400)
    assert [r.existing.sent_ms if r.existing else "free" for r in results] == [300, 300, None]


# --- taken_over ------------------------------------------------------------------------------------------


def test_taking_over_a_lapsed_unsent_lease_reports_it_without_a_send_time(store: StateStore) -> None:
    # given inv-a's lease, never marked sent, lapsed at t=1000
    claim_one(store, "k", "inv-a", now=0)
    # when inv-b claims after the expiry
    result = claim_one(store, "k", "inv-b", now=LEASE + 5)
    # then inv-b acquires and is told it replaced inv-a's lease, which was never sent
    assert result.acquired and result.existing is None
    assert result.taken_over == lease("k", "inv-a", 0, sent=None)


def test_taking_over_a_lapsed_sent_lease_reports_when_it_was_sent(store: StateStore) -> None:
    # given inv-a's lease, marked sent at t=300, lapsed at t=1000
    claim_one(store, "k", "inv-a", now=0)
    store.mark_sent(["k"], owner="inv-a", now_ms=300)
    # when inv-b claims after the expiry
    result = claim_one(store, "k", "inv-b", now=LEASE + 5)
    # then the take-over says the call may have happened at 300
    assert result.acquired
    assert result.taken_over == lease("k", "inv-a", 0, sent=300)


def test_a_new_lease_does_not_inherit_the_send_time_of_the_one_it_replaced(store: StateStore) -> None:
    # given inv-a's sent lease, taken over by inv-b at t=1005
    claim_one(store, "k", "inv-a", now=0)
    store.mark_sent(["k"], owner="inv-a", now_ms=300)
    claim_one(store, "k", "inv-b", now=LEASE + 5)
    # when inv-c looks at inv-b's live lease, then takes it over once it lapsed
    live = claim_one(store, "k", "inv-c", now=LEASE + 10)
    later = claim_one(store, "k", "inv-c", now=2 * LEASE + 5)
    # then inv-b's lease was never sent, live or lapsed
    assert live.existing == lease("k", "inv-b", LEASE + 5)
    assert later.taken_over == lease("k", "inv-b", LEASE + 5)


def test_a_lapsed_done_record_is_never_reported_as_taken_over(store: StateStore) -> None:
    # given a done record that expired
    claim_one(store, "k", "inv-a", now=0)
    store.mark_sent(["k"], owner="inv-a", now_ms=50)
    store.complete(["k"], owner="inv-a", dedupe_window_ms=DEDUPE, budget_window_ms=BUDGET, now_ms=100)
    # when inv-b claims after it expired
    result = claim_one(store, "k", "inv-b", now=100 + DEDUPE)
    # then it acquires, with nothing taken over (the rerun is counted in the budget instead)
    assert result.acquired
    assert result.taken_over is None
    assert result.reruns_in_window == 1


def test_our_own_lapsed_lease_claimed_again_by_us_is_not_a_take_over(store: StateStore) -> None:
    # given inv-a's sent lease that lapsed
    claim_one(store, "k", "inv-a", now=0)
    store.mark_sent(["k"], owner="inv-a", now_ms=300)
    # when inv-a claims the key again / then it acquires, and nothing of another invocation was replaced
    result = claim_one(store, "k", "inv-a", now=LEASE + 5)
    assert result.acquired
    assert result.taken_over is None


def test_a_released_lease_is_not_taken_over(store: StateStore) -> None:
    # given inv-a's lease, marked sent and then released (the call did not happen after all)
    claim_one(store, "k", "inv-a", now=0)
    store.mark_sent(["k"], owner="inv-a", now_ms=300)
    store.release(["k"], owner="inv-a")
    # when inv-b claims / then the key is free, with nothing taken over
    result = claim_one(store, "k", "inv-b", now=400)
    assert result.acquired and result.taken_over is None


def test_a_batch_reports_take_overs_only_where_a_lapsed_lease_was_replaced(store: StateStore) -> None:
    # given a lapsed sent lease on "sent", a lapsed unsent one on "unsent", a live one on "live"
    claim(store, ["sent", "unsent"], "inv-a", now=0)
    store.mark_sent(["sent"], owner="inv-a", now_ms=300)
    claim_one(store, "live", "inv-x", now=LEASE)
    # when inv-b claims those and a fresh key, "sent" twice
    results = claim(store, ["sent", "unsent", "live", "fresh", "sent"], "inv-b", now=LEASE + 5)
    # then each result says what it replaced; the repeat is blocked by inv-b's own new lease
    assert [r.acquired for r in results] == [True, True, False, True, False]
    assert [r.taken_over for r in results] == [
        lease("sent", "inv-a", 0, sent=300),
        lease("unsent", "inv-a", 0),
        None,
        None,
        None,
    ]
    assert results[2].existing == lease("live", "inv-x", LEASE)
    assert results[4].existing is not None and results[4].existing.owner == "inv-b"


def test_a_lapsed_lease_is_still_reported_after_another_instance_collected_garbage(
    store_factory: StoreFactory,
) -> None:
    # given inv-a's sent lease, lapsed at t=1000
    first = store_factory()
    claim_one(first, "k", "inv-a", now=0)
    first.mark_sent(["k"], owner="inv-a", now_ms=300)
    # and another instance whose first operation, 30 s later, may prune expired records
    claim_one(store_factory(), "unrelated", "inv-x", now=30_000)
    # when inv-b claims the key right after
    result = claim_one(store_factory(), "k", "inv-b", now=30_001)
    # then the lapsed lease was kept long enough to be reported, with its send time
    assert result.taken_over == lease("k", "inv-a", 0, sent=300)


# --- SQLite: files made before send marks existed ---------------------------------------------------------

_FIRST_RELEASE_CLAIMS = """
CREATE TABLE claims (key TEXT PRIMARY KEY, status TEXT NOT NULL, owner TEXT NOT NULL, detail TEXT NOT NULL,
                     at_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE history (key TEXT NOT NULL, at_ms INTEGER NOT NULL);
INSERT INTO claims VALUES ('k', 'in_progress', 'inv-a', 'evt-inv-a', 0, 1000);
"""


def _open_at_once(path: Path, count: int) -> tuple[list[SqliteStateStore], list[BaseException]]:
    barrier = threading.Barrier(count)
    opened: list[SqliteStateStore] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait(timeout=10)
        try:
            opened.append(SqliteStateStore(path))
        except BaseException as exc:  # surfaced by the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return opened, errors


def test_a_sqlite_file_of_the_first_release_opened_by_many_at_once_gains_send_marks(tmp_path: Path) -> None:
    # (repeated: the race between two first openers is only sometimes hit)
    for trial in range(60):
        # given a file written by the first release (no sent_ms column) holding inv-a's lease
        path = tmp_path / f"old-{trial}.db"
        with sqlite3.connect(path) as conn:
            conn.executescript(_FIRST_RELEASE_CLAIMS)
        conn.close()
        # when 8 instances open it at the same moment
        opened, errors = _open_at_once(path, 8)
        # then every one opened it (one added the column, none tripped over it), and the old lease works
        assert errors == []
        opened[0].mark_sent(["k"], owner="inv-a", now_ms=300)
        assert claim_one(opened[1], "k", "inv-b", now=500).existing == lease("k", "inv-a", 0, sent=300)
        for store in opened:
            store.close()


# --- Tablestore: the send mark moves the row's version ------------------------------------------------------


def test_tablestore_a_claimer_that_read_the_lease_before_it_was_marked_sees_the_mark(
    tablestore_server: TablestoreServer, open_ts: Callable[..., TablestoreStateStore]
) -> None:
    # given inv-a's lease (expiring at t=1000) and inv-b, whose clock is past that, reading it unmarked
    a, b = open_ts(), open_ts()
    claim_one(a, "k", "inv-a", now=0)
    _after_first_read(b, lambda: a.mark_sent(["k"], owner="inv-a", now_ms=999))
    tablestore_server.reset_calls()
    # when inv-a marks it sent (its clock still before the expiry) before inv-b's write lands
    result = claim_one(b, "k", "inv-b", now=LEASE + 5)
    # then inv-b's write was refused by the version, and on reading again it took over a lease sent at 999
    assert result.acquired
    assert result.taken_over == lease("k", "inv-a", 0, sent=999)
    # (inv-b: read, refused write, read, write; inv-a's mark_sent: read, write)
    assert dict(tablestore_server.calls) == {"BatchGetRow": 3, "BatchWriteRow": 3}


def test_tablestore_mark_sent_costs_one_read_and_one_write(
    tablestore_server: TablestoreServer, open_ts: Callable[..., TablestoreStateStore], table: str
) -> None:
    # given 100 leases of inv-a
    store = open_ts()
    keys = [f"job:cn-hangzhou:c1:{i}" for i in range(100)]
    claim(store, keys, "inv-a", now=0)
    tablestore_server.reset_calls()
    # when they are marked sent
    store.mark_sent(keys, owner="inv-a", now_ms=10)
    # then that was one BatchGetRow and one BatchWriteRow, and the rows carry sent_ms
    assert dict(tablestore_server.calls) == {"BatchGetRow": 1, "BatchWriteRow": 1}
    assert {row["sent_ms"] for row in tablestore_server.rows(table).values()} == {10}


# --- retention of stamped leases -------------------------------------------------------------------------

DAY = 86_400_000


def test_a_stamped_lease_is_still_reported_days_after_it_expired(store: StateStore) -> None:
    # given inv-a's lease, stamped sent, and then days of other traffic (SQLite prunes expired rows on it)
    claim_one(store, "k", "inv-a", now=0)
    store.mark_sent(["k"], owner="inv-a", now_ms=100)
    for day in (1, 2, 3):
        claim_one(store, f"other-{day}", "inv-x", now=day * DAY)
        store.complete(
            [f"other-{day}"],
            owner="inv-x",
            dedupe_window_ms=DEDUPE,
            budget_window_ms=BUDGET,
            now_ms=day * DAY,
        )
    # when a late redelivery claims the key three days later
    result = claim_one(store, "k", "inv-b", now=3 * DAY + 1)
    # then the old lease, with its send stamp, is reported: the caller must ask ListJobs, not rerun blindly
    assert result.acquired
    assert result.taken_over == lease("k", "inv-a", 0, sent=100)


def test_an_unstamped_expired_lease_is_not_kept_for_days(tmp_path: Path) -> None:
    # given an expired lease that was never stamped, and a prune days later
    store = SqliteStateStore(tmp_path / "s.db")
    claim_one(store, "k", "inv-a", now=0)
    claim_one(store, "other", "inv-x", now=2 * DAY)
    # then it was collected: the stamp retention applies only to stamped leases
    rows = sqlite3.connect(tmp_path / "s.db").execute("SELECT key FROM claims").fetchall()
    store.close()
    assert ("k",) not in rows


def test_redis_keeps_a_stamped_lease_physically_for_the_retention(redis_url: str) -> None:
    import redis as redis_py

    from ehpc_rerun.state import open_store
    from ehpc_rerun.state.base import SENT_LEASE_RETENTION_MS

    # given a lease stamped sent on a real redis-server
    store = open_store(redis_url)
    claim_one(store, "k-ret", "inv-a", now=0)
    store.mark_sent(["k-ret"], owner="inv-a", now_ms=100)
    store.close()
    # then its key lives at least the retention (physical TTL), far beyond the 1 s lease
    client = redis_py.Redis.from_url(redis_url)
    ttl = client.pttl("ehpc-rerun:v1:rec:k-ret")
    client.close()
    assert ttl >= SENT_LEASE_RETENTION_MS
