"""The StateStore contract, run against every backend (SQLite file, real Redis)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.state import ClaimResult, StateRecord, StateStore
from ehpc_rerun.state.redis import GC_SLACK_MS, RedisStateStore
from ehpc_rerun.state.sqlite import PRUNE_INTERVAL_MS, SqliteStateStore

from .conftest import StoreFactory

LEASE = 60_000
DEDUPE = 900_000
BUDGET = 86_400_000


def claim(
    store: StateStore, keys: list[str], *, owner: str, now: int, lease: int = LEASE, detail: str = ""
) -> list[ClaimResult]:
    return store.claim(
        keys,
        owner=owner,
        detail=detail or f"event-{owner}",
        lease_ms=lease,
        budget_window_ms=BUDGET,
        now_ms=now,
    )


def complete(store: StateStore, keys: list[str], *, owner: str, now: int, dedupe: int = DEDUPE) -> None:
    store.complete(keys, owner=owner, dedupe_window_ms=dedupe, budget_window_ms=BUDGET, now_ms=now)


def test_claim_on_a_fresh_key_acquires_it(store: StateStore) -> None:
    # given an empty store / when a key is claimed
    [result] = claim(store, ["c1/j1"], owner="inv-a", now=1_000)
    # then it is acquired, nothing blocks it and it has no rerun history
    assert result.key == "c1/j1"
    assert result.acquired
    assert result.existing is None
    assert result.reruns_in_window == 0


def test_second_claim_by_another_owner_sees_the_lease_holder(store: StateStore) -> None:
    # given inv-a holds a lease
    claim(store, ["c1/j1"], owner="inv-a", now=1_000, detail="evt-1")
    # when inv-b claims the same key
    [result] = claim(store, ["c1/j1"], owner="inv-b", now=1_500, detail="evt-2")
    # then it does not acquire and is told who holds it, since when and why
    assert not result.acquired
    assert result.existing == StateRecord(
        key="c1/j1",
        status="in_progress",
        owner="inv-a",
        detail="evt-1",
        at_ms=1_000,
        expires_ms=1_000 + LEASE,
    )


def test_release_by_the_owner_makes_the_key_claimable_again(store: StateStore) -> None:
    # given inv-a holds a lease / when it releases it
    claim(store, ["k"], owner="inv-a", now=0)
    store.release(["k"], owner="inv-a")
    # then someone else can claim it
    [result] = claim(store, ["k"], owner="inv-b", now=1)
    assert result.acquired


def test_release_by_a_non_owner_leaves_the_lease_alone(store: StateStore) -> None:
    # given inv-a holds a lease / when inv-b tries to release it
    claim(store, ["k"], owner="inv-a", now=0)
    store.release(["k"], owner="inv-b")
    # then the lease still blocks inv-c
    [result] = claim(store, ["k"], owner="inv-c", now=1)
    assert not result.acquired
    assert result.existing is not None and result.existing.owner == "inv-a"


def test_release_does_not_drop_a_done_record(store: StateStore) -> None:
    # given inv-a completed the key / when it later calls release on it
    claim(store, ["k"], owner="inv-a", now=0)
    complete(store, ["k"], owner="inv-a", now=5)
    store.release(["k"], owner="inv-a")
    # then the done record still dedupes
    [result] = claim(store, ["k"], owner="inv-b", now=10)
    assert not result.acquired
    assert result.existing is not None and result.existing.status == "done"


def test_a_lease_expires_by_itself_when_its_holder_died(store: StateStore) -> None:
    # given inv-a took a 1 s lease at t=0 and never completed nor released it
    claim(store, ["k"], owner="inv-a", now=0, lease=1_000)
    # when inv-b claims before and after the lease ends
    [before] = claim(store, ["k"], owner="inv-b", now=999)
    [after] = claim(store, ["k"], owner="inv-b", now=1_001)
    # then it is blocked before and acquires after
    assert not before.acquired
    assert after.acquired


def test_a_done_record_blocks_claims_for_the_dedupe_window(store: StateStore) -> None:
    # given inv-a claimed and completed at t=100 with a 5 s dedupe window
    claim(store, ["k"], owner="inv-a", now=0, detail="evt-1")
    complete(store, ["k"], owner="inv-a", now=100, dedupe=5_000)
    # when others claim just before and exactly at the end of the window
    [inside] = claim(store, ["k"], owner="inv-b", now=5_099)
    [at_end] = claim(store, ["k"], owner="inv-c", now=5_100)
    # then the record blocks until at + window, then the key is claimable
    assert not inside.acquired
    assert inside.existing == StateRecord("k", "done", "inv-a", "evt-1", 100, 5_100)
    assert at_end.acquired


def test_reruns_are_counted_within_the_budget_window(store: StateStore) -> None:
    # given three claim/complete cycles at t=0, 10, 20 (dedupe window 1 ms)
    for now in (0, 10, 20):
        [result] = claim(store, ["k"], owner=f"inv-{now}", now=now)
        assert result.acquired
        complete(store, ["k"], owner=f"inv-{now}", now=now, dedupe=1)
    # when claimed at t=30 and just after the first rerun leaves the window
    [at_30] = claim(store, ["k"], owner="inv-30", now=30)
    store.release(["k"], owner="inv-30")
    [aged] = claim(store, ["k"], owner="inv-late", now=BUDGET + 1)
    # then all three count, and later only the two younger ones
    assert at_30.reruns_in_window == 3
    assert aged.reruns_in_window == 2


def test_a_blocked_claim_still_reports_the_rerun_count(store: StateStore) -> None:
    # given one completed rerun / when a claim is blocked by its done record
    claim(store, ["k"], owner="inv-a", now=0)
    complete(store, ["k"], owner="inv-a", now=1)
    [result] = claim(store, ["k"], owner="inv-b", now=2)
    # then the count is reported anyway
    assert not result.acquired
    assert result.reruns_in_window == 1


def test_budgets_are_per_key(store: StateStore) -> None:
    claim(store, ["a"], owner="inv-a", now=0)
    complete(store, ["a"], owner="inv-a", now=0, dedupe=1)
    results = claim(store, ["a", "b"], owner="inv-b", now=5)
    assert [r.reruns_in_window for r in results] == [1, 0]


def test_completing_a_lost_lease_counts_the_rerun_but_keeps_the_new_holder(store: StateStore) -> None:
    # given inv-a's lease lapsed and inv-b took the key
    claim(store, ["k"], owner="inv-a", now=0, lease=1_000)
    claim(store, ["k"], owner="inv-b", now=2_000, detail="evt-b")
    # when inv-a (whose call did happen) completes late
    complete(store, ["k"], owner="inv-a", now=2_500)
    # then inv-b's lease is untouched, and the rerun is in the history
    [result] = claim(store, ["k"], owner="inv-c", now=2_600)
    assert result.existing == StateRecord("k", "in_progress", "inv-b", "evt-b", 2_000, 2_000 + LEASE)
    assert result.reruns_in_window == 1


def test_completing_after_the_own_lease_lapsed_still_dedupes(store: StateStore) -> None:
    # given inv-a's lease lapsed with nobody taking over / when inv-a completes
    claim(store, ["k"], owner="inv-a", now=0, lease=1_000)
    complete(store, ["k"], owner="inv-a", now=5_000)
    # then the done record blocks the next claim
    [result] = claim(store, ["k"], owner="inv-b", now=5_001)
    assert not result.acquired
    assert result.existing is not None and result.existing.status == "done"


def test_a_key_twice_in_one_batch_is_acquired_once(store: StateStore) -> None:
    first, second = claim(store, ["k", "k"], owner="inv-a", now=0)
    assert first.acquired
    assert not second.acquired
    assert second.existing is not None and second.existing.owner == "inv-a"


def test_a_batch_of_250_keys_returns_one_result_per_key_in_order(store: StateStore) -> None:
    # given every third key is held by inv-a
    keys = [f"cluster-{i % 7}/job-{i:04d}" for i in range(250)]
    held = keys[::3]
    assert all(r.acquired for r in claim(store, held, owner="inv-a", now=0))
    # when inv-b claims all 250 in one call
    results = claim(store, keys, owner="inv-b", now=10)
    # then results come back in order, acquiring exactly the free ones
    assert [r.key for r in results] == keys
    assert [r.acquired for r in results] == [k not in held for k in keys]
    assert {r.existing.owner for r in results if r.existing is not None} == {"inv-a"}


def test_empty_batches_are_no_ops(store: StateStore) -> None:
    assert claim(store, [], owner="inv-a", now=0) == []
    complete(store, [], owner="inv-a", now=0)
    store.release([], owner="inv-a")


def test_keys_with_odd_characters_are_kept_apart(store: StateStore) -> None:
    keys = ["a:b", "a", "hist:a", "rec:a", "ключ/джоб", "with space", "quote'\""]
    results = claim(store, keys, owner="inv-a", now=0)
    assert all(r.acquired for r in results)


def test_a_second_store_on_the_same_location_sees_the_state(store_factory: StoreFactory) -> None:
    # given two independently opened stores (two FC instances sharing a store)
    one, two = store_factory(), store_factory()
    claim(one, ["k"], owner="inv-a", now=0)
    # then the second sees the first's lease
    [result] = claim(two, ["k"], owner="inv-b", now=1)
    assert not result.acquired


# --- backend-specific properties ----------------------------------------------------------------


def test_redis_operations_are_one_round_trip_each(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a fresh store whose client counts the commands it sends
    store = RedisStateStore(redis_url)
    sent: list[str] = []
    real: Callable[..., Any] = store._client.execute_command

    def counting(*args: Any, **kwargs: Any) -> Any:
        sent.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(store._client, "execute_command", counting)
    keys = [f"k{i}" for i in range(250)]
    # when it claims, completes and releases 250 keys
    claim(store, keys, owner="inv-a", now=0)
    complete(store, keys[:100], owner="inv-a", now=1)
    store.release(keys[100:], owner="inv-a")
    store.close()
    # then each was a single EVALSHA
    assert sent == ["EVALSHA", "EVALSHA", "EVALSHA"]


def test_redis_records_and_histories_carry_a_gc_ttl(redis_url: str) -> None:
    store = RedisStateStore(redis_url, prefix="t:")
    claim(store, ["held", "done"], owner="inv-a", now=0, lease=5_000)
    complete(store, ["done"], owner="inv-a", now=0, dedupe=10_000)
    store.close()
    client = redis.Redis.from_url(redis_url)
    try:
        assert 5_000 < client.pttl("t:rec:held") <= 5_000 + GC_SLACK_MS
        assert 10_000 < client.pttl("t:rec:done") <= 10_000 + GC_SLACK_MS
        assert BUDGET < client.pttl("t:hist:done") <= BUDGET + GC_SLACK_MS
        assert client.exists("t:hist:held") == 0
    finally:
        client.close()


def test_redis_prefix_with_a_hash_tag_works(redis_url: str) -> None:
    store = RedisStateStore(redis_url, prefix="{ehpc-rerun}:v1:")
    assert claim(store, ["a", "b"], owner="inv-a", now=0)[1].acquired
    store.close()


def test_a_foreign_value_under_the_prefix_fails_closed(redis_url: str) -> None:
    # given someone wrote a record with a non-numeric timestamp under our prefix
    client = redis.Redis.from_url(redis_url)
    client.hset("ehpc-rerun:v1:rec:k", mapping={"status": "done", "at_ms": "yesterday", "expires_ms": "99"})
    client.close()
    store = RedisStateStore(redis_url)
    # when claimed / then the store refuses rather than guessing
    with pytest.raises(StateStoreUnavailable, match="unexpected reply"):
        claim(store, ["k"], owner="inv-a", now=0)
    store.close()


def test_sqlite_uses_wal_and_prunes_expired_rows(tmp_path: Path) -> None:
    # given expired leases, an expired done record and old history
    path = tmp_path / "state.db"
    store = SqliteStateStore(path)
    claim(store, ["a", "b"], owner="inv-a", now=0, lease=10)
    complete(store, ["b"], owner="inv-a", now=0, dedupe=10)
    # when an operation runs long after, past the prune interval and the budget window
    claim(store, ["c"], owner="inv-b", now=BUDGET + 10 * PRUNE_INTERVAL_MS)
    store.close()
    # then only the live lease remains, and the file is in WAL mode
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT key FROM claims").fetchall() == [("c",)]
        assert conn.execute("SELECT COUNT(*) FROM history").fetchone() == (0,)
    conn.close()
