"""A cluster with named nodes and jobs placed on them, and E-HPC node events for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun.simulator import Simulator

NODES_CLUSTER = "ehpc-hz-nodes01"
# Three jobs on compute3, each NodeList in another scheduler's form, and one job on healthy nodes only.
ON_COMPUTE3 = {
    "11.scheduler": "compute2,compute3",  # a plain comma list
    "12.scheduler": "compute3/0*4+compute4/0*4",  # PBS exec_host
    "13.scheduler": "compute[3-4]",  # a Slurm hostlist range
}
HEALTHY_JOB = ("14.scheduler", "compute[1-2]")


@pytest.fixture
def cluster(sim: Simulator) -> Simulator:
    """``NODES_CLUSTER``: a manager, compute1..compute4 (running, idle) and the four jobs above."""
    sim.add_cluster(NODES_CLUSTER)
    sim.add_node(NODES_CLUSTER, "manager", roles=["Scheduler", "Account"])
    for n in range(1, 5):
        sim.add_node(NODES_CLUSTER, f"compute{n}", status="running", state_in_sched="alloc")
    for job_id, node_list in [*ON_COMPUTE3.items(), HEALTHY_JOB]:
        sim.add_job(NODES_CLUSTER, job_id, state="RUNNING", node_list=node_list)
    return sim


def node_event(
    event_id: str,
    *,
    cluster: str = NODES_CLUSTER,
    etype: str = "ehpc:NodeOperation:NodeStatusChange",
    data: Any = None,
    subject: bool = True,
) -> dict[str, Any]:
    """An E-HPC node event as the EventBridge CloudEvents envelope carries it (events/ sample's shape)."""
    event: dict[str, Any] = {
        "id": event_id,
        "source": "acs.ehpc",
        "specversion": "1.0",
        "type": etype,
        "datacontenttype": "application/json; charset=utf-8",
        "time": "2026-11-30T08:15:02.311Z",
        "aliyunaccountid": "164901546557****",
        "aliyunregionid": "cn-hangzhou",
        "aliyuneventbusname": "default",
        "data": data if data is not None else {"clusterId": cluster, "nodes": [{"hostName": "compute3"}]},
    }
    if subject:
        event["subject"] = f"acs:ehpc:cn-hangzhou:164901546557****:cluster/{cluster}"
    return event


def reruns(sim: Simulator, cluster: str = NODES_CLUSTER) -> list[str]:
    return sorted(sim.rerun_job_ids(cluster))


def by_job(result: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    body = result.get("body", result)
    return {o["job_id"]: o for o in body["outcomes"] if o["job_id"] is not None}


def cluster_lines(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The outcomes that name no job (the node check's findings about the cluster)."""
    body = result.get("body", result)
    return [o for o in body["outcomes"] if o["job_id"] is None]


Invoke = Callable[..., dict[str, Any]]
