"""Unreadable times and failing clusters: reported, never guessed, never the end of the scan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun.errors import RedeliveryRequested
from ehpc_rerun.simulator import Simulator
from tests.detector.conftest import HOUR, A, B, C, add, by_job

Scan = Callable[..., dict[str, Any]]
Rules = Callable[..., None]


def test_job_whose_time_cannot_be_read_is_reported_not_guessed_and_the_scan_goes_on(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given a running-age rule, a job with an empty StartTime, one with garbage, and a readable stuck one
    use_rules([{"name": "long-run", "clusters": [A], "running_longer_than": "4h"}])
    add(clusters, A, "empty", start_time="")
    add(clusters, A, "garbage", start_time="yesterday-ish")
    add(clusters, A, "stuck", running=5 * HOUR)
    # when the detector scans
    result = scan()
    # then the readable job is rerun, the other two are reported unparseable_time with the raw value
    assert clusters.rerun_job_ids(A) == ["stuck"]
    outcomes = by_job(result)
    for job, raw in (("empty", ""), ("garbage", "yesterday-ish")):
        outcome = outcomes[f"{A}/{job}"]
        assert outcome["status"] == "unparseable_time"
        assert outcome["rule"] == "long-run"
        assert outcome["error_code"] == "UnparseableTime"
        assert outcome["detail"]["field"] == "StartTime"
        assert outcome["detail"]["raw"] == raw
        assert "never guessed" in outcome["message"]
    assert result["counts"] == {"rerun": 1, "unparseable_time": 2}


def test_unreadable_time_is_only_reported_when_the_rule_would_consider_the_job(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given a rule for alice's RUNNING jobs, and unreadable times on jobs it would never consider
    use_rules([{"name": "alice-long", "clusters": [A], "owner": "alice", "running_longer_than": "4h"}])
    add(clusters, A, "bob-job", owner="bob", start_time="??")
    add(clusters, A, "alice-queued", state="QUEUED", owner="alice", submit_time="??")
    # when the detector scans
    result = scan()
    # then nothing is reported about them (the scan says it matched nothing)
    assert [o["status"] for o in result["outcomes"]] == ["ignored"]
    assert "no rule matched" in result["outcomes"][0]["message"]


def test_unreadable_time_stops_the_job_at_that_rule_so_a_looser_later_rule_does_not_rerun_it(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given a strict rule first and a looser one after it
    use_rules(
        [
            {"name": "strict", "clusters": [A], "running_longer_than": "4h", "unchanged_for": "2h"},
            {"name": "loose", "clusters": [A], "unchanged_for": "1h"},
        ]
    )
    # and a job whose StartTime cannot be read although LastModifyTime is old
    add(clusters, A, "odd", start_time="not a time", last_modify_time="2026-11-25T00:00:00Z")
    # when the detector scans
    result = scan()
    # then it is reported under the first rule and not rerun
    assert clusters.rerun_job_ids() == []
    outcome = by_job(result)[f"{A}/odd"]
    assert (outcome["status"], outcome["rule"]) == ("unparseable_time", "strict")
    assert outcome["detail"]["unchanged_s"] == 12 * HOUR


def test_a_cluster_that_errors_is_reported_while_the_others_are_scanned(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given three detector clusters, one of which E-HPC does not know
    gone = "ehpc-hz-gone99"
    use_rules([{"name": "long-run", "clusters": [A, gone, B], "running_longer_than": "4h"}])
    add(clusters, A, "a1", running=5 * HOUR)
    add(clusters, B, "b1", running=5 * HOUR)
    # when the detector scans
    result = scan()
    # then the other clusters' stuck jobs are rerun
    assert clusters.rerun_job_ids(A) == ["a1"]
    assert clusters.rerun_job_ids(B) == ["b1"]
    # and the failing cluster has one failed outcome with E-HPC's code, no job, no rule
    failed = by_job(result)[f"{gone}/None"]
    assert failed["status"] == "failed"
    assert failed["error_code"] == "ClusterNotFound"
    assert failed["transient"] is False
    assert failed["source"] == "detector"
    assert failed["rule"] is None
    assert "ListJobs failed" in failed["message"]


def test_transient_listjobs_failure_is_retried_and_then_scanned(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given a ListJobs that is throttled once
    use_rules([{"name": "long-run", "clusters": [A], "running_longer_than": "4h", "report_only": True}])
    add(clusters, A, "a1", running=5 * HOUR)
    clusters.fail_next("ListJobs", "Throttling.User", 400)
    # when the detector scans
    result = scan()
    # then the call was repeated and the job found
    assert len(clusters.calls_for("ListJobs")) == 2
    assert by_job(result)[f"{A}/a1"]["status"] == "dry_run"


def test_cluster_failing_transiently_after_retries_asks_for_redelivery_after_the_others_are_done(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given clusters scanned one after the other, and the first one's ListJobs failing every attempt
    use_rules(
        [{"name": "long-run", "clusters": [A, B, C], "running_longer_than": "4h"}],
        max_parallel_clusters=1,
        retry_max_attempts=2,
    )
    for cluster in (A, B, C):
        add(clusters, cluster, f"{cluster[-3:]}-job", running=5 * HOUR)
    clusters.fail_next("ListJobs", "ServiceUnavailable", 503, times=2)
    # when the detector scans (a timer redelivers when the handler raises)
    with pytest.raises(RedeliveryRequested, match=rf"{A}/None \(ServiceUnavailable\)"):
        scan()
    # then the other clusters' jobs were rerun before the handler asked for redelivery
    assert clusters.rerun_job_ids() == ["B02-job", "C03-job"]
