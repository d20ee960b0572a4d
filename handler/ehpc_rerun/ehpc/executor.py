"""Run the plan against E-HPC: pre-check, chunked RerunJobs calls, retries, isolation, confirmation.

Per cluster:

1. **Pre-check** (``EHPC_RERUN_PRECHECK``, on by default): ``ListJobs(State=notfinish)`` over all pages;
   a job that is not RUNNING or QUEUED gets ``not_rerunnable`` without a RerunJobs call.
2. **Calls** of at most ``EHPC_RERUN_JOBS_PER_CALL`` jobs, transient failures retried (see retry.py).
3. **Isolation**: a call rejected as a whole with 406 ``AgentError.Job.RerunFailure`` is split in halves
   until the offending jobs stand alone; the others are rerun.
4. **Unknown fate** (the answer was lost after the request was sent): never repeated blindly. ListJobs
   is asked; a job whose state, start time or last-modify time changed since the pre-check is reported
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
from ehpc_rerun.models import JobOutcome, Status
from ehpc_rerun.outcomes import for_job
from ehpc_rerun.plan import ClusterPlan, Job

from .client import JobInfo
from .errors import EhpcCallError
from .retry import Attempted, RetryPolicy, call_with_retry


class EhpcApi(Protocol):
    region: str

    def rerun_jobs(self, cluster_id: str, job_ids: Sequence[str]) -> str: ...

    def list_unfinished(self, cluster_id: str, *, owner: str | None = None) -> dict[str, JobInfo]: ...


@dataclass(frozen=True)
class ExecutionConfig:
    jobs_per_call: int
    precheck: bool
    policy: RetryPolicy
    deadline: Deadline
    max_parallel: int


def run_plans(
    plans: Sequence[ClusterPlan], api_for: Callable[[str], EhpcApi], config: ExecutionConfig
) -> list[JobOutcome]:
    """Run every cluster's plan; clusters in parallel, results in plan order."""
    apis = [api_for(plan.region) for plan in plans]  # credentials are resolved before any call
    if len(plans) == 1 or config.max_parallel == 1:
        return [o for plan, api in zip(plans, apis, strict=True) for o in _guarded(plan, api, config)]
    workers = min(config.max_parallel, len(plans))
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


def run_cluster(plan: ClusterPlan, api: EhpcApi, config: ExecutionConfig) -> list[JobOutcome]:
    outcomes: list[JobOutcome] = []
    snapshot: dict[str, JobInfo] | None = None
    jobs = plan.jobs
    if config.precheck:
        log = Attempted()
        try:
            snapshot = call_with_retry(
                lambda: api.list_unfinished(plan.cluster_id), config.policy, config.deadline, log
            )
        except EhpcCallError as error:
            error = _idempotent(error)
            return [_failed(job, error, log.attempts) for job in jobs]
        runnable = []
        for job in jobs:
            info = snapshot.get(job.job_id)
            if info is None or info.state not in ("RUNNING", "QUEUED"):
                state = info.state if info else "not RUNNING or QUEUED (finished or unknown)"
                outcomes.append(
                    for_job(
                        job,
                        Status.NOT_RERUNNABLE,
                        error_code="JobNotRerunnable",
                        message=f"job state is {state}; only RUNNING or QUEUED jobs can be rerun",
                        detail={"checked_by": "ListJobs"},
                    )
                )
            else:
                runnable.append(job)
        jobs = runnable
    chunked = ClusterPlan(plan.region, plan.cluster_id, jobs)
    for chunk in chunked.chunks(config.jobs_per_call):
        outcomes.extend(_rerun(api, plan.cluster_id, chunk, snapshot, config))
    return outcomes


def _idempotent(error: EhpcCallError) -> EhpcCallError:
    """ListJobs only reads: a lost answer is just a transient failure."""
    if error.kind == "unknown_fate":
        return EhpcCallError("transient", error.code, error.message, error.status, error.request_id)
    return error


def _rerun(
    api: EhpcApi,
    cluster_id: str,
    chunk: list[Job],
    snapshot: dict[str, JobInfo] | None,
    config: ExecutionConfig,
) -> list[JobOutcome]:
    log = Attempted()
    ids = [job.job_id for job in chunk]
    try:
        request_id = call_with_retry(
            lambda: api.rerun_jobs(cluster_id, ids), config.policy, config.deadline, log
        )
    except EhpcCallError as error:
        if error.kind == "not_rerunnable":
            if len(chunk) == 1:
                return [_failed(chunk[0], error, log.attempts, Status.NOT_RERUNNABLE)]
            middle = len(chunk) // 2
            left = _rerun(api, cluster_id, chunk[:middle], snapshot, config)
            return left + _rerun(api, cluster_id, chunk[middle:], snapshot, config)
        if error.kind == "unknown_fate":
            return _confirm(api, cluster_id, chunk, snapshot, error, log.attempts, config)
        return [_failed(job, error, log.attempts) for job in chunk]
    detail = {"retried_errors": [e.code for e in log.errors]} if log.errors else {}
    return [
        for_job(job, Status.RERUN, ehpc_request_id=request_id or None, attempts=log.attempts, detail=detail)
        for job in chunk
    ]


def _confirm(
    api: EhpcApi,
    cluster_id: str,
    chunk: list[Job],
    snapshot: dict[str, JobInfo] | None,
    error: EhpcCallError,
    attempts: int,
    config: ExecutionConfig,
) -> list[JobOutcome]:
    unknown = "the answer to RerunJobs was lost ({}); not repeated, because the rerun may have happened: {}"
    if snapshot is None:
        message = unknown.format(
            error.code, "check the job in the E-HPC console (pre-check is off, so ListJobs could not confirm)"
        )
        return [
            for_job(j, Status.UNKNOWN, error_code=error.code, message=message, attempts=attempts)
            for j in chunk
        ]
    try:
        now = call_with_retry(
            lambda: api.list_unfinished(cluster_id), config.policy, config.deadline, Attempted()
        )
    except EhpcCallError:
        now = None
    outcomes = []
    for job in chunk:
        before = snapshot.get(job.job_id)
        after = now.get(job.job_id) if now is not None else None
        if before is not None and after is not None and after.fingerprint() != before.fingerprint():
            outcomes.append(
                for_job(
                    job,
                    Status.RERUN,
                    attempts=attempts,
                    detail={"confirmed_by": "ListJobs", "lost_answer": error.code},
                )
            )
        else:
            message = unknown.format(
                error.code, "ListJobs shows no change yet; check the job before rerunning it"
            )
            outcomes.append(
                for_job(job, Status.UNKNOWN, error_code=error.code, message=message, attempts=attempts)
            )
    return outcomes
