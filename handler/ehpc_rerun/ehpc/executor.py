"""Run the plan against E-HPC: pre-check, chunked RerunJobs calls, retries, isolation, confirmation.

Per cluster:

1. **Pre-check** (``EHPC_RERUN_PRECHECK``, on by default): the cluster's listing from
   :meth:`Listings.get <ehpc_rerun.ehpc.listings.Listings.get>` -- at most ``EHPC_RERUN_PRECHECK_MAX_PAGES``
   pages of ``ListJobs(State=notfinish)``, or the invocation's memo, or another instance's snapshot. A job
   it shows in another state, or that a COMPLETE listing does not show, gets ``not_rerunnable`` without a
   RerunJobs call. A job an incomplete listing did not reach goes to RerunJobs: E-HPC decides (step 3).
2. **Calls** of at most ``EHPC_RERUN_JOBS_PER_CALL`` jobs, transient failures retried (see retry.py); each
   attempt first takes a ``RerunJobs`` token from the shared rate limiter (ratelimit.py): an empty bucket
   is waited for while the deadline allows, else the jobs fail transiently with ``QuotaExhausted`` (not
   sent); the store unreachable fails them with ``StateStoreUnavailable`` (not sent: fail closed).
3. **Isolation**: a call rejected as a whole with 406 ``AgentError.Job.RerunFailure`` is split in halves
   until the offending jobs stand alone; the others are rerun.
4. **Unknown fate** (the answer was lost after the request was sent): never repeated blindly. Once every
   chunk of the cluster was sent, ONE fresh listing (:meth:`Listings.fresh`, never a snapshot) confirms all
   such chunks: a job whose state, start time or last-modify time changed since the pre-check is reported
   ``rerun`` (confirmed); any other is ``unknown`` -- with ``Async=True`` a rerun accepted by E-HPC may not
   show yet, so ListJobs can confirm a rerun but never prove it did not happen.

Clusters run in parallel on a bounded pool (``EHPC_RERUN_MAX_PARALLEL_CLUSTERS``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from ehpc_rerun.deadline import Deadline
from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.models import JobOutcome, Status
from ehpc_rerun.outcomes import for_job
from ehpc_rerun.plan import ClusterPlan, Job

from .client import JobInfo, JobPage
from .errors import EhpcCallError
from .listings import Listing, Listings
from .ratelimit import RateLimiter
from .retry import Attempted, RetryPolicy, call_with_retry


class EhpcApi(Protocol):
    region: str

    def rerun_jobs(self, cluster_id: str, job_ids: Sequence[str]) -> str: ...

    def list_page(self, cluster_id: str, page: int, *, owner: str | None = None) -> JobPage: ...


@dataclass(frozen=True)
class ExecutionConfig:
    jobs_per_call: int
    precheck: bool
    policy: RetryPolicy
    deadline: Deadline
    max_parallel: int
    listings: Listings
    limiter: RateLimiter


def run_plans(
    plans: Sequence[ClusterPlan], api_for: Callable[[str], EhpcApi], config: ExecutionConfig
) -> list[JobOutcome]:
    """Run every cluster's plan; clusters in parallel, results in plan order."""
    apis = [api_for(plan.region) for plan in plans]  # credentials are resolved before any call
    if len(plans) == 1 or config.max_parallel == 1:
        return [o for plan, api in zip(plans, apis, strict=True) for o in _guarded(plan, api, config)]
    workers = min(config.max_parallel, len(plans))
    # The first attempt of every call, in one store round trip (not one per parallel call)
    config.limiter.prefetch("RerunJobs", sum(len(p.chunks(config.jobs_per_call)) for p in plans))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ehpc-cluster") as pool:
        futures = [pool.submit(_guarded, plan, api, config) for plan, api in zip(plans, apis, strict=True)]
        return [o for future in futures for o in future.result()]


def _guarded(plan: ClusterPlan, api: EhpcApi, config: ExecutionConfig) -> list[JobOutcome]:
    """One cluster's run; a bug in it must not discard the other clusters' results.

    Whatever was sent before the failure may have happened, so the cluster's jobs are reported ``unknown``
    (their claims are kept: never repeated blindly), like a call whose answer was lost.
    """
    try:
        return run_cluster(plan, api, config)
    except Exception as exc:  # classified below: reported per job, not swallowed
        message = (
            f"internal error while rerunning on this cluster ({type(exc).__name__}: {str(exc)[:200]}); "
            "the jobs may have been rerun: check them in the E-HPC console"
        )
        return [
            for_job(job, Status.UNKNOWN, error_code="InternalError", message=message) for job in plan.jobs
        ]


def _failed(job: Job, error: EhpcCallError, attempts: int, status: Status = Status.FAILED) -> JobOutcome:
    return for_job(
        job,
        status,
        error_code=error.code,
        message=error.message,
        transient=error.transient,
        attempts=attempts,
        detail={"http_status": error.status} if error.status else {},
    )


def _store_down(job: Job, exc: StateStoreUnavailable) -> JobOutcome:
    return for_job(
        job,
        Status.FAILED,
        error_code=exc.code,
        message=f"not sent: the rate limiter's state store is unreachable ({exc.message})",
        transient=True,
    )


def _not_rerunnable(job: Job, info: JobInfo | None, listing: Listing) -> JobOutcome:
    state = info.state if info else "not RUNNING or QUEUED (finished or unknown)"
    return for_job(
        job,
        Status.NOT_RERUNNABLE,
        error_code="JobNotRerunnable",
        message=f"job state is {state}; only RUNNING or QUEUED jobs can be rerun",
        detail={"checked_by": "ListJobs", "listing_pages": listing.pages, "shared_listing": listing.shared},
    )


@dataclass
class _Lost:
    chunk: list[Job]
    error: EhpcCallError
    attempts: int


def run_cluster(plan: ClusterPlan, api: EhpcApi, config: ExecutionConfig) -> list[JobOutcome]:
    outcomes: list[JobOutcome] = []
    listing: Listing | None = None
    jobs = plan.jobs
    if config.precheck:
        try:
            listing = config.listings.get(plan.region, plan.cluster_id)
        except EhpcCallError as error:
            return [_failed(job, error, error.attempts) for job in jobs]
        except StateStoreUnavailable as exc:
            return [_store_down(job, exc) for job in jobs]
        seen, unseen = [], []
        for job in jobs:
            info = listing.jobs.get(job.job_id)
            if info is None and not listing.complete:
                unseen.append(job)  # beyond the pages read: RerunJobs' own 406 decides
            elif info is None or info.state not in ("RUNNING", "QUEUED"):
                outcomes.append(_not_rerunnable(job, info, listing))
            else:
                seen.append(job)
        # the jobs the listing showed running go out first, in chunks of their own: a refused job among the
        # unseen ones then splits only the chunks of unseen jobs
        jobs = seen + unseen
    lost: list[_Lost] = []
    chunked = ClusterPlan(plan.region, plan.cluster_id, jobs)
    for chunk in chunked.chunks(config.jobs_per_call):
        outcomes.extend(_rerun(api, plan.cluster_id, chunk, config, lost))
    if lost:
        outcomes.extend(_confirm(plan, listing, lost, config))
    return outcomes


def _rerun(
    api: EhpcApi, cluster_id: str, chunk: list[Job], config: ExecutionConfig, lost: list[_Lost]
) -> list[JobOutcome]:
    log = Attempted()
    ids = [job.job_id for job in chunk]
    try:
        request_id = call_with_retry(
            lambda: api.rerun_jobs(cluster_id, ids),
            config.policy,
            config.deadline,
            log,
            before=lambda: config.limiter.take("RerunJobs", config.deadline),
        )
    except StateStoreUnavailable as exc:
        return [_store_down(job, exc) for job in chunk]
    except EhpcCallError as error:
        if error.kind == "not_rerunnable":
            if len(chunk) == 1:
                return [_failed(chunk[0], error, log.attempts, Status.NOT_RERUNNABLE)]
            middle = len(chunk) // 2
            left = _rerun(api, cluster_id, chunk[:middle], config, lost)
            return left + _rerun(api, cluster_id, chunk[middle:], config, lost)
        if error.kind == "unknown_fate":
            lost.append(_Lost(chunk, error, log.attempts))  # confirmed once the cluster's calls are done
            return []
        return [_failed(job, error, log.attempts) for job in chunk]
    detail = {"retried_errors": [e.code for e in log.errors]} if log.errors else {}
    return [
        for_job(job, Status.RERUN, ehpc_request_id=request_id or None, attempts=log.attempts, detail=detail)
        for job in chunk
    ]


_UNKNOWN = "the answer to RerunJobs was lost ({}); not repeated, because the rerun may have happened: {}"


def _confirm(
    plan: ClusterPlan, before: Listing | None, lost: list[_Lost], config: ExecutionConfig
) -> list[JobOutcome]:
    """One fresh listing (made after every call of the cluster) confirms every chunk whose answer was lost."""
    now: Listing | None = None
    why = "ListJobs shows no change yet; check the job before rerunning it"
    if before is None:
        why = "check the job in the E-HPC console (pre-check is off, so ListJobs could not confirm)"
    else:
        try:
            now = config.listings.fresh(plan.region, plan.cluster_id)
        except (EhpcCallError, StateStoreUnavailable) as exc:
            why = f"ListJobs could not confirm ({exc}); check the job before rerunning it"
    outcomes = []
    for item in lost:
        for job in item.chunk:
            old = before.jobs.get(job.job_id) if before is not None else None
            new = now.jobs.get(job.job_id) if now is not None else None
            if old is not None and new is not None and new.fingerprint() != old.fingerprint():
                detail = {"confirmed_by": "ListJobs", "lost_answer": item.error.code}
                outcomes.append(for_job(job, Status.RERUN, attempts=item.attempts, detail=detail))
            else:
                message = _UNKNOWN.format(item.error.code, why)
                outcomes.append(
                    for_job(
                        job,
                        Status.UNKNOWN,
                        error_code=item.error.code,
                        message=message,
                        attempts=item.attempts,
                    )
                )
    return outcomes
