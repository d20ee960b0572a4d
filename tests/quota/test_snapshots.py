"""One listing serves many: memoised in an invocation, shared between instances for
EHPC_RERUN_LISTING_SNAPSHOT_S through the state store, never used where a NEW listing is needed."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, context, request, statuses

T0 = 1_795_000_000_000  # a fixed wall clock for the handler (ms)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    now = [T0]
    monkeypatch.setattr(app, "now_ms", lambda: now[0])
    return now


def test_a_listing_is_shared_by_the_next_instance_and_expires_after_listing_snapshot_s(
    sim: Simulator,
    settings_env: Callable[..., None],
    invoke: Callable[..., dict[str, Any]],
    clock: list[int],
    store_url: str,
) -> None:
    # given a store of each kind and snapshots kept 10 s
    settings_env(state=store_url, listing_snapshot_s=10)
    # when one instance handles an event for job 1 (300 unfinished jobs: 5 pages read)
    first = invoke(request(["1.scheduler"]))
    assert len(sim.calls_for("ListJobs")) == 5
    # and another instance (fresh stores and clients) handles an event for job 2, 9.9 s later
    app.reset()
    sim.reset_calls()
    clock[0] += 9_900
    second = invoke(request(["2.scheduler"]))
    # then the second made no ListJobs call at all: it used the first one's snapshot
    assert sim.calls_for("ListJobs") == []
    assert [c.job_ids for c in sim.calls_for("RerunJobs")] == [["2.scheduler"]]
    assert statuses(first) == {f"{CLUSTER}/1.scheduler": "rerun"}
    assert statuses(second) == {f"{CLUSTER}/2.scheduler": "rerun"}
    # when a third comes 10.1 s after the listing was taken
    app.reset()
    sim.reset_calls()
    clock[0] += 200
    invoke(request(["3.scheduler"]))
    # then the snapshot had expired: it listed again
    assert len(sim.calls_for("ListJobs")) == 5


def test_snapshots_off_every_invocation_lists(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]], clock: list[int]
) -> None:
    # given EHPC_RERUN_LISTING_SNAPSHOT_S=0
    settings_env(listing_snapshot_s=0)
    # when two events come one after the other
    invoke(request(["1.scheduler"]))
    invoke(request(["2.scheduler"]))
    # then each listed on its own
    assert len(sim.calls_for("ListJobs")) == 10


def test_a_lost_rerun_answer_is_confirmed_with_a_new_listing_not_the_snapshot(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]], clock: list[int]
) -> None:
    # given a live snapshot of the cluster (an earlier event listed it)
    settings_env(listing_snapshot_s=60)
    invoke(request(["1.scheduler"]))
    sim.reset_calls()
    # when the next event's RerunJobs is applied but its answer is lost
    sim.drop_connection_next("RerunJobs", after_apply=True)
    result = invoke(request(["2.scheduler"]))
    # then the pre-check used the snapshot (no ListJobs before RerunJobs) ...
    [rerun] = sim.calls_for("RerunJobs")
    listed = sim.calls_for("ListJobs")
    assert rerun.applied
    # ... and the confirmation listed anew, after the lost call
    assert len(listed) == 5
    assert all(call.started_at >= rerun.started_at for call in listed)
    # which showed the change the rerun made: confirmed, not repeated
    [outcome] = result["outcomes"]
    assert outcome["status"] == "rerun"
    assert outcome["detail"]["confirmed_by"] == "ListJobs"
    assert sim.rerun_job_ids() == ["2.scheduler"]


def test_instances_that_miss_the_snapshot_at_the_same_moment_list_once(
    sim: Simulator, settings_env: Callable[..., None], clock: list[int]
) -> None:
    # given four instances (threads sharing one store) with an event each, at the same moment, slow E-HPC
    settings_env()
    sim.set_latency(0.05)
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def deliver(n: int) -> None:
        event = json.dumps(request([f"{n + 1}.scheduler"])).encode()
        barrier.wait()
        results.append(json.loads(app.handler(event, context(request_id=f"thread-{n}"))))

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # then one of them listed (5 pages) while the others waited for its snapshot
    assert len(sim.calls_for("ListJobs")) == 5
    # and every job was rerun once
    assert sorted(sim.rerun_job_ids()) == ["1.scheduler", "2.scheduler", "3.scheduler", "4.scheduler"]
    assert len(results) == 4
