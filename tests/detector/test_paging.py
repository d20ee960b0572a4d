"""ListJobs(State=notfinish) paged by 50 on every cluster, clusters in parallel on the bounded pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ehpc_rerun.simulator import Simulator
from tests.detector.conftest import HOUR, A, B, C, add, by_job, listed_pages

Scan = Callable[..., dict[str, Any]]
Rules = Callable[..., None]


def test_every_page_of_every_cluster_is_read_once(clusters: Simulator, use_rules: Rules, scan: Scan) -> None:
    # given 120, 51 and 50 unfinished jobs (3, 2 and 1 pages) and one stuck job on each cluster's last page
    use_rules([{"name": "long-run", "clusters": [A, B, C], "running_longer_than": "4h", "report_only": True}])
    for cluster, count in ((A, 120), (B, 51), (C, 50)):
        for n in range(1, count):
            add(clusters, cluster, f"{n}")
        add(clusters, cluster, "last", running=5 * HOUR)
    # and finished jobs, which ListJobs(State=notfinish) leaves out
    clusters.add_job(A, "done", state="FINISHED", start_time="2026-11-01T00:00:00Z")
    # when the detector scans
    result = scan()
    # then each cluster was listed page by page, PageSize 50, State notfinish, ceil(n / 50) calls
    assert listed_pages(clusters, A) == ["1", "2", "3"]
    assert listed_pages(clusters, B) == ["1", "2"]
    assert listed_pages(clusters, C) == ["1"]
    for call in clusters.calls_for("ListJobs"):
        assert (call.query["PageSize"], call.query["State"]) == ("50", "notfinish")
    # and the stuck job on each last page was found (report-only: no RerunJobs call)
    assert {key for key, o in by_job(result).items() if o["status"] == "dry_run"} == {
        f"{A}/last",
        f"{B}/last",
        f"{C}/last",
    }
    assert clusters.calls_for("RerunJobs") == []


def test_clusters_are_listed_in_parallel_up_to_the_pool_size(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given three one-page clusters behind a slow API and a pool of 3
    use_rules([{"name": "long-run", "clusters": [A, B, C], "unchanged_for": "1d"}], max_parallel_clusters=3)
    clusters.set_latency(0.3)
    # when the detector scans
    scan()
    # then the three ListJobs calls were in flight at the same time
    starts = sorted(call.started_at for call in clusters.calls_for("ListJobs"))
    assert len(starts) == 3
    assert starts[-1] - starts[0] < 0.25


def test_a_pool_of_one_lists_clusters_one_after_the_other(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    use_rules([{"name": "long-run", "clusters": [A, B], "unchanged_for": "1d"}], max_parallel_clusters=1)
    clusters.set_latency(0.2)
    scan()
    calls = clusters.calls_for("ListJobs")
    assert [call.cluster_id for call in calls] == [A, B]
    assert calls[1].started_at - calls[0].started_at >= 0.19
