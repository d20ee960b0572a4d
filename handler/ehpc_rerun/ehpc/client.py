"""The official E-HPC SDK, wrapped: lazily imported, STS credentials passed explicitly, errors classified.

Importing ``alibabacloud_ehpc20180412`` costs ~0.4 s (it pulls aiohttp and requests), so this module
imports it only inside :meth:`EhpcClient._sdk`, on the first real call. Invalid or duplicate events never
get here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ehpc_rerun.credentials import Credentials
from ehpc_rerun.settings import Settings

from .errors import EhpcCallError, classify

# ListJobs' PageSize is at most 50 (SDK alibabacloud_ehpc20180412 4.0.0 models.py, ListJobsRequest.page_size:
# "Maximum value: 50"; API doc help.aliyun.com/document_detail/87251.html): the largest page, fewest calls.
LIST_PAGE_SIZE = 50
MAX_LIST_PAGES = 2000  # 100 000 unfinished jobs: a runaway-pagination guard
# ListNodes' PageSize is 1 to 100, default 10 (same models.py, ListNodesRequest.page_size: "Valid values: 1 to
# 100. Default value: 10."): the largest page, fewest calls.
NODE_PAGE_SIZE = 100


@dataclass(frozen=True)
class JobInfo:
    """One job as ListJobs reports it (times are E-HPC's raw strings)."""

    id: str
    state: str
    owner: str = ""
    name: str = ""
    submit_time: str = ""
    start_time: str = ""
    last_modify_time: str = ""
    # ListJobs' NodeList, "the list of compute nodes that were used to run the job" (SDK ListJobsResponseBody
    # JobsJobInfo.node_list), verbatim: its form is the scheduler's (nodes/hostlist.py reads it)
    node_list: str = ""

    def fingerprint(self) -> tuple[str, str, str]:
        """What changes when a job is rerun: used to confirm a call whose answer was lost."""
        return (self.state, self.start_time, self.last_modify_time)


@dataclass(frozen=True)
class JobPage:
    """One ListJobs answer: its jobs and the TotalCount E-HPC reported."""

    jobs: list[JobInfo]
    total: int

    def last(self, page: int) -> bool:
        """Whether page ``page`` was the last one (empty, or every job counted)."""
        return not self.jobs or page * LIST_PAGE_SIZE >= self.total


@dataclass(frozen=True)
class NodeInfo:
    """One node as ListNodes reports it (SDK ListNodesResponseBodyNodesNodeInfo)."""

    id: str
    host_name: str
    status: str  # uninit, exception, running, initing, releasing, untracking, stopped
    state_in_sched: str = ""  # "the status of the node displayed on the scheduler; varies with the scheduler"
    roles: tuple[str, ...] = ()
    ip_address: str = ""


@dataclass(frozen=True)
class NodePage:
    """One ListNodes answer: its nodes and the TotalCount E-HPC reported."""

    nodes: list[NodeInfo]
    total: int

    def last(self, page: int) -> bool:
        return not self.nodes or page * NODE_PAGE_SIZE >= self.total


def endpoint_for(settings: Settings, region: str) -> tuple[str, str]:
    """(host[:port], protocol) for a region, honouring EHPC_RERUN_ENDPOINT / EHPC_RERUN_USE_VPC_ENDPOINT."""
    if settings.endpoint is not None:
        parts = urlsplit(str(settings.endpoint))
        return parts.netloc, parts.scheme
    prefix = "ehpc-vpc" if settings.use_vpc_endpoint else "ehpc"
    return f"{prefix}.{region}.aliyuncs.com", "https"


class EhpcClient:
    """RerunJobs, ListJobs and ListNodes for one region, with one set of credentials. Thread-safe."""

    def __init__(self, settings: Settings, credentials: Credentials, region: str) -> None:
        self.region = region
        self._settings = settings
        self._credentials = credentials
        self._client: Any = None
        self._models: Any = None
        self._lock = threading.Lock()

    def _sdk(self) -> tuple[Any, Any]:
        with self._lock:
            if self._client is None:
                from alibabacloud_ehpc20180412 import models
                from alibabacloud_ehpc20180412.client import Client
                from alibabacloud_tea_openapi.models import Config

                host, protocol = endpoint_for(self._settings, self.region)
                config = Config(
                    access_key_id=self._credentials.access_key_id,
                    access_key_secret=self._credentials.access_key_secret,
                    security_token=self._credentials.security_token,
                    region_id=self.region,
                    endpoint=host,
                    protocol=protocol,
                    connect_timeout=self._settings.connect_timeout_ms,
                    read_timeout=self._settings.read_timeout_ms,
                )
                self._client, self._models = Client(config), models
            return self._client, self._models

    def rerun_jobs(self, cluster_id: str, job_ids: Sequence[str]) -> str:
        """One RerunJobs call (Async=True); returns E-HPC's RequestId or raises EhpcCallError."""
        if not 1 <= len(job_ids) <= 100:
            raise ValueError("RerunJobs takes 1 to 100 jobs")
        client, models = self._sdk()
        jobs = json.dumps([{"Id": job_id} for job_id in job_ids], ensure_ascii=False)
        try:
            response = client.rerun_jobs(
                models.RerunJobsRequest(cluster_id=cluster_id, jobs=jobs, async_=True)
            )
        except Exception as exc:  # every SDK failure is classified, none swallowed
            raise classify(exc) from None
        return str(getattr(response.body, "request_id", "") or "")

    def list_page(self, cluster_id: str, page: int, *, owner: str | None = None) -> JobPage:
        """One ListJobs(State=notfinish) call: page ``page`` (from 1) of ``LIST_PAGE_SIZE`` jobs."""
        client, models = self._sdk()
        request = models.ListJobsRequest(
            cluster_id=cluster_id, state="notfinish", page_number=page, page_size=LIST_PAGE_SIZE, owner=owner
        )
        try:
            body = client.list_jobs(request).body
        except Exception as exc:  # every SDK failure is classified, none swallowed
            raise classify(exc) from None
        infos = (body.jobs.job_info if body.jobs is not None else None) or []
        jobs = [
            JobInfo(
                id=str(info.id or ""),
                state=str(info.state or "").upper(),
                owner=str(info.owner or ""),
                name=str(info.name or ""),
                submit_time=str(info.submit_time or ""),
                start_time=str(info.start_time or ""),
                last_modify_time=str(info.last_modify_time or ""),
                node_list=str(info.node_list or ""),
            )
            for info in infos
        ]
        return JobPage(jobs, int(body.total_count or 0))

    def list_nodes_page(self, cluster_id: str, page: int) -> NodePage:
        """One ListNodes call, every role and status: page ``page`` (from 1) of ``NODE_PAGE_SIZE`` nodes."""
        client, models = self._sdk()
        request = models.ListNodesRequest(cluster_id=cluster_id, page_number=page, page_size=NODE_PAGE_SIZE)
        try:
            body = client.list_nodes(request).body
        except Exception as exc:  # every SDK failure is classified, none swallowed
            raise classify(exc) from None
        infos = (body.nodes.node_info if body.nodes is not None else None) or []
        nodes = [
            NodeInfo(
                id=str(info.id or ""),
                host_name=str(info.host_name or ""),
                status=str(info.status or ""),
                state_in_sched=str(info.state_in_sched or ""),
                roles=tuple(str(role) for role in ((info.roles.role if info.roles else None) or [])),
                ip_address=str(info.ip_address or ""),
            )
            for info in infos
        ]
        return NodePage(nodes, int(body.total_count or 0))

    def list_unfinished(self, cluster_id: str, *, owner: str | None = None) -> dict[str, JobInfo]:
        """Every RUNNING or QUEUED job, all pages, no retries and no quota: for tools, not the handler
        (the handler pages through ehpc/listings.py, which bounds the pages and takes a token per call)."""
        found: dict[str, JobInfo] = {}
        for page in range(1, MAX_LIST_PAGES + 1):
            got = self.list_page(cluster_id, page, owner=owner)
            found.update((job.id, job) for job in got.jobs)
            if got.last(page):
                return found
        raise EhpcCallError(
            "permanent", "TooManyJobs", f"more than {MAX_LIST_PAGES} pages of unfinished jobs"
        )
