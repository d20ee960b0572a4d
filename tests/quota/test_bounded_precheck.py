"""The pre-check reads at most EHPC_RERUN_PRECHECK_MAX_PAGES pages, whatever the cluster's size; what it
did not see, E-HPC decides (406, isolated by halves); what a COMPLETE listing did not show is refused
without a call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ehpc_rerun.simulator import Simulator
from tests.conftest import request, statuses

BIG = "ehpc-hz-big5000"
MID = "ehpc-hz-mid0400"
SMALL = "ehpc-hz-small040"


def _cluster(sim: Simulator, cluster: str, running: int) -> None:
    sim.add_cluster(cluster)
    for n in range(1, running + 1):
        sim.add_job(cluster, f"{n}.sched", state="RUNNING")


def test_one_job_on_a_5000_job_cluster_costs_at_most_5_listjobs_calls(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given a cluster with 5 000 unfinished jobs (100 pages of 50) and the default page bound (5)
    _cluster(sim, BIG, 5000)
    settings_env()
    # when one event asks for one job near the end of the listing
    result = invoke(request(["4990.sched"], cluster=BIG))
    # then the pre-check read 5 pages, not 100 (before the bound it paged to the end: 100 calls)
    pages = [c.query["PageNumber"] for c in sim.calls_for("ListJobs")]
    assert pages == ["1", "2", "3", "4", "5"]
    assert all(c.query["PageSize"] == "50" for c in sim.calls_for("ListJobs"))
    # and the job, which those pages did not reach, went to RerunJobs, which accepted it
    assert statuses(result) == {f"{BIG}/4990.sched": "rerun"}
    assert sim.rerun_job_ids(BIG) == ["4990.sched"]


def test_the_page_bound_is_a_setting(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given the same cluster and EHPC_RERUN_PRECHECK_MAX_PAGES=2
    _cluster(sim, BIG, 5000)
    settings_env(precheck_max_pages=2)
    # when one job is asked for
    invoke(request(["3.sched"], cluster=BIG))
    # then two pages were read
    assert [c.query["PageNumber"] for c in sim.calls_for("ListJobs")] == ["1", "2"]


def test_a_job_the_bounded_listing_did_not_see_and_that_is_not_rerunnable_is_isolated_by_e_hpc(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given 400 running jobs (8 pages; 5 are read) and one finished job, which ListJobs(notfinish) never shows
    _cluster(sim, MID, 400)
    sim.add_job(MID, "done.sched", state="FINISHED")
    settings_env()
    # when one event asks for a job on page 1, one beyond page 5, and the finished one
    result = invoke(request(["10.sched", "380.sched", "done.sched"], cluster=MID))
    # then the listing stopped at page 5, so the finished job was not ruled out without a call
    assert len(sim.calls_for("ListJobs")) == 5
    # and E-HPC refused the whole call (406), which was split in halves until the finished job stood alone
    calls = [(c.job_ids, c.status) for c in sim.calls_for("RerunJobs")]
    assert calls == [
        (["10.sched", "380.sched", "done.sched"], 406),
        (["10.sched"], 200),
        (["380.sched", "done.sched"], 406),
        (["380.sched"], 200),
        (["done.sched"], 406),
    ]
    got = {f"{o['cluster_id']}/{o['job_id']}": o for o in result["outcomes"]}
    assert got[f"{MID}/done.sched"]["status"] == "not_rerunnable"
    assert got[f"{MID}/done.sched"]["error_code"] == "AgentError.Job.RerunFailure"
    # and the two others were rerun exactly once
    assert sorted(sim.rerun_job_ids(MID)) == ["10.sched", "380.sched"]
    assert {got[f"{MID}/10.sched"]["status"], got[f"{MID}/380.sched"]["status"]} == {"rerun"}


def test_a_job_a_complete_listing_does_not_show_is_not_rerunnable_without_a_call(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given a cluster whose 40 unfinished jobs fit on one page, and a finished job
    _cluster(sim, SMALL, 40)
    sim.add_job(SMALL, "done.sched", state="FINISHED")
    settings_env()
    # when an event asks for a running job and the finished one
    result = invoke(request(["7.sched", "done.sched"], cluster=SMALL))
    # then one page was read (complete), the finished job got not_rerunnable from it, without RerunJobs
    assert len(sim.calls_for("ListJobs")) == 1
    assert statuses(result) == {f"{SMALL}/7.sched": "rerun", f"{SMALL}/done.sched": "not_rerunnable"}
    [call] = sim.calls_for("RerunJobs")
    assert call.job_ids == ["7.sched"]
    [refused] = [o for o in result["outcomes"] if o["job_id"] == "done.sched"]
    assert refused["detail"]["checked_by"] == "ListJobs"
