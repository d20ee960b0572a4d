"""Report-only vs. active, rules in order, the per-rule cap, and the pipeline every match goes through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun.simulator import Simulator
from tests.detector.conftest import HOUR, A, B, add, by_job

Scan = Callable[..., dict[str, Any]]
Rules = Callable[..., None]
LONG_RUN = {"name": "long-run", "clusters": [A], "running_longer_than": "4h"}


def test_report_only_rule_reports_what_it_would_rerun_with_its_ages_and_calls_nothing(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given a watched rule next to an active one
    use_rules(
        [
            {
                "name": "watched",
                "clusters": [A],
                "name_pattern": "^mpi-",
                "unchanged_for": "2h",
                "report_only": True,
            },
            LONG_RUN,
        ]
    )
    add(clusters, A, "m1", name="mpi-cfd", running=3 * HOUR, unchanged=3 * HOUR)
    add(clusters, A, "j1", running=5 * HOUR, unchanged=HOUR)
    # when the detector scans
    result = scan()
    # then the watched rule's job is reported with the rule and its ages, and never sent to RerunJobs
    watched = by_job(result)[f"{A}/m1"]
    assert watched["status"] == "dry_run"
    assert watched["message"] == "report-only: would have been rerun"
    assert watched["rule"] == "watched"
    assert watched["reason"] == "rule watched: unchanged for 3h (> 2h)"
    assert (watched["detail"]["running_s"], watched["detail"]["unchanged_s"]) == (3 * HOUR, 3 * HOUR)
    # and the active rule's job is rerun
    assert clusters.rerun_job_ids() == ["j1"]
    assert by_job(result)[f"{A}/j1"]["status"] == "rerun"


@pytest.mark.parametrize(
    ("settings", "request_"),
    [({"detector_report_only": "true"}, {}), ({}, {"report_only": True})],
    ids=["global-setting", "scan-request"],
)
def test_report_only_globally_or_per_scan_reruns_nothing(
    clusters: Simulator, use_rules: Rules, scan: Scan, settings: dict[str, str], request_: dict[str, Any]
) -> None:
    use_rules([LONG_RUN], **settings)
    add(clusters, A, "j1", running=5 * HOUR)
    result = scan(**request_)
    assert by_job(result)[f"{A}/j1"]["status"] == "dry_run"
    assert clusters.calls_for("RerunJobs") == []


def test_a_scan_cannot_switch_a_watched_rule_to_active(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    use_rules([{**LONG_RUN, "report_only": True}])
    add(clusters, A, "j1", running=5 * HOUR)
    result = scan(report_only=False)
    assert by_job(result)[f"{A}/j1"]["status"] == "dry_run"
    assert clusters.calls_for("RerunJobs") == []


def test_first_matching_rule_wins_and_is_named(clusters: Simulator, use_rules: Rules, scan: Scan) -> None:
    # given two rules that both match a job
    quiet = {"name": "quiet", "clusters": [A], "unchanged_for": "1h"}
    add(clusters, A, "j1", running=5 * HOUR)
    # when the detector scans (report-only) with one order, then the other
    use_rules([LONG_RUN, quiet])
    first = by_job(scan(report_only=True))[f"{A}/j1"]
    use_rules([quiet, LONG_RUN])
    second = by_job(scan(report_only=True))[f"{A}/j1"]
    # then each time the first rule in the document names the outcome
    assert (first["rule"], first["reason"]) == ("long-run", "rule long-run: RUNNING for 5h (> 4h)")
    assert (second["rule"], second["reason"]) == ("quiet", "rule quiet: unchanged for 5h (> 1h)")


def test_jobs_excluded_or_not_selected_by_a_rule_fall_to_the_next_rule(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given a rule for alice's nightly jobs (excluding one job and the "keep-" ones), then a catch-all
    use_rules(
        [
            {
                "name": "nightly",
                "clusters": [A],
                "owner": "alice",
                "name_pattern": "^nightly-",
                "running_longer_than": "2h",
                "exclude": {"job_ids": ["n2"], "name_pattern": "-keep$"},
            },
            {**LONG_RUN, "exclude": {"owners": ["carol"]}},
        ]
    )
    add(clusters, A, "n1", owner="alice", name="nightly-etl", running=5 * HOUR)
    add(clusters, A, "n2", owner="alice", name="nightly-etl", running=5 * HOUR)
    add(clusters, A, "n3", owner="alice", name="nightly-etl-keep", running=5 * HOUR)
    add(clusters, A, "b1", owner="bob", name="nightly-etl", running=5 * HOUR)
    add(clusters, A, "c1", owner="carol", running=5 * HOUR)
    # when the detector scans
    result = scan()
    # then the nightly rule takes only alice's non-excluded job; the others go to the catch-all, but carol's
    rules = {key: o["rule"] for key, o in by_job(result).items()}
    assert rules == {
        f"{A}/n1": "nightly",
        f"{A}/n2": "long-run",
        f"{A}/n3": "long-run",
        f"{A}/b1": "long-run",
    }


def test_rule_cap_takes_the_oldest_jobs_across_clusters_and_reports_the_rest(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given a rule capped at 2 jobs per scan, and four matching jobs on two clusters
    use_rules([{"name": "long-run", "clusters": [A, B], "running_longer_than": "4h", "max_jobs_per_scan": 2}])
    add(clusters, A, "a5h", running=5 * HOUR)
    add(clusters, A, "a9h", running=9 * HOUR)
    add(clusters, B, "b7h", running=7 * HOUR)
    add(clusters, B, "b6h", running=6 * HOUR)
    # when the detector scans
    result = scan()
    # then the two oldest are rerun and the two others are reported as over the rule's cap, not rerun
    assert sorted(clusters.rerun_job_ids()) == ["a9h", "b7h"]
    outcomes = by_job(result)
    for key in (f"{A}/a5h", f"{B}/b6h"):
        assert outcomes[key]["status"] == "ignored"
        assert outcomes[key]["error_code"] == "RuleCapReached"
        assert outcomes[key]["rule"] == "long-run"
        assert "cap of 2 job(s) per scan" in outcomes[key]["message"]


def test_second_scan_within_the_dedupe_window_reruns_nothing_new(
    clusters: Simulator, use_rules: Rules, scan: Scan, clock: list[int]
) -> None:
    # given jobs QUEUED for over a day (a rerun leaves them QUEUED with the same SubmitTime)
    use_rules([{"name": "queued-a-day", "clusters": [A], "queued_longer_than": "1d"}], dedupe_window_s=900)
    add(clusters, A, "q1", state="QUEUED", queued=2 * 86_400)
    add(clusters, A, "q2", state="QUEUED", queued=3 * 86_400)
    first = scan()
    # when the detector scans again ten minutes later
    clock[0] += 600_000
    second = scan()
    # then the first scan reran them and the second only reports duplicates: no new RerunJobs
    assert set(first["counts"]) == {"rerun"}
    assert {o["status"] for o in second["outcomes"]} == {"duplicate"}
    assert sorted(clusters.rerun_job_ids()) == ["q1", "q2"]
    assert len(clusters.calls_for("RerunJobs")) == 1


def test_detector_matches_obey_the_blast_radius_cap_and_dry_run(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    for n in range(3):
        add(clusters, A, f"j{n}", running=5 * HOUR)
    use_rules([LONG_RUN], max_jobs_per_invocation=2)
    assert set(scan()["counts"]) == {"capped"}
    use_rules([LONG_RUN], max_jobs_per_invocation=500, dry_run="true")
    assert scan()["counts"] == {"dry_run": 3}
    assert clusters.calls_for("RerunJobs") == []


def test_cluster_outside_the_allow_list_is_not_listed(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    use_rules([{**LONG_RUN, "clusters": [A, B]}], deny_clusters=B)
    result = scan()
    assert [call.cluster_id for call in clusters.calls_for("ListJobs")] == [A]
    assert "deny-list" in by_job(result)[f"{B}/None"]["message"]
