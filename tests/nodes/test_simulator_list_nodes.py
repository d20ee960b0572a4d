"""The simulator's ListNodes and ListJobs' NodeList, through the official SDK's own models on the wire;
and listing snapshots that carry NodeList."""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_ehpc20180412 import models as m
from alibabacloud_ehpc20180412.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config

from ehpc_rerun.ehpc.client import JobInfo
from ehpc_rerun.ehpc.listings import Listing, decode, encode
from ehpc_rerun.simulator import Simulator
from tests.conftest import KEY_ID, SECRET, TOKEN
from tests.nodes.conftest import NODES_CLUSTER


def sdk(sim: Simulator) -> Client:
    return Client(
        Config(
            access_key_id=KEY_ID,
            access_key_secret=SECRET,
            security_token=TOKEN,
            region_id="cn-hangzhou",
            endpoint=sim.host,
            protocol="http",
            read_timeout=2000,
            connect_timeout=1000,
        )
    )


def list_nodes(sim: Simulator, **request: Any) -> m.ListNodesResponseBody:
    body: m.ListNodesResponseBody = (
        sdk(sim).list_nodes(m.ListNodesRequest(cluster_id=NODES_CLUSTER, **request)).body
    )
    return body


def hosts(body: m.ListNodesResponseBody) -> list[str]:
    return [str(n.host_name) for n in body.nodes.node_info]


def test_listnodes_answers_every_field_of_the_sdk_model(cluster: Simulator) -> None:
    # given the cluster's manager and four compute nodes, compute3 in exception and down to Slurm
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception", state_in_sched="down*")
    # when the SDK lists them
    body = list_nodes(cluster, page_size=100)
    # then every NodeInfo field the model reads is there, with the node's state
    info = next(n for n in body.nodes.node_info if n.host_name == "compute3")
    assert (info.status, info.state_in_sched, info.roles.role) == ("exception", "down*", ["Compute"])
    assert info.id and info.ip_address and info.region_id == "cn-hangzhou" and info.add_time
    assert info.total_resources.cpu == 4 and info.used_resources.memory == 4
    raw = cluster.calls_for("ListNodes")[0].response["Nodes"]["NodeInfo"][0]
    assert set(raw) == set(m.ListNodesResponseBodyNodesNodeInfo().from_map(raw).to_map())
    assert body.total_count == 5 and body.page_number == 1 and body.page_size == 100


def test_listnodes_pages_ten_by_default_and_at_most_a_hundred(cluster: Simulator) -> None:
    # given 25 nodes in all
    for n in range(5, 25):
        cluster.add_node(NODES_CLUSTER, f"compute{n}")
    # when listed with the default page size, then page 3 / then every page size from 1 to 100 only
    first, third = list_nodes(cluster), list_nodes(cluster, page_number=3)
    assert (len(first.nodes.node_info), first.page_size, first.total_count) == (10, 10, 25)
    assert hosts(third) == [f"compute{n}" for n in range(20, 25)]
    assert len(list_nodes(cluster, page_size=100).nodes.node_info) == 25
    for bad in (0, 101):
        with pytest.raises(ClientException) as raised:
            list_nodes(cluster, page_size=bad)
        assert raised.value.code == "InvalidParams"


def test_listnodes_filters_by_role_host_name_status_and_sorts(cluster: Simulator) -> None:
    # given compute3 in exception and a login node
    cluster.set_node_status(NODES_CLUSTER, "compute3", "exception")
    cluster.add_node(NODES_CLUSTER, "login0", roles=["Login"])
    # when filtered / then as the request model's comments describe
    assert hosts(list_nodes(cluster, role="Manager")) == ["manager"]
    assert hosts(list_nodes(cluster, role="Login")) == ["login0"]
    assert len(hosts(list_nodes(cluster, role="Compute"))) == 4
    assert hosts(list_nodes(cluster, host_name="ute[34]")) == ["compute3", "compute4"]  # a regex search
    assert hosts(list_nodes(cluster, host_name_prefix="comp", host_name_suffix="2")) == ["compute2"]
    assert hosts(list_nodes(cluster, filter='{"status":"exception"}')) == ["compute3"]
    backward = list_nodes(cluster, sort_by="HostName", sequence="Backward")
    assert hosts(backward) == sorted(hosts(backward), reverse=True)
    for bad in ({"role": "Boss"}, {"filter": "exception"}, {"filter": '{"status":"broken"}'}):
        with pytest.raises(ClientException) as raised:
            list_nodes(cluster, **bad)
        assert raised.value.code == "InvalidParams", bad


def test_listnodes_keeps_the_simulator_s_quota_and_faults(cluster: Simulator) -> None:
    # given E-HPC's flow control at 1 ListNodes per 60 s, and an unknown cluster
    cluster.set_quota("ListNodes", 1)
    # when listed twice / then the second is throttled, as ListJobs would be
    list_nodes(cluster)
    with pytest.raises(ClientException) as raised:
        list_nodes(cluster)
    assert raised.value.code == "Throttling.User"
    cluster.set_quota("ListNodes", 0)
    with pytest.raises(ClientException) as raised:
        sdk(cluster).list_nodes(m.ListNodesRequest(cluster_id="ehpc-hz-nosuch01"))
    assert raised.value.code == "ClusterNotFound"


def test_listjobs_gives_each_job_s_node_list_and_a_rerun_clears_it(cluster: Simulator) -> None:
    # given the cluster's jobs placed on nodes
    client = sdk(cluster)
    request = m.ListJobsRequest(cluster_id=NODES_CLUSTER, state="notfinish", page_size=50)
    # when listed through the SDK / then NodeList is the scheduler's text, verbatim
    jobs = {j.id: j.node_list for j in client.list_jobs(request).body.jobs.job_info}
    assert jobs["12.scheduler"] == "compute3/0*4+compute4/0*4"
    # and a rerun job (QUEUED again) runs nowhere until it is placed again
    cluster.rerun(NODES_CLUSTER, ["12.scheduler"])
    jobs = {j.id: j.node_list for j in client.list_jobs(request).body.jobs.job_info}
    assert jobs["12.scheduler"] == ""


def test_a_seed_places_nodes_and_jobs(sim: Simulator) -> None:
    # given a seed with nodes and a job on one
    seed = {
        "clusters": [
            {
                "id": "ehpc-hz-seed01",
                "nodes": [{"host": "c1", "status": "exception", "state_in_sched": "down"}, {"host": "c2"}],
                "jobs": [{"id": "1.s", "node_list": "c[1-2]"}],
            }
        ]
    }
    # when loaded / then the simulator holds them
    sim.load_seed(seed)
    placed = [(n.host_name, n.status) for n in sim.nodes("ehpc-hz-seed01")]
    assert placed == [("c1", "exception"), ("c2", "running")]
    assert sim.job("ehpc-hz-seed01", "1.s").node_list == "c[1-2]"
    with pytest.raises(ValueError, match="unknown node status"):
        sim.load_seed({"clusters": [{"id": "ehpc-hz-seed01", "nodes": [{"host": "c3", "status": "dead"}]}]})


def test_listing_snapshots_carry_node_list_and_older_ones_are_listed_again() -> None:
    # given a listing whose job runs on two nodes
    job = JobInfo("1.s", "RUNNING", node_list="compute[3-4]")
    listing = Listing({"1.s": job}, True, 1_000, 1, 1)
    # when shared as a snapshot and read back / then NodeList survives
    back = decode(encode(listing))
    assert back is not None and back.jobs["1.s"].node_list == "compute[3-4]"
    # and a snapshot written before NodeList was kept (v1) is not read: a job there would seem to run
    # nowhere
    v1 = '{"v":1,"at":1000,"complete":true,"pages":1,"total":1,"jobs":[["1.s","RUNNING","","","","",""]]}'
    assert decode(v1) is None
