"""Exactly one winner per key when many threads or processes claim the same keys at once."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from typing import Any

import pytest

from ehpc_rerun.state import ClaimResult, StateStore, open_store

from .conftest import StoreFactory, fake_credentials

KEYS = [f"c1/job-{i}" for i in range(5)]
NOW = 1_000_000


def _claim(store: StateStore, owner: str) -> list[ClaimResult]:
    return store.claim(
        KEYS, owner=owner, detail="evt", lease_ms=60_000, budget_window_ms=86_400_000, now_ms=NOW
    )


def _assert_one_winner_per_key(results: dict[str, list[ClaimResult]]) -> None:
    winners = Counter(r.key for owner_results in results.values() for r in owner_results if r.acquired)
    assert winners == dict.fromkeys(KEYS, 1)
    # and every loser was told who won
    won_by = {r.key: owner for owner, rs in results.items() for r in rs if r.acquired}
    for rs in results.values():
        for r in rs:
            if not r.acquired:
                assert r.existing is not None and r.existing.owner == won_by[r.key]


@pytest.mark.parametrize("sharing", ["one store per thread", "one store shared by all threads"])
def test_ten_threads_claiming_the_same_keys_acquire_each_key_once(
    store_factory: StoreFactory, sharing: str
) -> None:
    # given 10 threads, each with its own store (or all with one), released together
    shared = store_factory() if sharing.startswith("one store shared") else None
    stores = [shared or store_factory() for _ in range(10)]
    barrier = threading.Barrier(len(stores))
    results: dict[str, list[ClaimResult]] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[f"thread-{index}"] = _claim(stores[index], f"thread-{index}")
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    # when they all claim the same 5 keys at the same now_ms
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then each key was acquired exactly once across all of them
    assert errors == []
    _assert_one_winner_per_key(results)


def _process_worker(url: str, owner: str, barrier: Any, queue: Any) -> None:
    store = open_store(url, credentials=fake_credentials)
    try:
        barrier.wait(timeout=30)
        results = _claim(store, owner)
        queue.put((owner, [(r.key, r.acquired, r.existing.owner if r.existing else None) for r in results]))
    finally:
        store.close()


def test_four_processes_claiming_the_same_keys_acquire_each_key_once(store_url: str) -> None:
    # given 4 spawned processes, each opening the store itself (SQLite: the same file; Tablestore: the
    # same table, as four FC instances would)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    queue = ctx.Queue()
    owners = [f"proc-{i}" for i in range(4)]
    processes = [ctx.Process(target=_process_worker, args=(store_url, o, barrier, queue)) for o in owners]
    # when they claim the same 5 keys at the same now_ms
    for process in processes:
        process.start()
    try:
        collected = dict(queue.get(timeout=60) for _ in owners)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    # then each key was acquired exactly once across all of them
    winners = Counter(key for rows in collected.values() for key, acquired, _ in rows if acquired)
    assert winners == dict.fromkeys(KEYS, 1)
    won_by = {key: owner for owner, rows in collected.items() for key, acquired, _ in rows if acquired}
    for rows in collected.values():
        for key, acquired, holder in rows:
            assert acquired or holder == won_by[key]
