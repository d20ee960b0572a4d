"""One token bucket per E-HPC API in the shared store: every instance together stays within the quota;
an empty bucket is waited for while the invocation has time, else the job is left for redelivery."""

from __future__ import annotations

import json
import math
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.deadline import Deadline
from ehpc_rerun.ehpc.errors import EhpcCallError
from ehpc_rerun.ehpc.ratelimit import RateLimiter
from ehpc_rerun.errors import RedeliveryRequested, StateStoreUnavailable
from ehpc_rerun.localrun import LocalFunction
from ehpc_rerun.simulator import Simulator
from ehpc_rerun.state import open_store
from tests.conftest import CLUSTER, request, statuses
from tests.quota.workers import take_tokens
from tests.state.conftest import StoreFactory


def test_three_processes_sharing_a_store_take_no_more_than_the_quota(store_url: str) -> None:
    # given a quota of 12 ListJobs calls per 60 s and three processes (FC instances) that want 12 each
    quota = 12
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(3) as pool:
        started = time.time()
        results = pool.starmap(take_tokens, [(store_url, quota, quota, 0.5)] * 3)
        elapsed = time.time() - started
    # then together they took the quota (and what refilled while they ran), no more
    taken = sum(r[0] for r in results)
    refill = math.ceil(elapsed * quota / 60)
    assert quota <= taken <= quota + refill
    # and each refused call was refused as QuotaExhausted (the workers check the code)
    assert sum(r[1] for r in results) == 3 * quota - taken
    assert all(r[0] > 0 for r in results) or taken == quota  # shared, whoever came first


def test_an_empty_bucket_is_waited_for_within_the_deadline(store_factory: StoreFactory) -> None:
    # given a quota of 60 per 60 s (one token a second), a full bucket, and a clock that moves only when
    # the limiter sleeps (so the store's own latency does not refill the bucket)
    store = store_factory()
    now = [time.time() * 1000]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds * 1000

    limiter = RateLimiter(lambda: store, {"ListJobs": 60}, clock_ms=lambda: now[0], sleep=sleep)
    # when 60 tokens are taken, then one more with 5 s to go
    for _ in range(60):
        limiter.take("ListJobs", Deadline.after(5))
    assert slept == []
    limiter.take("ListJobs", Deadline.after(5))
    # then the 61st waited for the refill, one second, and got it
    assert limiter.taken["ListJobs"] == 61
    assert 1.0 <= sum(slept) <= 1.05


def test_waiting_for_tokens_in_real_time(tmp_path: Path) -> None:
    # given a quota of 60 per 60 s and a full bucket in a SQLite store
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    limiter = RateLimiter(lambda: store, {"ListJobs": 60})
    # when 62 tokens are wanted in a row with 5 s to go
    started = time.monotonic()
    for _ in range(62):
        limiter.take("ListJobs", Deadline.after(5))
    elapsed = time.monotonic() - started
    store.close()
    # then all were had, but not faster than the bucket refills: 60 at once, then one a second
    assert limiter.taken["ListJobs"] == 62
    assert limiter.waited_s > 0
    assert 1.9 <= elapsed <= 4.5


def test_an_empty_bucket_and_too_little_time_is_quota_exhausted(store_factory: StoreFactory) -> None:
    # given a quota of 2 per 60 s, both taken by another instance
    store = store_factory()
    RateLimiter(lambda: store, {"RerunJobs": 2}).take("RerunJobs", Deadline.after(1))
    RateLimiter(lambda: store, {"RerunJobs": 2}).take("RerunJobs", Deadline.after(1))
    # when this instance wants one with 1 s left (the refill takes 30 s)
    started = time.monotonic()
    with pytest.raises(EhpcCallError) as raised:
        RateLimiter(lambda: store, {"RerunJobs": 2}).take("RerunJobs", Deadline.after(1))
    # then it is refused at once, transient, saying which quota and that the event will come back
    assert time.monotonic() - started < 0.5
    error = raised.value
    assert (error.kind, error.code) == ("transient", "QuotaExhausted")
    assert "RerunJobs quota (2 calls per 60 s" in error.message
    assert "redelivery" in error.message


def test_the_limiter_fails_closed_when_the_store_is_unreachable() -> None:
    # given a Redis store nobody listens on (opened when first needed, as an instance does)
    limiter = RateLimiter(lambda: open_store("redis://127.0.0.1:1/0"), {"ListJobs": 100})
    # when a token is wanted, then no token (and so no call): StateStoreUnavailable
    with pytest.raises(StateStoreUnavailable):
        limiter.take("ListJobs", Deadline.after(2))


def test_quota_exhausted_jobs_are_left_for_redelivery_and_never_sent(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given a RerunJobs quota of 1 per 60 s, already used by an earlier event
    settings_env(quota_rerunjobs_per_60s=1, deadline_margin_s=0)
    assert statuses(invoke(request(["1.scheduler"]))) == {f"{CLUSTER}/1.scheduler": "rerun"}
    # when the next event (an EventBridge-like direct trigger) comes on an instance with 2 s to run
    with pytest.raises(RedeliveryRequested) as raised:
        invoke(request(["2.scheduler"]), function=LocalFunction(timeout=2))
    # then the handler asked for redelivery, naming the quota
    assert "QuotaExhausted" in raised.value.message
    # and no second RerunJobs call went out
    assert sim.rerun_job_ids() == ["1.scheduler"]
    assert len(sim.calls_for("RerunJobs")) == 1


def test_a_quota_exhausted_job_is_released_so_that_the_redelivery_reruns_it(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given the same used-up RerunJobs quota
    settings_env(quota_rerunjobs_per_60s=1, deadline_margin_s=0)
    invoke(request(["1.scheduler"]))
    # when the next event arrives on another instance (sharing the store) with 1 s left
    app.reset()
    with pytest.raises(RedeliveryRequested):
        invoke(request(["2.scheduler"]), function=LocalFunction(timeout=1))
    # then the job was released: once the bucket refills a redelivery reruns it (quota lifted here)
    settings_env(quota_rerunjobs_per_60s=100)
    assert statuses(invoke(request(["2.scheduler"]))) == {f"{CLUSTER}/2.scheduler": "rerun"}
    assert sim.rerun_job_ids() == ["1.scheduler", "2.scheduler"]


def test_the_detector_takes_its_listjobs_tokens_from_the_same_buckets(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given a ListJobs quota of 2 per 60 s and a detector cluster of 3 pages
    detector = "ehpc-hz-detQ01"
    sim.add_cluster(detector)
    for n in range(120):
        sim.add_job(detector, f"{n}.q")
    rules = {"rules": [{"name": "r", "clusters": [detector], "unchanged_for": "1d"}]}
    settings_env(detector_rules=json.dumps(rules), quota_listjobs_per_60s=2, deadline_margin_s=0)
    # when a scan runs with 2 s to go
    with pytest.raises(RedeliveryRequested) as raised:
        invoke({"scan": {}}, function=LocalFunction(timeout=2))
    # then it made 2 calls, and the cluster is a transient failure for the next scan
    assert len(sim.calls_for("ListJobs")) == 2
    assert "QuotaExhausted" in raised.value.message


def test_e_hpc_never_throttles_a_burst_the_limiter_paced(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given E-HPC's own flow control at 10 ListJobs per 60 s, and the limiter set to the same quota
    sim.set_quota("ListJobs", 10)
    settings_env(quota_listjobs_per_60s=10, listing_snapshot_s=0, deadline_margin_s=0)
    # when three events come at once (5 pages each: 15 calls wanted)
    outcomes = []
    for n in (1, 2, 3):
        try:
            outcomes.append(invoke(request([f"{n}.scheduler"]), function=LocalFunction(timeout=2)))
        except RedeliveryRequested:
            outcomes.append({"redelivery": n})
    # then no call was answered with Throttling: the third event was left for redelivery instead
    codes = [c.code for c in sim.calls_for("ListJobs")]
    assert codes == [None] * 10
    assert outcomes[2] == {"redelivery": 3}
