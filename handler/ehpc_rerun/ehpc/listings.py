"""ListJobs(State=notfinish) listings: bounded, paid for with quota tokens, and shared.

One :class:`Listings` per invocation (``Invocation.shared_listings()``); every E-HPC listing of the
function goes through it:

* :meth:`Listings.get` -- the pre-check's listing (and the lease verification's). At most
  ``EHPC_RERUN_PRECHECK_MAX_PAGES`` pages of 50, whatever the cluster's size; ``complete`` says whether
  they were all the pages. Memoised for the invocation, and shared with every instance for
  ``EHPC_RERUN_LISTING_SNAPSHOT_S`` through the store document ``listing:<region>:<cluster>``.
* :meth:`Listings.fresh` -- a NEW listing, never a memo or a snapshot (confirming a RerunJobs call whose
  answer was lost must compare with what E-HPC shows after it); it replaces the memo and the snapshot.
* :meth:`Listings.scan` -- the detector's whole-cluster listing; memoised and snapshotted, so the
  pipeline's pre-check for the scanned clusters makes no call of its own.

Concurrent misses: the instance that misses a snapshot takes the short document ``listing-lock:...``
(compare-and-set "only if absent", ``LOCK_TTL_MS``) and lists; the others poll for its snapshot for at
most ``LOCK_WAIT_S`` (and never past their deadline), then list themselves -- so a holder that dies or
is slow costs at most one more listing each, never a stall. Every ListJobs call, retries included, first
takes a ``ListJobs`` token from the shared :class:`~.ratelimit.RateLimiter`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ehpc_rerun.deadline import Deadline
from ehpc_rerun.settings import Settings
from ehpc_rerun.state.base import DocWrite, StateStore

from .client import MAX_LIST_PAGES, JobInfo
from .errors import EhpcCallError
from .paging import read_pages
from .ratelimit import RateLimiter, quotas_from
from .retry import RetryPolicy

if TYPE_CHECKING:
    from ehpc_rerun.pipeline import Invocation

    from .executor import EhpcApi

LOCK_TTL_MS = 5_000
LOCK_WAIT_S = 3.0
POLL_S = 0.05
# A snapshot is one store document: Tablestore cells hold at most 2 MB, so a listing whose compact JSON is
# larger is cut to this size and shared as incomplete (5 pages x 50 jobs are ~40 KB; a whole 5 000-job
# cluster from a detector scan is ~0.8 MB).
MAX_SNAPSHOT_BYTES = 1_000_000
_FIELDS = ("id", "state", "owner", "name", "submit_time", "start_time", "last_modify_time", "node_list")
# v2: rows carry node_list (the node check reads it). A v1 row has no node_list, which would read as "runs
# on no node": v1 snapshots are not read (listed again), and v1 readers fail on v2 rows the same way.
SNAPSHOT_VERSION = 2


@dataclass(frozen=True)
class Listing:
    """What ListJobs(State=notfinish) showed of one cluster at ``taken_at_ms`` (the invocation's clock).

    ``complete``: every page was read, so a job that is not in ``jobs`` is not RUNNING or QUEUED.
    ``pages``: pages read to make it; ``calls``: ListJobs calls THIS invocation made for it (0 when it came
    from the memo or a snapshot); ``shared``: it came from another invocation's snapshot.
    """

    jobs: dict[str, JobInfo]
    complete: bool
    taken_at_ms: int
    pages: int
    total: int = 0
    calls: int = 0
    shared: bool = False


def list_pages(
    api: EhpcApi,
    cluster_id: str,
    max_pages: int,
    *,
    limiter: RateLimiter,
    policy: RetryPolicy,
    deadline: Deadline,
    now_ms: Callable[[], int],
) -> Listing:
    """Up to ``max_pages`` pages of ListJobs(State=notfinish), read as :func:`.paging.read_pages` says.
    Raises :class:`EhpcCallError` (``attempts`` set) when a page cannot be had."""
    taken_at = now_ms()
    read = read_pages(
        lambda page: api.list_page(cluster_id, page),
        "ListJobs",
        max_pages,
        limiter=limiter,
        policy=policy,
        deadline=deadline,
    )
    jobs: dict[str, JobInfo] = {}
    for page in read.pages:
        jobs.update((job.id, job) for job in page.jobs)
    total = read.pages[-1].total if read.pages else 0
    return Listing(jobs, read.complete, taken_at, len(read.pages), total, read.calls)


class Listings:
    """The invocation's listings: memo, shared snapshots, the rate limiter. Thread-safe."""

    def __init__(
        self,
        api_for: Callable[[str], EhpcApi],
        store_provider: Callable[[], StateStore],
        settings: Settings,
        now_ms: Callable[[], int],
        deadline: Deadline,
        limiter: RateLimiter,
        policy: RetryPolicy | None = None,
        *,
        owner: str = "",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_for = api_for
        self._store = store_provider
        self.settings = settings
        self._now_ms = now_ms
        self.deadline = deadline
        self.limiter = limiter
        self.policy = policy or policy_from(settings)
        self._owner = owner or f"{random.getrandbits(64):016x}"
        self._sleep = sleep
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, str], Listing] = {}

    # ---- the three ways in ---------------------------------------------------------------------
    def get(self, region: str, cluster_id: str) -> Listing:
        """The memo, else a live snapshot, else a bounded listing (shared as a snapshot)."""
        with self._lock:
            memo = self._memo.get((region, cluster_id))
        if memo is not None:
            return memo
        if self.settings.listing_snapshot_s <= 0:
            return self._remember(region, cluster_id, self._list(region, cluster_id, self._max_pages()))
        listing = self._shared_or_list(region, cluster_id)
        with self._lock:
            return self._memo.setdefault((region, cluster_id), listing)

    def fresh(self, region: str, cluster_id: str) -> Listing:
        """A new bounded listing, made now (never the memo or a snapshot); it replaces both."""
        listing = self._list(region, cluster_id, self._max_pages())
        self._publish(region, cluster_id, listing)
        return self._remember(region, cluster_id, listing)

    def scan(self, region: str, cluster_id: str) -> Listing:
        """The detector's listing: every page (up to MAX_LIST_PAGES), made now; memoised and shared."""
        listing = self._list(region, cluster_id, MAX_LIST_PAGES)
        if not listing.complete:
            raise EhpcCallError(
                "permanent", "TooManyJobs", f"more than {MAX_LIST_PAGES} pages of unfinished jobs", attempts=0
            )
        self._publish(region, cluster_id, listing)
        return self._remember(region, cluster_id, listing)

    # ---- helpers -------------------------------------------------------------------------------
    def _max_pages(self) -> int:
        return self.settings.precheck_max_pages

    def _list(self, region: str, cluster_id: str, max_pages: int) -> Listing:
        return list_pages(
            self._api_for(region),
            cluster_id,
            max_pages,
            limiter=self.limiter,
            policy=self.policy,
            deadline=self.deadline,
            now_ms=self._now_ms,
        )

    def _remember(self, region: str, cluster_id: str, listing: Listing) -> Listing:
        with self._lock:
            self._memo[(region, cluster_id)] = listing
        return listing

    def _publish(self, region: str, cluster_id: str, listing: Listing) -> None:
        ttl_ms = int(self.settings.listing_snapshot_s * 1000) - (self._now_ms() - listing.taken_at_ms)
        if ttl_ms <= 0:
            return  # snapshots off, or the listing is already older than a snapshot may be
        write = DocWrite(_key(region, cluster_id), encode(listing), ttl_ms, -1)
        self._store().write_docs([write], now_ms=self._now_ms())

    def _shared_or_list(self, region: str, cluster_id: str) -> Listing:
        store = self._store()
        snap_key, lock_key = _key(region, cluster_id), _lock_key(region, cluster_id)
        give_up = time.monotonic() + min(LOCK_WAIT_S, max(self.deadline.remaining() - 1.0, 0.0))
        taken = False
        while True:
            now = self._now_ms()
            docs = store.read_docs([snap_key, lock_key], now_ms=now)
            if snap_key in docs:
                shared = decode(docs[snap_key].value)
                if shared is not None:
                    return shared
            if lock_key not in docs:
                lock = DocWrite(lock_key, self._owner, LOCK_TTL_MS, None)
                taken = store.write_docs([lock], now_ms=now)[0]
                if taken:
                    break  # ours: list, publish, unlock
            if time.monotonic() >= give_up:
                break  # the holder is slow or gone: list ourselves (bounded by the limiter anyway)
            self._sleep(POLL_S)
        try:
            listing = self._list(region, cluster_id, self._max_pages())
            self._publish(region, cluster_id, listing)
        finally:
            if taken:  # ours is version 1 unless it expired and another instance took it since
                store.write_docs([DocWrite(lock_key, None, 0, 1)], now_ms=self._now_ms())
        return listing


def _key(region: str, cluster_id: str) -> str:
    return f"listing:{region}:{cluster_id}"


def _lock_key(region: str, cluster_id: str) -> str:
    return f"listing-lock:{region}:{cluster_id}"


def encode(listing: Listing, limit: int = MAX_SNAPSHOT_BYTES) -> str:
    """Compact JSON: the JobInfo fields as rows; cut (and marked incomplete) past ``limit`` bytes."""
    rows: list[str] = []
    size = 200  # the header
    for job in listing.jobs.values():
        row = json.dumps([getattr(job, name) for name in _FIELDS], ensure_ascii=False, separators=(",", ":"))
        size += len(row.encode()) + 1
        if size > limit:
            break
        rows.append(row)
    complete = listing.complete and len(rows) == len(listing.jobs)
    head = json.dumps(
        {
            "v": SNAPSHOT_VERSION,
            "at": listing.taken_at_ms,
            "complete": complete,
            "pages": listing.pages,
            "total": listing.total,
        }
    )
    return head[:-1] + ',"jobs":[' + ",".join(rows) + "]}"


def decode(value: str) -> Listing | None:
    """A snapshot document back as a Listing; None (listed again, and overwritten) if it is unreadable."""
    try:
        data = json.loads(value)
        if data.get("v") != SNAPSHOT_VERSION:
            return None
        jobs = {str(row[0]): JobInfo(*(str(item) for item in row)) for row in data["jobs"]}
        return Listing(
            jobs, bool(data["complete"]), int(data["at"]), int(data["pages"]), int(data["total"]), 0, True
        )
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def policy_from(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.retry_max_attempts,
        base_delay_s=settings.retry_base_delay_ms / 1000,
        max_delay_s=settings.retry_max_delay_ms / 1000,
    )


def for_invocation(inv: Invocation) -> Listings:
    """The Listings (and rate limiter) of one invocation, built from what the Invocation carries."""
    limiter = RateLimiter(inv.store, quotas_from(inv.settings))
    return Listings(
        inv.api_for,
        inv.store,
        inv.settings,
        inv.now_ms,
        inv.deadline,
        limiter,
        inv.retry_policy or policy_from(inv.settings),
        owner=inv.invocation_id,
    )
