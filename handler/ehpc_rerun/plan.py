"""Requests -> jobs -> per-cluster plans with at most ``jobs_per_call`` (<= 100) jobs per RerunJobs call.

A job mentioned by several records of one event is one job (one outcome); the first record's reason and
source are kept and the number of mentions is noted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .models import RerunRequest


@dataclass
class Job:
    region: str
    cluster_id: str
    job_id: str
    request: RerunRequest
    mentions: int = 1
    # every event identity that asked for this job (several records of one batch may name it)
    event_ids: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The state-store key: one per job, across instances and invocations."""
        return f"job:{self.region}:{self.cluster_id}:{self.job_id}"


@dataclass
class ClusterPlan:
    region: str
    cluster_id: str
    jobs: list[Job] = field(default_factory=list)

    def chunks(self, size: int) -> list[list[Job]]:
        return [self.jobs[i : i + size] for i in range(0, len(self.jobs), size)]


def expand(requests: Iterable[RerunRequest], default_region: str) -> list[Job]:
    """One :class:`Job` per distinct (region, cluster, job id), in first-seen order."""
    jobs: dict[tuple[str, str, str], Job] = {}
    for request in requests:
        region = request.region or default_region
        for job_id in request.job_ids:
            ident = (region, request.cluster_id, job_id)
            events = (f"{request.source.value}:{request.event_id}",) if request.event_id else ()
            if ident in jobs:
                job = jobs[ident]
                job.mentions += 1
                job.event_ids += tuple(e for e in events if e not in job.event_ids)
            else:
                jobs[ident] = Job(region, request.cluster_id, job_id, request, event_ids=events)
    return list(jobs.values())


def group(jobs: Sequence[Job]) -> list[ClusterPlan]:
    """Group jobs per (region, cluster), keeping order."""
    plans: dict[tuple[str, str], ClusterPlan] = {}
    for job in jobs:
        ident = (job.region, job.cluster_id)
        if ident not in plans:
            plans[ident] = ClusterPlan(job.region, job.cluster_id)
        plans[ident].jobs.append(job)
    return list(plans.values())
