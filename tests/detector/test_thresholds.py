"""Ages around each threshold: just under is left alone, just over is rerun (through the real handler)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ehpc_rerun.simulator import Simulator
from tests.detector.conftest import HOUR, A, add, ago, by_job

Scan = Callable[..., dict[str, Any]]
Rules = Callable[..., None]


def test_running_job_just_over_running_longer_than_is_rerun_and_just_under_is_not(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given a rule for jobs RUNNING longer than 4h, and jobs started just under, exactly and just over 4h ago
    use_rules([{"name": "long-run", "clusters": [A], "running_longer_than": "4h"}])
    add(clusters, A, "under", running=4 * HOUR - 1)
    add(clusters, A, "exactly", running=4 * HOUR)
    add(clusters, A, "over", running=4 * HOUR + 1)
    # when the detector scans
    result = scan()
    # then only the job over the threshold is rerun ("longer than" is strict), and its outcome says why
    assert clusters.rerun_job_ids(A) == ["over"]
    outcome = by_job(result)[f"{A}/over"]
    assert outcome["status"] == "rerun"
    assert outcome["source"] == "detector"
    assert outcome["rule"] == "long-run"
    assert outcome["source_id"].startswith("scan:")
    assert outcome["reason"] == "rule long-run: RUNNING for 4h1s (> 4h)"
    assert outcome["detail"]["running_s"] == 4 * HOUR + 1
    assert outcome["detail"]["state"] == "RUNNING"
    assert set(by_job(result)) == {f"{A}/over"}


def test_queued_job_is_judged_from_its_submit_time(clusters: Simulator, use_rules: Rules, scan: Scan) -> None:
    # given a rule for jobs QUEUED longer than a day (a QUEUED job has no StartTime: that is fine)
    use_rules([{"name": "queued-a-day", "clusters": [A], "queued_longer_than": "1d"}])
    add(clusters, A, "under", state="QUEUED", queued=86_400 - 1)
    add(clusters, A, "over", state="QUEUED", queued=86_400 + 1)
    add(clusters, A, "running-for-ages", state="RUNNING", running=10 * 86_400)
    # when the detector scans
    result = scan()
    # then only the QUEUED job over a day is rerun; the RUNNING one is not this rule's business
    assert clusters.rerun_job_ids(A) == ["over"]
    assert by_job(result)[f"{A}/over"]["reason"] == "rule queued-a-day: QUEUED for 1d1s (> 1d)"
    assert by_job(result)[f"{A}/over"]["detail"]["queued_s"] == 86_401


def test_unchanged_for_is_judged_from_last_modify_time(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given a rule for jobs whose LastModifyTime has not moved for 2h (RUNNING or QUEUED)
    use_rules([{"name": "silent", "clusters": [A], "unchanged_for": "2h"}])
    add(clusters, A, "run-under", running=10 * HOUR, unchanged=2 * HOUR - 1)
    add(clusters, A, "run-over", running=10 * HOUR, unchanged=2 * HOUR + 1)
    add(clusters, A, "queue-over", state="QUEUED", queued=10 * HOUR, unchanged=2 * HOUR + 1)
    # when the detector scans
    scan()
    # then both jobs unchanged for longer than 2h are rerun, whatever their state
    assert sorted(clusters.rerun_job_ids(A)) == ["queue-over", "run-over"]


def test_all_age_criteria_of_a_rule_must_hold(clusters: Simulator, use_rules: Rules, scan: Scan) -> None:
    # given the hung-MPI rule: RUNNING longer than 4h AND unchanged for 2h
    use_rules([{"name": "hung-mpi", "clusters": [A], "running_longer_than": "4h", "unchanged_for": "2h"}])
    add(clusters, A, "busy", running=5 * HOUR, unchanged=HOUR)  # still writing
    add(clusters, A, "young", running=3 * HOUR, unchanged=3 * HOUR)  # quiet, but not long enough
    add(clusters, A, "hung", running=5 * HOUR + 12 * 60, unchanged=2 * HOUR + 30 * 60)
    # when the detector scans
    result = scan()
    # then only the job that meets both is rerun, and the reason gives both ages
    assert clusters.rerun_job_ids(A) == ["hung"]
    outcome = by_job(result)[f"{A}/hung"]
    assert outcome["reason"] == "rule hung-mpi: RUNNING for 5h12m (> 4h), unchanged for 2h30m (> 2h)"
    assert outcome["detail"] == {
        "state": "RUNNING",
        "owner": "user1",
        "job_name": "job",
        "running_s": 5 * HOUR + 12 * 60,
        "unchanged_s": 2 * HOUR + 30 * 60,
    }


def test_every_time_format_listjobs_may_send_gives_the_same_verdict(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given the same ages written in each format E-HPC may use (zone-less times are read as UTC)
    use_rules([{"name": "long-run", "clusters": [A], "running_longer_than": "4h"}])
    formats = {
        "millis-z": "%Y-%m-%dT%H:%M:%S.000Z",
        "plain-z": "%Y-%m-%dT%H:%M:%SZ",
        "space-no-zone": "%Y-%m-%d %H:%M:%S",
        "micros-utc-offset": "%Y-%m-%dT%H:%M:%S.%f+00:00",
    }
    for label, fmt in formats.items():
        add(clusters, A, f"{label}-under", start_time=ago(4 * HOUR - 1, fmt))
        add(clusters, A, f"{label}-over", start_time=ago(4 * HOUR + 1, fmt))
    from datetime import timedelta, timezone

    from tests.detector.conftest import NOW

    in_shanghai = (NOW - timedelta(seconds=4 * HOUR + 1)).astimezone(timezone(timedelta(hours=8)))
    add(clusters, A, "plus-eight-over", start_time=in_shanghai.strftime("%Y-%m-%dT%H:%M:%S+08:00"))
    # when the detector scans
    scan()
    # then every "over" job, and no "under" job, is rerun
    assert sorted(clusters.rerun_job_ids(A)) == sorted(
        [f"{label}-over" for label in formats] + ["plus-eight-over"]
    )
