"""The node check's decisions: which nodes are unhealthy, which hosts are theirs, what is never guessed,
failures, paging and the shared quota. Units for the pure parts; the real handler and SDK for the rest."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from ehpc_rerun import app
from ehpc_rerun.ehpc.client import NodeInfo
from ehpc_rerun.errors import RedeliveryRequested
from ehpc_rerun.localrun import LocalFunction
from ehpc_rerun.nodes.health import HostIndex, judge, sched_states
from ehpc_rerun.settings import Settings
from ehpc_rerun.simulator import Simulator
from tests.nodes.conftest import NODES_CLUSTER, ON_COMPUTE3, Invoke, by_job, cluster_lines, node_event, reruns

THREE = sorted(ON_COMPUTE3)
DEFAULTS = Settings()


def node(host: str, status: str = "running", sched: str = "idle", ip: str = "") -> NodeInfo:
    return NodeInfo(id=f"i-{host}", host_name=host, status=status, state_in_sched=sched, ip_address=ip)


def verdict_of(status: str, sched: str, statuses: tuple[str, ...] = DEFAULTS.unhealthy_node_statuses) -> str:
    return judge(node("c1", status, sched), statuses, DEFAULTS.unhealthy_sched_states).why


# --- the scheduler's state, read ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "states"),
    [
        ("down*", ["down", "not_responding"]),  # Slurm: down and not responding
        ("IDLE*", ["idle", "not_responding"]),
        ("idle~", ["idle"]),  # Slurm: powered off (power saving), on purpose
        ("DOWN+DRAIN", ["down", "drain"]),  # scontrol's joined flags
        ("down,offline", ["down", "offline"]),  # PBS: a comma list
        ("state-unknown,down", ["state-unknown", "down"]),
        ("  Alloc ", ["alloc"]),
        ("", []),
    ],
)
def test_scheduler_states_are_read_in_every_scheduler_s_form(text: str, states: list[str]) -> None:
    # given a StateInSched text / when read / then these states
    assert sched_states(text) == states


@pytest.mark.parametrize(
    ("status", "sched", "unhealthy"),
    [
        ("exception", "alloc", True),  # E-HPC says so, whatever the scheduler shows
        ("Exception", "", True),  # case does not matter
        ("running", "down*", True),  # the scheduler's own failure: StateInSched only
        ("running", "idle*", True),  # Slurm: not responding
        ("running", "down,offline", True),  # PBS
        ("running", "state-unknown", True),
        ("running", "drain", False),  # an administrator drained it on purpose
        ("running", "offline", False),  # PBS: offlined on purpose
        ("running", "idle~", False),  # powered off by power saving
        ("stopped", "down", False),  # stopped on purpose: down to the scheduler too, not counted
        ("releasing", "unknown", False),
        ("untracking", "down", False),
        ("initing", "unknown", False),
    ],
)
def test_which_nodes_count_as_unhealthy_by_default(status: str, sched: str, unhealthy: bool) -> None:
    # given a node with this Status and StateInSched / when judged with the defaults / then
    assert bool(verdict_of(status, sched)) is unhealthy


def test_a_status_the_setting_lists_counts_even_if_it_is_usually_on_purpose() -> None:
    # given an operator who wants stopped nodes' jobs rerun too
    # when a stopped node is judged / then it is unhealthy, by its Status
    assert verdict_of("stopped", "down", ("exception", "stopped")) == "Status stopped"


def test_host_names_match_in_any_case_short_or_fully_qualified_and_by_ip() -> None:
    # given unhealthy compute3 (ListNodes says Compute3.ehpc.local, 192.168.0.13)
    bad = judge(node("Compute3.ehpc.local", "exception", ip="192.168.0.13"), ("exception",), ())
    index = HostIndex([bad])
    # when job hosts are looked up / then the same host matches in every spelling
    for host in ("compute3", "COMPUTE3", "compute3.ehpc.local", "compute3.ehpc.local.", "192.168.0.13"):
        assert index.match(host) is bad, host
    # and other hosts do not: another domain, a longer name, another address
    for host in ("compute3.other.site", "compute30", "compute", "192.168.0.130", "192"):
        assert index.match(host) is None, host


# --- through the handler ---------------------------------------------------------------------------


def test_a_stopped_node_reruns_nothing_and_the_report_says_why(cluster: Simulator, invoke: Invoke) -> None:
    # given compute3 stopped by an operator (its scheduler shows it down)
    cluster.set_node_status(NODES_CLUSTER, "compute3", "stopped", state_in_sched="down")
    # when the node event arrives
    result = invoke(node_event("evt-stop"))
    # then nothing is listed or rerun, and the report names the node as out of service on purpose
    assert cluster.calls_for("ListJobs") == [] and cluster.calls_for("RerunJobs") == []
    (line,) = cluster_lines(result)
    assert "none unhealthy" in line["message"]
    assert "compute3 (stopped)" in line["message"] and "on purpose" in line["message"]


def test_a_failure_only_the_scheduler_sees_reruns_the_jobs(cluster: Simulator, invoke: Invoke) -> None:
    # given compute3 running to E-HPC, but down and not responding to Slurm
    cluster.set_node_status(NODES_CLUSTER, "compute3", state_in_sched="down*")
    # when the node event arrives
    result = invoke(node_event("evt-sched"))
    # then its three jobs are rerun, and the detail carries the scheduler's state as it was written
    assert reruns(cluster) == THREE
    for job in THREE:
        detail = by_job(result)[job]["detail"]
        assert (detail["node_status"], detail["state_in_sched"]) == ("running", "down*")
        assert "StateInSched" in by_job(result)[job]["reason"]


def test_the_scheduler_states_are_a_setting(
    cluster: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    # given an operator who counts drained nodes as unhealthy, and compute3 drained
    settings_env(unhealthy_sched_states="down,drain")
    cluster.set_node_status(NODES_CLUSTER, "compute3", state_in_sched="DRAIN")
    # when the node event arrives / then its jobs are rerun
    invoke(node_event("evt-drain"))
    assert reruns(cluster) == THREE


def test_an_unknown_status_in_the_setting_stops_the_function_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a misspelt status / when the settings load / then initialisation fails naming the variable
    from ehpc_rerun.errors import ConfigError
    from ehpc_rerun.settings import load_settings

    monkeypatch.setenv("EHPC_RERUN_UNHEALTHY_NODE_STATUSES", "exception,broken")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "EHPC_RERUN_UNHEALTHY_NODE_STATUSES" in raised.value.message and "broken" in raised.value.message


def test_jobs_named_by_fqdn_or_ip_on_a_node_listed_by_short_name_are_found(
    cluster: Simulator, invoke: Invoke
) -> None:
    # given compute3 in exception, a job naming it by its FQDN in capitals, one by its address
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    ip = next(n.ip_address for n in cluster.nodes(NODES_CLUSTER) if n.host_name == "compute3")
    cluster.add_job(NODES_CLUSTER, "21.scheduler", node_list="COMPUTE3.ehpc.local")
    cluster.add_job(NODES_CLUSTER, "22.scheduler", node_list=f"{ip}/0*2")
    # when the node event arrives / then both are rerun with the other three
    invoke(node_event("evt-fqdn"))
    assert reruns(cluster) == sorted([*THREE, "21.scheduler", "22.scheduler"])


def test_an_unreadable_node_list_is_reported_never_guessed(cluster: Simulator, invoke: Invoke) -> None:
    # given compute3 in exception, a running job whose NodeList cannot be read (unbalanced bracket), and
    # one whose list is partly unreadable but names compute3
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    cluster.add_job(NODES_CLUSTER, "31.scheduler", node_list="compute[3-")
    cluster.add_job(NODES_CLUSTER, "32.scheduler", node_list="compute3,bgl[1x2]")
    # when the node event arrives
    result = invoke(node_event("evt-bad-list"))
    # then the unreadable one is ignored with the parse problem, and not rerun
    unreadable = by_job(result)["31.scheduler"]
    assert (unreadable["status"], unreadable["error_code"]) == ("ignored", "UnreadableNodeList")
    assert "unbalanced" in unreadable["message"] and "never guessed" in unreadable["message"]
    # and the one that names compute3 is rerun, its list's problem kept in the detail
    assert by_job(result)["32.scheduler"]["status"] == "rerun"
    assert by_job(result)["32.scheduler"]["detail"]["node_list_problems"]
    assert reruns(cluster) == sorted([*THREE, "32.scheduler"])


def test_a_queued_job_is_not_stranded_whatever_its_node_list(cluster: Simulator, invoke: Invoke) -> None:
    # given compute3 in exception and a QUEUED job whose NodeList still names it
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    cluster.add_job(NODES_CLUSTER, "41.scheduler", state="QUEUED", node_list="compute3")
    # when the node event arrives / then only the running jobs are rerun
    invoke(node_event("evt-queued"))
    assert reruns(cluster) == THREE


def test_an_unhealthy_node_without_jobs_says_nothing_is_stranded(cluster: Simulator, invoke: Invoke) -> None:
    # given compute1 in exception, no running job on it
    cluster.set_node_status(NODES_CLUSTER, "compute1", "exception")
    cluster.set_job_state(NODES_CLUSTER, "14.scheduler", "FINISHED")
    # when the node event arrives
    result = invoke(node_event("evt-idle-node"))
    # then nothing is rerun and the report says why
    assert cluster.calls_for("RerunJobs") == []
    (line,) = cluster_lines(result)
    assert "compute1 (exception)" in line["message"] and "nothing to rerun" in line["message"]


def test_listnodes_failing_is_one_failed_record_and_the_event_comes_back(
    cluster: Simulator, invoke: Invoke
) -> None:
    # given ListNodes answering 503 to every attempt
    cluster.fail_next("ListNodes", "ServiceUnavailable", 503, times=10)
    # when the node event arrives / then the handler asks for redelivery, naming the cluster
    with pytest.raises(RedeliveryRequested) as raised:
        invoke(node_event("evt-503"))
    assert NODES_CLUSTER in raised.value.message and "ServiceUnavailable" in raised.value.message
    assert cluster.calls_for("ListJobs") == [] and cluster.calls_for("RerunJobs") == []


def test_listnodes_refused_for_good_is_a_failed_record_without_redelivery(
    cluster: Simulator, invoke: Invoke
) -> None:
    # given a role without ehpc:ListNodes (403)
    cluster.fail_next("ListNodes", "Forbidden.RAM", 403, message="not authorized for ListNodes")
    # when the node event arrives
    result = invoke(node_event("evt-403"))
    # then one failed record names the call and E-HPC's code, once (not retried)
    (line,) = cluster_lines(result)
    assert (line["status"], line["error_code"], line["transient"]) == ("failed", "Forbidden.RAM", False)
    assert "ListNodes failed" in line["message"]
    assert len(cluster.calls_for("ListNodes")) == 1


def test_nodes_are_read_page_by_page_and_the_bound_is_reported(
    cluster: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    # given 250 more nodes (3 ListNodes pages in all), the failed one on the last page
    for n in range(5, 255):
        cluster.add_node(NODES_CLUSTER, f"compute{n}")
    cluster.set_node_status(NODES_CLUSTER, "compute254", "exception")
    cluster.add_job(NODES_CLUSTER, "51.scheduler", node_list="compute[250-254]")
    # when the node event arrives / then three pages are read and the job is rerun
    invoke(node_event("evt-pages"))
    assert [c.query["PageNumber"] for c in cluster.calls_for("ListNodes")] == ["1", "2", "3"]
    assert reruns(cluster) == ["51.scheduler"]
    # and with the bound at 2 pages, the nodes beyond it are said not to be checked
    cluster.reset_calls()
    settings_env(precheck_max_pages=2)
    result = invoke(node_event("evt-bounded"))
    assert len(cluster.calls_for("ListNodes")) == 2
    (line, healthy) = cluster_lines(result)
    assert (line["status"], line["error_code"]) == ("failed", "ListingIncomplete")
    assert "200 of 255 nodes" in line["message"] and "EHPC_RERUN_PRECHECK_MAX_PAGES" in line["message"]
    assert "none unhealthy" in healthy["message"]


def test_the_node_check_and_the_pre_check_share_one_listing(cluster: Simulator, invoke: Invoke) -> None:
    # given compute3 in exception
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    # when the node event arrives
    invoke(node_event("evt-share"))
    # then one ListJobs call served the check and the pre-check of the RerunJobs call
    assert len(cluster.calls_for("ListJobs")) == 1
    assert reruns(cluster) == THREE


def test_a_scan_with_rules_and_nodes_lists_each_cluster_once(
    cluster: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    # given a rule covering the cluster (matching nothing), the node check in the scan, compute3 failed
    rules = {"rules": [{"name": "ancient", "clusters": [NODES_CLUSTER], "running_longer_than": "30d"}]}
    settings_env(detector_rules=json.dumps(rules), node_check_in_scan="true")
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    # when the scan runs
    invoke({"scan": {}})
    # then the detector's listing served the node check and the pre-check: one ListJobs call
    assert len(cluster.calls_for("ListJobs")) == 1
    assert reruns(cluster) == THREE


def test_the_node_check_stays_within_the_shared_listnodes_quota(
    cluster: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    # given E-HPC's own flow control at 3 ListNodes per 60 s, and the limiter set to the same quota
    cluster.set_quota("ListNodes", 3)
    settings_env(quota_listnodes_per_60s=3, deadline_margin_s=0)
    # when five node events come, each on a fresh instance with 2 s to run
    redelivered = 0
    for n in range(5):
        app.reset()
        try:
            invoke(node_event(f"evt-q{n}"), function=LocalFunction(timeout=2))
        except RedeliveryRequested as exc:
            assert "QuotaExhausted" in exc.message
            redelivered += 1
    # then three calls went out, none answered Throttling, and the other two events come back later
    assert [c.code for c in cluster.calls_for("ListNodes")] == [None, None, None]
    assert redelivered == 2
