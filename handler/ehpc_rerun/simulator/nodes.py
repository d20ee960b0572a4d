"""The simulator's cluster nodes and its ``ListNodes``, as the SDK's models describe them.

Source: ``alibabacloud_ehpc20180412`` 4.0.0 ``models.py``, ``ListNodesRequest`` and
``ListNodesResponseBodyNodesNodeInfo`` (their comments are the API reference's text):

* ``Status``: uninit, exception, running, initing, releasing, untracking, stopped;
* ``StateInSched``: "the status of the node displayed on the scheduler; varies with the scheduler" (free
  text here: ``idle``, ``down*``, ``down,offline`` ... whatever a test sets);
* ``Roles.Role``: Scheduler, SchedulerBackup, Account, AccountBackup, Login, Compute ("Scheduling nodes and
  domain server nodes are management nodes");
* request filters: ``Role`` (Manager, Login, Compute), ``HostName`` ("fuzzy search. MySQL regular
  expressions are supported": an unanchored, case-insensitive regular expression search here),
  ``HostNamePrefix``, ``HostNameSuffix``, ``PrivateIpAddress``, ``Filter`` (``{"status":"<node status>"}``),
  ``SortBy`` (AddedTime, HostName) with ``Sequence`` (Forward, the default, or Backward);
* paging: ``PageNumber`` from 1, ``PageSize`` 1 to 100, default 10; the answer carries ``TotalCount``.

What the reference leaves open is decided here, and marked: an unknown ``Role``/``SortBy``/``Sequence``
value, a ``Filter`` that is not that JSON object, or a ``HostName`` that is not a regular expression answer
400 ``InvalidParams`` (E-HPC's own answer to those is UNVERIFIED).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from .apierror import ApiError, invalid

NODE_STATUSES = ("uninit", "exception", "running", "initing", "releasing", "untracking", "stopped")
NODE_ROLES = ("Scheduler", "SchedulerBackup", "Account", "AccountBackup", "Login", "Compute")
ROLE_FILTER = {
    "Manager": frozenset({"Scheduler", "SchedulerBackup", "Account", "AccountBackup"}),
    "Login": frozenset({"Login"}),
    "Compute": frozenset({"Compute"}),
}
SORT_BY = ("AddedTime", "HostName")
SEQUENCES = ("Forward", "Backward")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10


@dataclass
class SimNode:
    id: str
    host_name: str
    status: str = "running"
    state_in_sched: str = "idle"
    roles: tuple[str, ...] = ("Compute",)
    ip_address: str = ""
    add_time: str = ""
    order: int = 0  # the order nodes were added (SortBy AddedTime)
    extra: dict[str, Any] = field(default_factory=dict)

    def node_info(self, region: str) -> dict[str, Any]:
        """The ``NodeInfo`` object as ListNodes returns it (every field of the SDK's model)."""
        compute = "Compute" in self.roles
        return {
            "AddTime": self.add_time,
            "CreateMode": "manual",
            "CreatedByEhpc": True,
            "Expired": False,
            "ExpiredTime": "",
            "HostName": self.host_name,
            "HtEnabled": True,
            "Id": self.id,
            "ImageId": "centos_7_06_64_20G_alibase_20190711.vhd",
            "ImageOwnerAlias": "system",
            "InstanceType": "ecs.c7.xlarge",
            "IpAddress": self.ip_address,
            "Location": "PublicCloud",
            "LockReason": "",
            "PublicIpAddress": "",
            "RegionId": region,
            "Roles": {"Role": list(self.roles)},
            "SpotStrategy": "NoSpot",
            "StateInSched": self.state_in_sched,
            "Status": self.status,
            "TotalResources": {"Cpu": 4, "Gpu": 0, "Memory": 8},
            "UsedResources": {"Cpu": 4 if compute else 0, "Gpu": 0, "Memory": 4 if compute else 0},
            "VSwitchId": "vsw-bp1simulator0001",
            "Version": "2.0.0",
            "VpcId": "vpc-bp1simulator0001",
            "ZoneId": f"{region}-k",
            **self.extra,
        }


@dataclass(frozen=True)
class NodeQuery:
    """ListNodes' request parameters, parsed and checked."""

    role: str | None = None
    host_name: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    ip_address: str | None = None
    status: str | None = None
    sort_by: str = "AddedTime"
    sequence: str = "Forward"
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_params(cls, params: dict[str, str], page: int, size: int) -> NodeQuery:
        role = params.get("Role") or None
        if role is not None and role not in ROLE_FILTER:
            raise invalid("Role")
        host_name = params.get("HostName") or None
        if host_name is not None:
            try:
                re.compile(host_name)
            except re.error:
                raise invalid("HostName") from None
        sort_by = params.get("SortBy") or "AddedTime"
        sequence = params.get("Sequence") or "Forward"
        if sort_by not in SORT_BY:
            raise invalid("SortBy")
        if sequence not in SEQUENCES:
            raise invalid("Sequence")
        return cls(
            role=role,
            host_name=host_name,
            prefix=params.get("HostNamePrefix") or None,
            suffix=params.get("HostNameSuffix") or None,
            ip_address=params.get("PrivateIpAddress") or None,
            status=_status_filter(params.get("Filter")),
            sort_by=sort_by,
            sequence=sequence,
            page=page,
            size=size,
        )

    def selects(self, node: SimNode) -> bool:
        if self.role is not None and not ROLE_FILTER[self.role] & set(node.roles):
            return False
        if self.host_name is not None and not re.search(self.host_name, node.host_name, re.IGNORECASE):
            return False
        if self.prefix is not None and not node.host_name.startswith(self.prefix):
            return False
        if self.suffix is not None and not node.host_name.endswith(self.suffix):
            return False
        if self.ip_address is not None and node.ip_address != self.ip_address:
            return False
        return self.status is None or node.status == self.status


def _status_filter(raw: str | None) -> str | None:
    """``Filter``: ``{"status":"<node status>"}`` (ListNodesRequest.filter); empty means no filter."""
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise invalid("Filter") from None
    if not isinstance(parsed, dict) or set(parsed) - {"status"}:
        raise invalid("Filter")
    status = parsed.get("status")
    if status in (None, ""):
        return None
    if status not in NODE_STATUSES:
        raise invalid("Filter")
    return str(status)


class NodeTable:
    """Nodes per cluster; mixed into :class:`~.state.SimState`, which supplies the lock and the clusters."""

    lock: threading.RLock

    def _nodes_of(self, cluster_id: str) -> dict[str, SimNode]:
        raise NotImplementedError  # SimState: the cluster's node dict (KeyError if unknown)

    def _region_of(self, cluster_id: str) -> str:
        raise NotImplementedError

    def add_node(
        self,
        cluster_id: str,
        host_name: str,
        *,
        status: str = "running",
        state_in_sched: str = "idle",
        roles: tuple[str, ...] | list[str] = ("Compute",),
        ip_address: str | None = None,
        node_id: str | None = None,
        **extra: Any,
    ) -> SimNode:
        """Add (or replace) a node. ``status`` must be one of ListNodes' documented values; any
        ``state_in_sched`` text is kept as is (it "varies with the scheduler")."""
        _check_status(status)
        bad = [role for role in roles if role not in NODE_ROLES]
        if bad:
            raise ValueError(f"unknown node roles {bad}; ListNodes documents {', '.join(NODE_ROLES)}")
        with self.lock:
            nodes = self._nodes_of(cluster_id)
            order = len(nodes) + 1
            existing = nodes.get(host_name)
            if existing is not None:
                order = existing.order
            stamp = f"2024-05-01T{8 + order // 3600 % 12:02d}:{order // 60 % 60:02d}:{order % 60:02d}.000Z"
            node = SimNode(
                id=node_id or (existing.id if existing else f"i-sim{order:014d}"),
                host_name=host_name,
                status=status,
                state_in_sched=state_in_sched,
                roles=tuple(roles),
                ip_address=ip_address if ip_address is not None else f"192.168.0.{order % 250 + 2}",
                add_time=existing.add_time if existing else stamp,
                order=order,
                extra={_pascal(key): value for key, value in extra.items()},
            )
            nodes[host_name] = node
            return replace(node)

    def set_node_status(
        self, cluster_id: str, host_name: str, status: str | None = None, *, state_in_sched: str | None = None
    ) -> None:
        """Change a node's ``Status`` and/or ``StateInSched`` (``KeyError`` if unknown)."""
        if status is not None:
            _check_status(status)
        with self.lock:
            node = self._nodes_of(cluster_id)[host_name]
            if status is not None:
                node.status = status
            if state_in_sched is not None:
                node.state_in_sched = state_in_sched

    def nodes(self, cluster_id: str) -> list[SimNode]:
        """Snapshot copies of a cluster's nodes, in the order they were added."""
        with self.lock:
            return [replace(node) for node in self._nodes_of(cluster_id).values()]

    def list_nodes(self, cluster_id: str, query: NodeQuery) -> tuple[int, list[dict[str, Any]]]:
        """TotalCount and one page of NodeInfo objects (the caller checked the cluster exists)."""
        with self.lock:
            region = self._region_of(cluster_id)
            selected = [node for node in self._nodes_of(cluster_id).values() if query.selects(node)]
            if query.sort_by == "HostName":
                selected.sort(key=lambda node: node.host_name)
            else:
                selected.sort(key=lambda node: node.order)
            if query.sequence == "Backward":
                selected.reverse()
            start = (query.page - 1) * query.size
            return len(selected), [node.node_info(region) for node in selected[start : start + query.size]]


def _check_status(status: str) -> None:
    if status not in NODE_STATUSES:
        raise ValueError(f"unknown node status {status!r}; ListNodes documents {', '.join(NODE_STATUSES)}")


def _pascal(name: str) -> str:
    """``lock_reason`` -> ``LockReason`` (extra NodeInfo fields given to ``add_node`` as keywords)."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


__all__ = ["NODE_STATUSES", "ApiError", "NodeQuery", "NodeTable", "SimNode"]
