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

from dataclasses import dataclass, replace
from typing import Protocol

from ehpc_rerun.deadline import Deadline
from ehpc_rerun.ehpc.client import NodeInfo, NodePage
from ehpc_rerun.ehpc.errors import EhpcCallError, classify
from ehpc_rerun.ehpc.listings import readonly
from ehpc_rerun.ehpc.ratelimit import RateLimiter
from ehpc_rerun.ehpc.retry import Attempted, RetryPolicy, call_with_retry


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
    nodes: dict[str, NodeInfo] = {}
    retries_left = policy.max_attempts - 1
    calls = 0
    total = 0

    def take() -> None:
        limiter.take("ListNodes", deadline)

    for page in range(1, max_pages + 1):
        log = Attempted()

        def fetch(page: int = page) -> NodePage:
            try:
                return api.list_nodes_page(cluster_id, page)
            except Exception as exc:  # classified; nothing is swallowed
                raise readonly(classify(exc)) from None

        try:
            got = call_with_retry(
                fetch, replace(policy, max_attempts=1 + retries_left), deadline, log, before=take
            )
        except EhpcCallError as error:
            raise replace(readonly(error), attempts=calls + log.attempts) from None
        finally:
            retries_left -= len(log.errors)
        calls += log.attempts
        total = got.total
        # keyed by Id (or HostName): a node that moves between pages while they are read counts once
        nodes.update((node.id or node.host_name, node) for node in got.nodes)
        if got.last(page):
            return NodeListing(list(nodes.values()), True, total, calls)
    return NodeListing(list(nodes.values()), False, total, calls)
