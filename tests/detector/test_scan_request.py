"""How a scan is asked for (timer, direct invoke, HTTP), narrowed, refused, and what it does with no rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun import detector
from ehpc_rerun.simulator import Simulator
from tests.conftest import http_event
from tests.detector.conftest import HOUR, A, B, C, add, by_job

Scan = Callable[..., dict[str, Any]]
Rules = Callable[..., None]
Invoke = Callable[..., dict[str, Any]]
LONG_RUN = {"name": "long-run", "clusters": [A, B], "running_longer_than": "4h"}


def _lines(out: str, kind: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("type") == kind]


def test_without_rules_the_detector_does_nothing_and_says_so_once(
    clusters: Simulator,
    settings_env: Callable[..., None],
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given no rule document, detector clusters with old jobs, and a fresh process
    monkeypatch.setattr(detector, "_said", type(detector._said)())
    settings_env(detector_clusters=f"{A},{B}")
    add(clusters, A, "old", running=100 * HOUR)
    # when the timer fires twice
    results = [
        invoke({"triggerTime": "2026-11-25T12:00:00Z", "triggerName": "scan", "payload": ""}) for _ in "12"
    ]
    # then nothing is listed or rerun, each report says why, and the log says it once
    assert clusters.calls_for("ListJobs") == []
    assert clusters.calls_for("RerunJobs") == []
    for result in results:
        assert [o["status"] for o in result["outcomes"]] == ["ignored"]
        assert result["outcomes"][0]["message"] == detector.NO_RULES
        assert "EHPC_RERUN_DETECTOR_RULES" in detector.NO_RULES
    said = _lines(capsys.readouterr().out, "ehpc_rerun.detector")
    assert [line["message"] for line in said] == [detector.NO_RULES]


def test_timer_with_a_scan_payload_runs_the_detector(
    clusters: Simulator, use_rules: Rules, invoke: Invoke
) -> None:
    use_rules([LONG_RUN])
    add(clusters, A, "a1", running=5 * HOUR)
    add(clusters, B, "b1", running=5 * HOUR)
    payload = json.dumps({"scan": {"clusters": [B]}})
    result = invoke({"triggerTime": "2026-11-25T12:00:00Z", "triggerName": "every-5m", "payload": payload})
    assert result["source"] == "timer"
    assert clusters.rerun_job_ids() == ["b1"]


def test_http_scan_request_answers_with_the_outcomes(
    clusters: Simulator, use_rules: Rules, invoke: Invoke
) -> None:
    use_rules([{**LONG_RUN, "report_only": True}])
    add(clusters, A, "a1", running=5 * HOUR)
    response = invoke(http_event(json.dumps({"scan": {"rules": ["long-run"]}})))
    assert response["statusCode"] == 200
    assert [(o["job_id"], o["status"]) for o in response["body"]["outcomes"]] == [("a1", "dry_run")]


def test_scan_may_narrow_clusters_and_rules_and_names_what_it_refuses(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given two rules over clusters A and B (C is not a detector cluster)
    use_rules([LONG_RUN, {"name": "quiet", "clusters": [B], "unchanged_for": "1h"}])
    add(clusters, A, "a1", running=5 * HOUR)
    add(clusters, B, "b1", running=5 * HOUR)
    # when a scan names cluster B, cluster C, something that is not a cluster id, and an unknown rule
    result = scan(clusters=[B, C, "prod"], rules=["quiet", "nope"])
    # then only B is listed, only with rule quiet, and each refused name has its own rejected outcome
    assert [
        call.cluster_id for call in clusters.calls_for("ListJobs") if call.query.get("PageNumber") == "1"
    ] == [B]  # once: the scan's listing also served the pipeline's pre-check before RerunJobs
    assert by_job(result)[f"{B}/b1"]["rule"] == "quiet"
    rejected = {o["error_code"]: o for o in result["outcomes"] if o["status"] == "rejected"}
    assert set(rejected) == {"ClusterNotScanned", "InvalidScan", "UnknownRule"}
    assert rejected["ClusterNotScanned"]["cluster_id"] == C
    assert "'prod' is not a cluster id" in rejected["InvalidScan"]["message"]
    assert "no detector rule is named 'nope'" in rejected["UnknownRule"]["message"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"report_only": "yes"}, "scan.report_only"),
        ({"clusterz": [A]}, "scan.clusterz"),
        ({"region": "x"}, "scan.region"),
    ],
)
def test_invalid_scan_request_is_rejected_as_a_whole_and_lists_nothing(
    clusters: Simulator, use_rules: Rules, scan: Scan, request_: dict[str, Any], field: str
) -> None:
    use_rules([LONG_RUN])
    result = scan(**request_)
    assert clusters.calls_for("ListJobs") == []
    [outcome] = result["outcomes"]
    assert (outcome["status"], outcome["error_code"]) == ("rejected", "InvalidScan")
    assert outcome["message"].startswith(f"invalid scan request: {field}: ")


def test_default_clusters_are_the_setting_and_the_rules_clusters(
    clusters: Simulator, use_rules: Rules, scan: Scan
) -> None:
    # given a rule for every cluster, a rule bound to C, and EHPC_RERUN_DETECTOR_CLUSTERS=A
    use_rules(
        [{"name": "any", "unchanged_for": "1d"}, {"name": "on-c", "clusters": [C], "unchanged_for": "1d"}],
        detector_clusters=A,
    )
    scan()
    assert sorted(str(call.cluster_id) for call in clusters.calls_for("ListJobs")) == [A, C]


def test_a_cluster_no_rule_covers_is_not_listed(clusters: Simulator, use_rules: Rules, scan: Scan) -> None:
    use_rules([{"name": "on-c", "clusters": [C], "unchanged_for": "1d"}], detector_clusters=f"{A},{B}")
    scan()
    assert [call.cluster_id for call in clusters.calls_for("ListJobs")] == [C]


def test_with_no_cluster_to_scan_the_scan_says_so(clusters: Simulator, use_rules: Rules, scan: Scan) -> None:
    use_rules([{"name": "any", "unchanged_for": "1d"}])
    result = scan()
    assert clusters.calls_for("ListJobs") == []
    assert "no cluster to scan" in result["outcomes"][0]["message"]


def test_scan_that_matches_nothing_reports_what_it_looked_at(
    clusters: Simulator, use_rules: Rules, scan: Scan, capsys: pytest.CaptureFixture[str]
) -> None:
    use_rules([LONG_RUN])
    add(clusters, A, "young", running=HOUR)
    result = scan()
    [outcome] = result["outcomes"]
    assert outcome["status"] == "ignored"
    assert outcome["message"] == "detector: scanned 2 cluster(s), 1 unfinished job(s): no rule matched"
    [line] = _lines(capsys.readouterr().out, "ehpc_rerun.detector_scan")
    assert line["clusters"] == [A, B]
    assert line["unfinished_jobs"] == 1
    assert line["matched"] == {"long-run": 0}
