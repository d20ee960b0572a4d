"""ListJobs(State=notfinish) on every scanned cluster: all pages, retries, clusters in parallel.

The paging (PageSize 50 until TotalCount, a ``ListJobs`` token from the shared rate limiter before every
call, one retry budget per listing) is :meth:`Listings.scan <ehpc_rerun.ehpc.listings.Listings.scan>`'s:
what a scan reads is memoised for the invocation and shared as a snapshot, so the pipeline's pre-check of
the scanned clusters makes no call of its own. The pool is bounded by ``EHPC_RERUN_MAX_PARALLEL_CLUSTERS``
as for RerunJobs (ehpc/executor.py). A cluster whose listing fails, after retries, is reported on its own;
the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ehpc_rerun.ehpc.client import JobInfo
from ehpc_rerun.ehpc.errors import EhpcCallError
from ehpc_rerun.errors import StateStoreUnavailable

if TYPE_CHECKING:
    from ehpc_rerun.ehpc.listings import Listings
    from ehpc_rerun.pipeline import Invocation


@dataclass
class Listing:
    """What one cluster's ListJobs pages gave (or the error), and how long that took."""

    cluster_id: str
    jobs: dict[str, JobInfo] = field(default_factory=dict)
    error: EhpcCallError | None = None
    attempts: int = 0
    seconds: float = 0.0


def list_one(cluster_id: str, region: str, inv: Invocation, listings: Listings) -> Listing:
    started = time.monotonic()
    listing = Listing(cluster_id)
    if inv.deadline.remaining() <= 0:  # a cluster not started in time is left for the next scan
        listing.error = EhpcCallError(
            "transient", "DeadlineReached", "the invocation ran out of time before this cluster was listed"
        )
        return listing
    try:
        got = listings.scan(region, cluster_id)
        listing.jobs, listing.attempts = got.jobs, got.calls
    except EhpcCallError as error:  # QuotaExhausted included: transient, the next scan lists it
        listing.error, listing.attempts = error, error.attempts
    except StateStoreUnavailable as exc:  # no token without the store: fail closed, the next scan retries
        listing.error = EhpcCallError("transient", exc.code, f"not listed: {exc.message}")
    listing.seconds = time.monotonic() - started
    return listing


def list_clusters(clusters: Sequence[str], region: str, inv: Invocation) -> list[Listing]:
    """Every cluster's unfinished jobs, in cluster order; in parallel on the bounded pool."""
    listings = inv.shared_listings()
    workers = min(inv.settings.max_parallel_clusters, len(clusters))
    if workers <= 1:
        return [list_one(cluster, region, inv, listings) for cluster in clusters]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ehpc-detector") as pool:
        return list(pool.map(lambda cluster: list_one(cluster, region, inv, listings), clusters))
