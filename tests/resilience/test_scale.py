"""Many jobs and many clusters: chunks of at most 100, clusters in parallel, partial failures isolated."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, request, statuses


def test_250_jobs_for_one_cluster_go_out_in_exactly_3_calls(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    settings_env(max_jobs_per_invocation=1000)
    jobs = [f"{n}.scheduler" for n in range(1, 251)]
    result = invoke(request(jobs))
    calls = sim.calls_for("RerunJobs")
    assert [len(c.job_ids) for c in calls] == [100, 100, 50]
    assert [j for c in calls for j in c.job_ids] == jobs
    assert set(statuses(result).values()) == {"rerun"}
    # the pre-check paged ListJobs with PageSize 50, stopping at EHPC_RERUN_PRECHECK_MAX_PAGES (5) of the
    # 6 pages the 300 unfinished jobs fill: the jobs beyond them went to RerunJobs, which accepted them
    assert [c.query["PageSize"] for c in sim.calls_for("ListJobs")] == ["50"] * 5


def test_20_clusters_go_out_in_parallel(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given 20 clusters and 200 ms per call
    clusters = [f"ehpc-hz-par{n:02d}" for n in range(20)]
    for cluster in clusters:
        sim.add_cluster(cluster)
        sim.add_job(cluster, "1.scheduler")
    settings_env(max_parallel_clusters=20, precheck="false")
    sim.set_latency(0.2)

    started = time.monotonic()
    result = invoke([request(["1.scheduler"], cluster=c) for c in clusters])
    wall = time.monotonic() - started

    # then the 20 calls overlapped: called one after the other they would take 20 x 200 ms = 4 s
    # (bounds are loose on purpose: 2 busy cores; bench/ measures the real ratio)
    calls = sim.calls_for("RerunJobs")
    assert sorted(c.cluster_id for c in calls) == clusters
    starts = sorted(c.started_at for c in calls)
    assert starts[-1] - starts[0] < 1.0
    # several in flight at once: some 200 ms span (one call's latency) saw at least 5 of them start
    assert max(sum(1 for s in starts if t <= s < t + 0.2) for t in starts) >= 5
    assert wall < 2.0
    assert set(statuses(result).values()) == {"rerun"}


def test_one_finished_job_among_50_running_does_not_stop_the_other_49_precheck_on(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given a pre-check allowed the 6 pages of the 299 unfinished jobs: its listing is complete
    settings_env(precheck_max_pages=6)
    sim.set_job_state(CLUSTER, "25.scheduler", "FINISHED")
    result = invoke(request([f"{n}.scheduler" for n in range(1, 51)]))
    got = statuses(result)
    assert got.pop(f"{CLUSTER}/25.scheduler") == "not_rerunnable"
    assert set(got.values()) == {"rerun"} and len(got) == 49
    (call,) = sim.calls_for("RerunJobs")
    assert len(call.job_ids) == 49


def test_one_finished_job_among_50_running_is_isolated_by_splitting_precheck_off(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given no pre-check: E-HPC rejects the whole call with 406 because of one job
    settings_env(precheck="false")
    sim.set_job_state(CLUSTER, "25.scheduler", "FINISHED")
    result = invoke(request([f"{n}.scheduler" for n in range(1, 51)]))

    # then the call is split until the finished job stands alone; the 49 others are rerun once
    got = statuses(result)
    offender = next(o for o in result["outcomes"] if o["job_id"] == "25.scheduler")
    assert (offender["status"], offender["error_code"]) == ("not_rerunnable", "AgentError.Job.RerunFailure")
    got.pop(f"{CLUSTER}/25.scheduler")
    assert set(got.values()) == {"rerun"} and len(got) == 49
    assert sorted(sim.rerun_job_ids()) == sorted(f"{n}.scheduler" for n in range(1, 51) if n != 25)
    assert len(sim.calls_for("RerunJobs")) <= 2 * 6 + 1  # about 2 log2(50) calls, not 50
