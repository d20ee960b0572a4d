"""Dedupe and rerun budgets, decided atomically in the shared state store before any E-HPC call.

* a job rerun (or being rerun) within ``EHPC_RERUN_DEDUPE_WINDOW_S`` -> ``duplicate``;
* a job already rerun ``EHPC_RERUN_BUDGET_MAX_RERUNS`` times within ``EHPC_RERUN_BUDGET_WINDOW_S``
  -> ``over_budget`` (escalated to a human, like Slurm's MaxBatchRequeue ending in a hold).

The store raises StateStoreUnavailable when it cannot answer: the caller fails closed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ehpc_rerun.models import JobOutcome, Status
from ehpc_rerun.outcomes import for_job
from ehpc_rerun.plan import Job
from ehpc_rerun.settings import Settings
from ehpc_rerun.state.base import StateRecord, StateStore


@dataclass
class ClaimDecision:
    claimed: list[Job] = field(default_factory=list)
    outcomes: list[JobOutcome] = field(default_factory=list)
    # claimed jobs whose claim replaced another invocation's expired lease stamped "sent" (job.key -> it)
    taken_over: dict[str, StateRecord] = field(default_factory=dict)


def _when(record: StateRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.at_ms / 1000))


def decide(
    jobs: Sequence[Job],
    store: StateStore,
    settings: Settings,
    *,
    owner: str,
    lease_ms: int,
    now_ms: int,
) -> ClaimDecision:
    decision = ClaimDecision()
    if not jobs:
        return decision
    budget_ms = settings.budget_window_s * 1000
    details = {job.key: f"{job.request.source.value}:{job.request.source_id or '-'}" for job in jobs}
    results = store.claim(
        [job.key for job in jobs],
        owner=owner,
        detail=_common_detail(details),
        lease_ms=lease_ms,
        budget_window_ms=budget_ms,
        now_ms=now_ms,
    )
    over: list[str] = []
    for job, result in zip(jobs, results, strict=True):
        if not result.acquired:
            record = result.existing
            if record is not None and record.status == "in_progress":
                message = f"being rerun by invocation {record.owner} since {_when(record)} ({record.detail})"
            elif record is not None:
                message = (
                    f"rerun at {_when(record)} by invocation {record.owner} ({record.detail}); "
                    f"the dedupe window is {settings.dedupe_window_s} s"
                )
            else:
                message = "claimed by another invocation"
            decision.outcomes.append(for_job(job, Status.DUPLICATE, message=message))
        elif result.reruns_in_window >= settings.budget_max_reruns:
            over.append(job.key)
            decision.outcomes.append(
                for_job(
                    job,
                    Status.OVER_BUDGET,
                    error_code="RerunBudgetExhausted",
                    message=f"rerun {result.reruns_in_window} times in the last {settings.budget_window_s} s "
                    f"(budget {settings.budget_max_reruns}, EHPC_RERUN_BUDGET_MAX_RERUNS): not rerun again; "
                    "a human should look at this job",
                    detail={"reruns_in_window": result.reruns_in_window},
                )
            )
        else:
            decision.claimed.append(job)
            if result.taken_over is not None and result.taken_over.sent_ms is not None:
                decision.taken_over[job.key] = result.taken_over
    if over:
        store.release(over, owner=owner)
    return decision


def _common_detail(details: dict[str, str]) -> str:
    values = set(details.values())
    return next(iter(values)) if len(values) == 1 else "several sources"
