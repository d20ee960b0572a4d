"""The simulated E-HPC actions (RerunJobs, ListJobs, ListNodes, DescribeJob) and their parameter parsing.

Each action reads the request parameters of a :class:`CallContext`, notes what it learnt
(cluster, job ids, ``Async``, whether the call was applied) on it for the call log, and
answers the response body without ``RequestId``; errors are raised as :class:`ApiError`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from .apierror import ApiError
from .faults import Fault
from .nodes import DEFAULT_PAGE_SIZE as NODE_PAGE_SIZE_DEFAULT
from .nodes import MAX_PAGE_SIZE as NODE_PAGE_SIZE_MAX
from .nodes import NodeQuery
from .signature import VerifyResult
from .state import SimState


def _new_request_id() -> str:
    return str(uuid.uuid4()).upper()


@dataclass
class CallContext:
    """Facts gathered about one request while it is handled (frozen into a RecordedCall)."""

    handler: BaseHTTPRequestHandler
    action: str
    version: str
    params: dict[str, str]
    started_at: float
    raw_query: str
    request_id: str = field(default_factory=_new_request_id)
    verified: VerifyResult = field(default_factory=lambda: VerifyResult(False))
    fault: Fault | None = None
    cluster_id: str | None = None
    job_ids: list[str] = field(default_factory=list)
    async_: bool | None = None
    applied: bool = False


def _required(call: CallContext, name: str) -> str:
    value = call.params.get(name)
    if value is None or value == "":
        raise ApiError(400, f"Missing{name}", f"{name} is mandatory for this action.")
    return value


def _invalid(name: str) -> ApiError:
    return ApiError(400, "InvalidParams", f"The specified parameter {name} is invalid.")


def _bool(call: CallContext, name: str) -> bool | None:
    value = call.params.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise _invalid(name)
    return value.lower() == "true"


def _int(call: CallContext, name: str, default: int, low: int, high: int) -> int:
    value = call.params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _invalid(name) from None
    if not low <= number <= high:
        raise _invalid(name)
    return number


def _parse_jobs(raw: str) -> list[str]:
    try:
        jobs = json.loads(raw)
    except ValueError:
        raise _invalid("Jobs") from None
    if not isinstance(jobs, list) or not 1 <= len(jobs) <= 100:
        raise _invalid("Jobs")
    ids = [j.get("Id") if isinstance(j, dict) else None for j in jobs]
    if not all(isinstance(i, str) and i for i in ids):
        raise _invalid("Jobs")
    return [str(i) for i in ids]


class SimActions(SimState):
    """:class:`SimState` plus the API actions, by name in ``_actions``; the base of ``Simulator``."""

    def __init__(self) -> None:
        super().__init__()
        self._actions: dict[str, Callable[[CallContext], dict[str, Any]]] = {
            "RerunJobs": self._rerun_jobs,
            "ListJobs": self._list_jobs,
            "DescribeJob": self._describe_job,
            "ListNodes": self._list_nodes,
        }

    def _rerun_jobs(self, call: CallContext) -> dict[str, Any]:
        call.cluster_id = _required(call, "ClusterId")
        self.cluster_or_404(call.cluster_id, require_running=True)
        raw_jobs = _required(call, "Jobs")
        call.job_ids = _parse_jobs(raw_jobs)
        call.async_ = _bool(call, "Async")
        self.rerun(call.cluster_id, call.job_ids)
        call.applied = True
        return {}

    def _list_jobs(self, call: CallContext) -> dict[str, Any]:
        call.cluster_id = _required(call, "ClusterId")
        self.cluster_or_404(call.cluster_id)
        state = call.params.get("State", "all")
        if state not in ("all", "finished", "notfinish"):
            raise _invalid("State")
        rerunable = bool(_bool(call, "Rerunable"))
        page = _int(call, "PageNumber", 1, 1, 1_000_000)
        size = _int(call, "PageSize", 10, 1, 50)
        owner = call.params.get("Owner") or None
        total, jobs = self.list_jobs(
            call.cluster_id, state=state, owner=owner, rerunable=rerunable, page=page, size=size
        )
        return {"TotalCount": total, "PageNumber": page, "PageSize": size, "Jobs": {"JobInfo": jobs}}

    def _list_nodes(self, call: CallContext) -> dict[str, Any]:
        call.cluster_id = _required(call, "ClusterId")
        self.cluster_or_404(call.cluster_id)
        page = _int(call, "PageNumber", 1, 1, 1_000_000)
        size = _int(call, "PageSize", NODE_PAGE_SIZE_DEFAULT, 1, NODE_PAGE_SIZE_MAX)
        total, nodes = self.list_nodes(call.cluster_id, NodeQuery.from_params(call.params, page, size))
        return {"TotalCount": total, "PageNumber": page, "PageSize": size, "Nodes": {"NodeInfo": nodes}}

    def _describe_job(self, call: CallContext) -> dict[str, Any]:
        call.cluster_id = _required(call, "ClusterId")
        self.cluster_or_404(call.cluster_id)
        job_id = _required(call, "JobId")
        call.job_ids = [job_id]
        call.async_ = _bool(call, "Async")
        info = self.describe_job(call.cluster_id, job_id)
        return {"Message": {"JobInfo": json.dumps(info, ensure_ascii=False)}}
