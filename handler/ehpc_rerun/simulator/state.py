"""In-memory state of the E-HPC simulator: clusters, jobs, nodes (:mod:`.nodes`) and recorded calls.

Everything (the fault plan of :mod:`.faults` included) is guarded by one lock, so the HTTP
handler threads and the test thread can use it concurrently. Domain errors are raised as
:class:`ApiError` carrying the Alibaba code.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from .apierror import ApiError
from .calls import CallLog
from .faults import FaultPlan
from .nodes import NodeTable, SimNode

RERUNNABLE_STATES = frozenset({"RUNNING", "QUEUED"})


def now_iso() -> str:
    """The simulator's timestamp format, e.g. ``2024-05-01T08:00:00.000Z`` (UTC)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class SimJob:
    id: str
    state: str
    owner: str
    name: str
    submit_time: str
    start_time: str
    last_modify_time: str
    rerun_count: int = 0
    node_list: str = ""  # ListJobs' NodeList, as the scheduler wrote it (any form: see nodes/hostlist.py)

    def job_info(self) -> dict[str, Any]:
        """The ``JobInfo`` object as ListJobs returns it."""
        return {
            "Id": self.id,
            "Name": self.name,
            "Owner": self.owner,
            "State": self.state,
            "Priority": "0",
            "Comment": "",
            "ShellPath": "",
            "Stdout": "",
            "Stderr": "",
            "NodeList": self.node_list,
            "ArrayRequest": "",
            "SubmitTime": self.submit_time,
            "StartTime": self.start_time,
            "LastModifyTime": self.last_modify_time,
            "Resources": {"Cores": 1, "Nodes": 1},
        }


@dataclass
class SimCluster:
    id: str
    region: str = "cn-hangzhou"
    status: str = "running"
    jobs: dict[str, SimJob] = field(default_factory=dict)
    nodes: dict[str, SimNode] = field(default_factory=dict)  # by HostName, in insertion (AddedTime) order


class SimState(NodeTable, FaultPlan, CallLog):
    """Clusters, jobs, nodes, faults and the call log; the public half of :class:`Simulator`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clusters: dict[str, SimCluster] = {}
        self._init_call_log()
        super().__init__()  # the fault plan, guarded by the same lock

    # ---- clusters and jobs ------------------------------------------------------------
    def add_cluster(self, cluster_id: str, *, region: str = "cn-hangzhou", status: str = "running") -> None:
        """Add (or update, keeping its jobs) a cluster. Only status "running" accepts RerunJobs."""
        with self.lock:
            existing = self.clusters.get(cluster_id)
            jobs = existing.jobs if existing else {}
            nodes = existing.nodes if existing else {}
            self.clusters[cluster_id] = SimCluster(cluster_id, region, status, jobs, nodes)

    def set_cluster_status(self, cluster_id: str, status: str) -> None:
        with self.lock:
            self._cluster(cluster_id).status = status

    def add_job(
        self,
        cluster_id: str,
        job_id: str,
        *,
        state: str = "RUNNING",
        owner: str = "user1",
        name: str = "job",
        submit_time: str | None = None,
        start_time: str | None = None,
        last_modify_time: str | None = None,
        node_list: str = "",
    ) -> SimJob:
        """Add a job (insertion order is ListJobs order). Times are the raw strings ListJobs returns;
        missing ones default to now (a QUEUED job gets an empty start time). ``node_list`` is ListJobs'
        ``NodeList``, verbatim (``compute0,compute1``, ``compute[0-3]``, ``compute0/0*4+compute1/0*4``)."""
        stamp = now_iso()
        if start_time is None:
            start_time = "" if state == "QUEUED" else stamp
        job = SimJob(
            job_id,
            state,
            owner,
            name,
            submit_time or stamp,
            start_time,
            last_modify_time or stamp,
            node_list=node_list,
        )
        with self.lock:
            self._cluster(cluster_id).jobs[job.id] = job
            return replace(job)

    def job(self, cluster_id: str, job_id: str) -> SimJob:
        """A snapshot copy of the job (``KeyError`` if unknown)."""
        with self.lock:
            return replace(self._cluster(cluster_id).jobs[job_id])

    def jobs(self, cluster_id: str) -> list[SimJob]:
        """Snapshot copies of a cluster's jobs, in insertion order."""
        with self.lock:
            return [replace(j) for j in self._cluster(cluster_id).jobs.values()]

    def set_job_state(self, cluster_id: str, job_id: str, state: str) -> None:
        with self.lock:
            job = self._cluster(cluster_id).jobs[job_id]
            job.state = state
            job.last_modify_time = now_iso()

    def _nodes_of(self, cluster_id: str) -> dict[str, SimNode]:
        return self._cluster(cluster_id).nodes

    def _region_of(self, cluster_id: str) -> str:
        return self._cluster(cluster_id).region

    def _cluster(self, cluster_id: str) -> SimCluster:
        try:
            return self.clusters[cluster_id]
        except KeyError:
            raise KeyError(f"unknown cluster {cluster_id!r}") from None

    def cluster_or_404(self, cluster_id: str, *, require_running: bool = False) -> SimCluster:
        with self.lock:
            cluster = self.clusters.get(cluster_id)
            if cluster is None:
                raise ApiError(404, "ClusterNotFound", "The specified cluster does not exist.")
            if require_running and cluster.status != "running":
                raise ApiError(
                    403,
                    "InvalidClusterStatus",
                    f"The cluster status {cluster.status} does not allow this operation.",
                )
            return cluster

    # ---- API operations (raise ApiError) ------------------------------------------------
    def rerun(self, cluster_id: str, job_ids: list[str]) -> None:
        """Validate every job first; apply all or nothing."""
        with self.lock:
            cluster = self.cluster_or_404(cluster_id, require_running=True)
            unique = list(dict.fromkeys(job_ids))
            bad = [
                j for j in unique if j not in cluster.jobs or cluster.jobs[j].state not in RERUNNABLE_STATES
            ]
            if bad:
                detail = ", ".join(
                    f"{j} ({cluster.jobs[j].state})" if j in cluster.jobs else f"{j} (not found)" for j in bad
                )
                raise ApiError(406, "AgentError.Job.RerunFailure", f"Failed to rerun jobs: {detail}.")
            stamp = now_iso()
            for job_id in unique:
                job = cluster.jobs[job_id]
                job.rerun_count += 1
                job.state = "QUEUED"
                job.start_time = ""
                job.last_modify_time = stamp
                job.node_list = ""  # requeued: it runs nowhere until the scheduler places it again

    def list_jobs(
        self, cluster_id: str, *, state: str, owner: str | None, rerunable: bool, page: int, size: int
    ) -> tuple[int, list[dict[str, Any]]]:
        with self.lock:
            jobs: Iterable[SimJob] = self.cluster_or_404(cluster_id).jobs.values()
            if state == "finished":
                jobs = [j for j in jobs if j.state not in RERUNNABLE_STATES]
            if state == "notfinish" or rerunable:
                jobs = [j for j in jobs if j.state in RERUNNABLE_STATES]
            if owner is not None:
                jobs = [j for j in jobs if j.owner == owner]
            selected = list(jobs)
            start = (page - 1) * size
            return len(selected), [j.job_info() for j in selected[start : start + size]]

    def describe_job(self, cluster_id: str, job_id: str) -> dict[str, Any]:
        with self.lock:
            job = self.cluster_or_404(cluster_id).jobs.get(job_id)
            if job is None:
                raise ApiError(400, "InvalidParams", "The specified parameter JobId is invalid.")
            return job.job_info()

    # ---- seed -----------------------------------------------------------------------
    def load_seed(self, data: Mapping[str, Any]) -> None:
        clusters = data.get("clusters")
        if not isinstance(clusters, list):
            raise ValueError("seed must be an object with a 'clusters' list")
        for c in clusters:
            if not isinstance(c, dict) or not isinstance(c.get("id"), str):
                raise ValueError(f"seed cluster needs a string 'id': {c!r}")
            self.add_cluster(
                c["id"], region=str(c.get("region", "cn-hangzhou")), status=str(c.get("status", "running"))
            )
            for n in c.get("nodes", []):
                if not isinstance(n, dict) or not isinstance(n.get("host"), str):
                    raise ValueError(f"seed node needs a string 'host': {n!r}")
                try:
                    self.add_node(c["id"], n["host"], **{k: v for k, v in n.items() if k != "host"})
                except TypeError as exc:
                    raise ValueError(f"bad seed node {n!r}: {exc}") from None
            for j in c.get("jobs", []):
                if not isinstance(j, dict) or not isinstance(j.get("id"), str):
                    raise ValueError(f"seed job needs a string 'id': {j!r}")
                try:
                    self.add_job(c["id"], j["id"], **{k: v for k, v in j.items() if k != "id"})
                except TypeError as exc:
                    raise ValueError(f"bad seed job {j!r}: {exc}") from None
