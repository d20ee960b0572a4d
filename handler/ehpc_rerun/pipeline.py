"""records -> policy -> plan -> E-HPC -> outcomes. One call per invocation; no I/O but through its ports.

Order of decisions, each giving its own status:

1. rejected records (validation) and acknowledged ones (alert back to OK) -> ``rejected`` / ``ignored``;
2. cluster deny/allow lists -> ``ignored``;
3. blast-radius cap -> every job ``capped``;
4. dedupe and budget in the shared store (atomic claim) -> ``duplicate`` / ``over_budget``;
   the store unreachable -> StateStoreUnavailable (fail closed: no call without a recorded decision);
5. dry run -> ``dry_run``;
6. E-HPC: pre-check, calls, retries -> ``rerun`` / ``not_rerunnable`` / ``failed`` / ``unknown``;
7. claims completed for ``rerun`` and ``unknown`` (no blind repeat), released for everything else, so a
   redelivery retries exactly what did not happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .deadline import Deadline
from .errors import StateStoreUnavailable
from .models import Acknowledged, JobOutcome, RecordError, RerunRequest, Status
from .outcomes import for_ack, for_error, for_job
from .plan import Job, expand, group
from .policy import cap, claims, event_memory, exactly_once, job_history, scope
from .settings import Settings
from .sinks.log import emit, utc_now_iso
from .sources.base import Record
from .state.base import StateStore

if TYPE_CHECKING:  # imported in _execute: invalid, duplicate and dry-run events never load the E-HPC layer
    from .ehpc.executor import EhpcApi
    from .ehpc.listings import Listings
    from .ehpc.retry import RetryPolicy

DONE_STATUSES = frozenset({Status.RERUN, Status.UNKNOWN})


@dataclass
class Invocation:
    """Everything one invocation needs, injected (tests swap the clock, the store, the deadline)."""

    settings: Settings
    invocation_id: str
    default_region: str
    deadline: Deadline
    store: Callable[[], StateStore]
    api_for: Callable[[str], EhpcApi]
    now_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    retry_policy: RetryPolicy | None = None
    # ListJobs listings (memo, shared snapshots) and the shared E-HPC rate limiter; built on first use
    listings: Listings | None = None

    def shared_listings(self) -> Listings:
        """This invocation's :class:`~.ehpc.listings.Listings`, built on first use (scan, pre-check,
        expired leases)."""
        if self.listings is None:
            from .ehpc.listings import for_invocation

            self.listings = for_invocation(self)
        return self.listings


@dataclass
class PipelineResult:
    outcomes: list[JobOutcome] = field(default_factory=list)
    note: str | None = None

    @property
    def transient_failures(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.status is Status.FAILED and o.transient]

    def record_problem(self, invocation_id: str, code: str, note: str) -> None:
        """Something after the decisions could not be recorded: say so in the note and in an error line."""
        self.note = f"{self.note}; {note}" if self.note else note
        emit(
            {
                "type": "ehpc_rerun.error",
                "time": utc_now_iso(),
                "invocation_id": invocation_id,
                "error_code": code,
                "message": note,
            }
        )


def process(records: Sequence[Record], inv: Invocation) -> PipelineResult:
    """Decide and act on every record; outcomes come back in the order the jobs were asked for."""
    result = _process(records, inv)
    order: dict[tuple[str | None, str | None], int] = {}
    for record in records:
        job_ids: tuple[str | None, ...] = (
            (record.job_id,) if isinstance(record, JobOutcome) else (record.job_ids or (None,))
        )
        for job_id in job_ids:
            order.setdefault((record.cluster_id, job_id), len(order))
    result.outcomes.sort(key=lambda o: order.get((o.cluster_id, o.job_id), len(order)))
    return result


def _process(records: Sequence[Record], inv: Invocation) -> PipelineResult:
    settings = inv.settings
    result = PipelineResult()
    requests: list[RerunRequest] = []
    for record in records:
        if isinstance(record, RecordError):
            result.outcomes.extend(for_error(record))
        elif isinstance(record, Acknowledged):
            result.outcomes.extend(for_ack(record))
        elif isinstance(record, JobOutcome):
            result.outcomes.append(record)
        else:
            requests.append(record)
    jobs: list[Job] = []
    for job in expand(requests, inv.default_region):
        why = scope.out_of_scope(job.cluster_id, settings)
        if why:
            result.outcomes.append(for_job(job, Status.IGNORED, message=why))
        else:
            jobs.append(job)
    note = cap.cap_note(len(jobs), settings)
    if note:
        result.note = note
        result.outcomes.extend(
            for_job(job, Status.CAPPED, error_code="BlastRadiusCap", message=note) for job in jobs
        )
        # the cap is an escalation too: it goes into each job's history (the first ones of a flood)
        job_history.remember(inv, result, jobs, limit=job_history.MAX_CAPPED_RECORDED)
        return result
    if not jobs:
        return result
    _claim_and_run(jobs, inv, result)
    return result


def _claim_and_run(jobs: list[Job], inv: Invocation, result: PipelineResult) -> None:
    """Event memory, claims (dedupe, budget), takeovers, dry run, the calls, and what they leave behind."""
    settings = inv.settings
    store = inv.store()
    memory = event_memory.recall(store, jobs, now_ms=inv.now_ms())
    jobs, already = event_memory.split_done(jobs, memory)
    result.outcomes.extend(already)
    if not jobs:
        return
    lease_ms = int((max(inv.deadline.remaining(), 1.0) + 60.0) * 1000)
    decision = claims.decide(
        jobs, store, settings, owner=inv.invocation_id, lease_ms=lease_ms, now_ms=inv.now_ms()
    )
    result.outcomes.extend(decision.outcomes)
    claimed = decision.claimed
    # Leases that may hide a sent RerunJobs keep their send stamp under our claim, and are never released
    # blindly: whoever holds them next must ask ListJobs too (policy/takeover.py).
    unresolved = exactly_once.carry_marks(store, decision.taken_over, owner=inv.invocation_id)
    watched = claimed if settings.dry_run else [job for job in claimed if job.request.report_only]
    if watched:
        _release(store, watched, unresolved, inv)
        why = "dry run (EHPC_RERUN_DRY_RUN)" if settings.dry_run else "report-only"
        result.outcomes.extend(
            for_job(job, Status.DRY_RUN, message=f"{why}: would have been rerun") for job in watched
        )
        watched_ids = {id(job) for job in watched}
        claimed = [job for job in claimed if id(job) not in watched_ids]
    recorded: list[tuple[Job, Status]] = []
    if claimed and unresolved:
        claimed, recorded = exactly_once.settle_takeovers(claimed, decision.taken_over, store, inv, result)
    if claimed:
        try:
            executed = _execute(claimed, exactly_once.marking_sends(inv, store, claimed))
        except BaseException:
            _release(store, claimed, unresolved, inv)
            raise
        result.outcomes.extend(executed)
        recorded += _settle(store, claimed, executed, inv, result)
    exactly_once.remember_events(store, memory, recorded, inv, result)
    job_history.remember(inv, result, jobs, recorded)  # for people: GET /jobs/..., ehpc-rerun history


def _release(store: StateStore, jobs: Sequence[Job], unresolved: set[str], inv: Invocation) -> None:
    keys = [job.key for job in jobs if job.key not in unresolved]
    if keys:
        store.release(keys, owner=inv.invocation_id)


def _execute(claimed: list[Job], inv: Invocation) -> list[JobOutcome]:
    from .ehpc.executor import ExecutionConfig, run_plans
    from .ehpc.retry import RetryPolicy

    settings = inv.settings
    policy = inv.retry_policy or RetryPolicy(
        max_attempts=settings.retry_max_attempts,
        base_delay_s=settings.retry_base_delay_ms / 1000,
        max_delay_s=settings.retry_max_delay_ms / 1000,
    )
    listings = inv.shared_listings()  # before the cluster threads: one object, shared by them
    config = ExecutionConfig(
        jobs_per_call=settings.jobs_per_call,
        precheck=settings.precheck,
        policy=policy,
        deadline=inv.deadline,
        max_parallel=settings.max_parallel_clusters,
        listings=listings,
        limiter=listings.limiter,
    )
    return run_plans(group(claimed), inv.api_for, config)


def _settle(
    store: StateStore, claimed: list[Job], executed: list[JobOutcome], inv: Invocation, result: PipelineResult
) -> list[tuple[Job, Status]]:
    """Complete the claims of jobs that were (or may have been) rerun; release all the others.

    Returns the completed jobs with their status (what their events did, for the event memory)."""
    keys = {(o.region, o.cluster_id, o.job_id): o.status for o in executed}
    recorded = [
        (job, status)
        for job in claimed
        if (status := keys.get((job.region, job.cluster_id, job.job_id), Status.FAILED)) in DONE_STATUSES
    ]
    done = [job.key for job, _ in recorded]
    others = [
        job.key for job in claimed if keys.get((job.region, job.cluster_id, job.job_id)) not in DONE_STATUSES
    ]
    settings = inv.settings
    try:
        if done:
            store.complete(
                done,
                owner=inv.invocation_id,
                dedupe_window_ms=settings.dedupe_window_s * 1000,
                budget_window_ms=settings.budget_window_s * 1000,
                now_ms=inv.now_ms(),
            )
        if others:
            store.release(others, owner=inv.invocation_id)
    except StateStoreUnavailable as exc:
        # The reruns happened; the leases stay in progress until they expire, which still blocks a repeat.
        note = f"reruns were made but could not be recorded in the state store: {exc.message}"
        result.record_problem(inv.invocation_id, exc.code, note)
    return recorded
