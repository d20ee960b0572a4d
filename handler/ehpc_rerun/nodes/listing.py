"""ListNodes for the node check: bounded pages, a ``ListNodes`` quota token before every call, retries.

The same rules as ListJobs' listings (ehpc/listings.py ``list_pages``): PageSize 100 (the largest,
``NODE_PAGE_SIZE``), at most ``EHPC_RERUN_PRECHECK_MAX_PAGES`` pages per cluster per check -- the setting
that already bounds what one event may cost in ListJobs calls, so one knob bounds both listings (5 pages:
500 nodes) --, a token from the shared :class:`~ehpc_rerun.ehpc.ratelimit.RateLimiter` before every call,
retries included (``EHPC_RERUN_QUOTA_LISTNODES_PER_60S``), and one retry budget per listing. ListNodes only
reads, so a lost answer is retried like any transient failure.

Not memoised or shared between instances: a node's health is what the check is about, and one check is
one call on a cluster of up to 100 nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ehpc_rerun.deadline import Deadline
from ehpc_rerun.ehpc.client import NodeInfo, NodePage
from ehpc_rerun.ehpc.paging import read_pages
from ehpc_rerun.ehpc.ratelimit import RateLimiter
from ehpc_rerun.ehpc.retry import RetryPolicy


class NodesApi(Protocol):
    def list_nodes_page(self, cluster_id: str, page: int) -> NodePage: ...


@dataclass(frozen=True)
class NodeListing:
    """A cluster's nodes; ``complete``: every page was read; ``calls``: ListNodes calls made."""

    nodes: list[NodeInfo]
    complete: bool
    total: int
    calls: int


def list_nodes(
    api: NodesApi,
    cluster_id: str,
    max_pages: int,
    *,
    limiter: RateLimiter,
    policy: RetryPolicy,
    deadline: Deadline,
) -> NodeListing:
    """Up to ``max_pages`` pages; raises :class:`EhpcCallError` (``attempts`` set) when one cannot be had."""
    read = read_pages(
        lambda page: api.list_nodes_page(cluster_id, page),
        "ListNodes",
        max_pages,
        limiter=limiter,
        policy=policy,
        deadline=deadline,
    )
    nodes: dict[str, NodeInfo] = {}
    for page in read.pages:
        # keyed by Id (or HostName): a node that moves between pages while they are read counts once
        nodes.update((node.id or node.host_name, node) for node in page.nodes)
    total = read.pages[-1].total if read.pages else 0
    return NodeListing(list(nodes.values()), read.complete, total, read.calls)
