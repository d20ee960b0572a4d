"""E-HPC node events, timer scans and direct invokes, end to end: the real handler, the real SDK, the
simulator's ListNodes and ListJobs on 127.0.0.1. Jobs stranded on a failed node are rerun exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.simulator import Simulator
from tests.conftest import KEY_ID, TOKEN
from tests.nodes.conftest import (
    HEALTHY_JOB,
    NODES_CLUSTER,
    ON_COMPUTE3,
    Invoke,
    by_job,
    cluster_lines,
    node_event,
    reruns,
)

THREE = sorted(ON_COMPUTE3)


def _lines(out: str, kind: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("type") == kind]


def test_a_node_going_exception_reruns_exactly_its_three_jobs(cluster: Simulator, invoke: Invoke) -> None:
    # given compute3 in exception (its scheduler still says alloc), three jobs on it in three NodeList
    # forms, and one job on healthy nodes
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    # when E-HPC's node event arrives
    result = invoke(node_event("evt-1"))
    # then exactly the three jobs are rerun, in one signed call with the STS token, Async=True
    assert reruns(cluster) == THREE
    (call,) = cluster.calls_for("RerunJobs")
    assert call.async_ is True and call.signature_valid and call.security_token == TOKEN
    outcomes = by_job(result)
    assert {job: o["status"] for job, o in outcomes.items()} == dict.fromkeys(THREE, "rerun")
    assert HEALTHY_JOB[0] not in outcomes
    # and each outcome names the node, its status and its scheduler state, and the event
    for job in THREE:
        o = outcomes[job]
        assert o["source"] == "ehpc_node" and o["source_id"] == "evt-1"
        assert {k: o["detail"][k] for k in ("node", "node_status", "state_in_sched")} == {
            "node": "compute3",
            "node_status": "exception",
            "state_in_sched": "alloc",
        }
        assert "compute3" in o["reason"] and "exception" in o["reason"]
    # and the check asked ListNodes of that cluster once, signed like every call
    (nodes_call,) = cluster.calls_for("ListNodes")
    assert nodes_call.query["ClusterId"] == NODES_CLUSTER and nodes_call.query["PageSize"] == "100"
    assert nodes_call.access_key_id == KEY_ID and nodes_call.signature_valid


@pytest.mark.parametrize("same_event", [True, False], ids=["redelivered", "five-distinct-events"])
def test_five_node_events_on_fresh_instances_rerun_the_three_jobs_once(
    cluster: Simulator, invoke: Invoke, same_event: bool
) -> None:
    # given compute3 in exception with three jobs on it
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    # when five node events arrive (the same one redelivered, or five events of one failure), each on a
    # fresh FC instance
    results = []
    for n in range(5):
        app.reset()
        results.append(invoke(node_event("evt-same" if same_event else f"evt-{n}")))
    # then the three jobs were rerun once, by the first event
    assert reruns(cluster) == THREE
    assert len(cluster.calls_for("RerunJobs")) == 1
    assert [o["status"] for o in by_job(results[0]).values()] == ["rerun"] * 3
    for later in results[1:]:
        statuses = {o["status"] for o in by_job(later).values()}
        assert statuses <= {"duplicate"}, statuses
    if same_event:  # the event memory names the invocation that did them
        for o in by_job(results[1]).values():
            assert "earlier_invocation" in o["detail"]


def test_a_batch_of_node_events_for_one_cluster_is_one_check(cluster: Simulator, invoke: Invoke) -> None:
    # given compute3 in exception
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    # when one delivery carries three node events for the cluster
    result = invoke([node_event(f"evt-b{n}") for n in range(3)])
    # then one ListNodes call, and the three jobs rerun once
    assert len(cluster.calls_for("ListNodes")) == 1
    assert reruns(cluster) == THREE
    assert {o["source_id"] for o in by_job(result).values()} == {"evt-b0"}


def test_a_node_event_of_unknown_shape_still_checks_the_cluster(cluster: Simulator, invoke: Invoke) -> None:
    # given compute3 in exception, and a node event whose data is free text and that has no subject
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    event = node_event(
        "evt-odd",
        etype="ehpc:NodeOperation:SomethingNew",
        data=f"node compute3 of {NODES_CLUSTER} changed",
        subject=False,
    )
    # when it arrives
    invoke(event)
    # then the cluster named somewhere in it was checked, and ListNodes decided
    assert [c.query["ClusterId"] for c in cluster.calls_for("ListNodes")] == [NODES_CLUSTER]
    assert reruns(cluster) == THREE


def test_a_node_event_for_a_healthy_cluster_reruns_nothing_and_says_the_check_ran(
    cluster: Simulator, invoke: Invoke
) -> None:
    # given every node healthy
    # when a node event arrives
    result = invoke(node_event("evt-ok"))
    # then nothing is listed beyond ListNodes, nothing rerun, and one line says all nodes are healthy
    assert cluster.calls_for("ListJobs") == [] and cluster.calls_for("RerunJobs") == []
    (line,) = cluster_lines(result)
    assert line["status"] == "ignored" and line["cluster_id"] == NODES_CLUSTER
    assert "5 node(s) read, none unhealthy" in line["message"]


def test_dry_run_reports_the_three_jobs_and_reruns_none(
    cluster: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    # given dry run, and compute3 in exception
    settings_env(dry_run="true")
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    # when the node event arrives
    result = invoke(node_event("evt-dry"))
    # then the three jobs are dry_run, none rerun
    assert {job: o["status"] for job, o in by_job(result).items()} == dict.fromkeys(THREE, "dry_run")
    assert cluster.calls_for("RerunJobs") == []


def test_the_timer_scan_checks_nodes_when_the_setting_says_so(
    cluster: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    # given the node check in the scan, the cluster a detector cluster (no rules), compute3 in exception
    settings_env(node_check_in_scan="true", detector_clusters=NODES_CLUSTER)
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    # when the timer fires with an empty payload
    result = invoke({"triggerTime": "2026-11-30T08:20:00Z", "triggerName": "timer", "payload": ""})
    # then the three jobs are rerun, by the scan (no event id)
    assert reruns(cluster) == THREE
    for o in by_job(result).values():
        assert o["source"] == "ehpc_node" and o["source_id"].startswith("scan:")
        assert o["detail"]["trigger"] == "detector scan"


def test_a_direct_scan_with_nodes_checks_nodes_and_a_plain_scan_does_not(
    cluster: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    # given the cluster a detector cluster, the setting off, compute3 in exception
    settings_env(detector_clusters=NODES_CLUSTER)
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    # when a plain scan, then a scan with nodes, then one with nodes but report-only, are invoked
    invoke({"scan": {}})
    assert cluster.calls_for("ListNodes") == []
    reported = invoke({"scan": {"nodes": True, "report_only": True}})
    assert {o["status"] for o in by_job(reported).values()} == {"dry_run"}
    assert cluster.calls_for("RerunJobs") == []
    invoke({"scan": {"nodes": True}})
    # then only the scans with nodes checked them, and the last one reran the three jobs
    assert len(cluster.calls_for("ListNodes")) == 2
    assert reruns(cluster) == THREE


def test_a_scan_cannot_widen_the_node_check_to_other_clusters(
    cluster: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    # given detector clusters that do not include NODES_CLUSTER
    settings_env(detector_clusters="ehpc-hz-test01")
    # when a scan asks for NODES_CLUSTER's nodes
    result = invoke({"scan": {"nodes": True, "clusters": [NODES_CLUSTER]}})
    # then it is refused by name, and no ListNodes call is made for it
    assert cluster.calls_for("ListNodes") == []
    codes = {o["error_code"] for o in result["outcomes"] if o["status"] == "rejected"}
    assert codes == {"ClusterNotScanned"}


def test_an_invalid_nodes_value_in_the_scan_is_rejected(
    cluster: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    settings_env(detector_clusters=NODES_CLUSTER)
    # given / when a scan whose nodes is not a boolean
    result = invoke({"scan": {"nodes": "yes"}})
    # then it is rejected, naming the field, and nothing is called
    (rejected,) = [o for o in result["outcomes"] if o["status"] == "rejected"]
    assert rejected["error_code"] == "InvalidScan" and "scan.nodes" in rejected["message"]
    assert cluster.calls_for("ListNodes") == []


def test_a_node_event_for_a_denied_cluster_makes_no_call(
    cluster: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    # given the cluster on the deny list, compute3 in exception
    settings_env(deny_clusters=NODES_CLUSTER)
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    # when the node event arrives
    result = invoke(node_event("evt-deny"))
    # then nothing at all is called, and the report says why
    assert cluster.calls == []
    (line,) = cluster_lines(result)
    assert line["status"] == "ignored" and "not checked" in line["message"]


def test_the_node_check_log_line_says_what_was_found(
    cluster: Simulator, invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    # given compute3 in exception and compute1 stopped
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    cluster.set_node_status(NODES_CLUSTER, "compute1", "stopped")
    capsys.readouterr()
    # when the node event arrives
    invoke(node_event("evt-log"))
    # then one ehpc_rerun.node_check line names the unhealthy and the stopped node and the counts
    (line,) = _lines(capsys.readouterr().out, "ehpc_rerun.node_check")
    assert line["cluster_id"] == NODES_CLUSTER and line["source_id"] == "evt-log"
    assert line["unhealthy"] == [{"node": "compute3", "why": "Status exception"}]
    assert line["out_of_service"] == ["compute1"]
    assert (line["nodes"], line["running_jobs"], line["stranded_jobs"]) == (5, 4, 3)
    assert line["listnodes_calls"] == 1
