"""ListJobs(State=notfinish) on every scanned cluster: all pages, retries, clusters in parallel.

Paging (PageSize 50, until TotalCount) is :meth:`EhpcClient.list_unfinished`'s; the pool is bounded by
``EHPC_RERUN_MAX_PARALLEL_CLUSTERS`` as for RerunJobs (ehpc/executor.py). A cluster whose listing fails,
after retries, is reported on its own; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ehpc_rerun.ehpc.client import JobInfo
from ehpc_rerun.ehpc.errors import EhpcCallError, classify
from ehpc_rerun.ehpc.executor import EhpcApi
from ehpc_rerun.ehpc.retry import Attempted, RetryPolicy, call_with_retry

if TYPE_CHECKING:
    from ehpc_rerun.pipeline import Invocation


@dataclass
class Listing:
    """What one cluster's ListJobs pages gave (or the error), and how long that took."""

    cluster_id: str
    jobs: dict[str, JobInfo] = field(default_factory=dict)
    error: EhpcCallError | None = None
    attempts: int = 0
    seconds: float = 0.0


def retry_policy(inv: Invocation) -> RetryPolicy:
    settings = inv.settings
    return inv.retry_policy or RetryPolicy(
        max_attempts=settings.retry_max_attempts,
        base_delay_s=settings.retry_base_delay_ms / 1000,
        max_delay_s=settings.retry_max_delay_ms / 1000,
    )


def _readonly(error: EhpcCallError) -> EhpcCallError:
    """ListJobs only reads: an answer lost in transit is a transient failure, safe to repeat."""
    if error.kind == "unknown_fate":
        return EhpcCallError("transient", error.code, error.message, error.status, error.request_id)
    if error.kind == "not_rerunnable":
        return EhpcCallError("permanent", error.code, error.message, error.status, error.request_id)
    return error


def list_one(cluster_id: str, api: EhpcApi, inv: Invocation, policy: RetryPolicy) -> Listing:
    started = time.monotonic()
    log = Attempted()
    listing = Listing(cluster_id)
    if inv.deadline.remaining() <= 0:  # a cluster not started in time is left for the next scan
        listing.error = EhpcCallError(
            "transient", "DeadlineReached", "the invocation ran out of time before this cluster was listed"
        )
        return listing

    def fetch() -> dict[str, JobInfo]:
        try:
            return api.list_unfinished(cluster_id)
        except Exception as exc:  # classified; nothing is swallowed
            raise _readonly(classify(exc)) from None

    try:
        listing.jobs = call_with_retry(fetch, policy, inv.deadline, log)
    except EhpcCallError as error:
        listing.error = _readonly(error)
    listing.attempts = log.attempts
    listing.seconds = time.monotonic() - started
    return listing


def list_clusters(clusters: Sequence[str], api: EhpcApi, inv: Invocation) -> list[Listing]:
    """Every cluster's unfinished jobs, in cluster order; in parallel on the bounded pool."""
    policy = retry_policy(inv)
    workers = min(inv.settings.max_parallel_clusters, len(clusters))
    if workers <= 1:
        return [list_one(cluster, api, inv, policy) for cluster in clusters]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ehpc-detector") as pool:
        return list(pool.map(lambda cluster: list_one(cluster, api, inv, policy), clusters))
