"""An expired lease whose RerunJobs may have been sent: find out, never repeat blindly.

An instance that dies after sending RerunJobs leaves its in-progress lease behind, stamped with when the
call went out (``StateStore.mark_sent``). When the lease expires, the next claim of the job takes it over
and reports it (``ClaimResult.taken_over``). If the old lease was never stamped, no call had been sent (the
instance died during the pre-check, say): the job is handled as usual. Otherwise ListJobs decides:

* the job's start or last-modify time is at or after the send (within ``CLOCK_TOLERANCE_MS``): the rerun
  happened -> ``duplicate`` (confirmed by ListJobs), recorded as a rerun of the job (budget counts it);
* the job is no longer unfinished (a complete listing does not show it): it finished, whether or not the
  rerun ran -> ``not_rerunnable``, recorded as a rerun (a conservative budget);
* unchanged, and the send is at least ``EHPC_RERUN_UNCHANGED_AFTER_SEND_S`` (default 300 s) old: the call
  did not happen -> the job goes ahead as a fresh claim. Why 300 s: with ``Async=True`` E-HPC answers once
  the rerun is queued and its cluster agent requeues the job through the scheduler, which changes the job's
  start or modify time; that takes seconds, not minutes (UNVERIFIED: E-HPC documents no bound), and five
  minutes leave a wide margin while staying below the 10-minute repeat of a typical alert;
* unchanged but the send is more recent, or the bounded listing did not show the job -> ``unknown``:
  recorded as done for the dedupe window (the unknown-outcome rule) and escalated;
* ListJobs itself failing -> ``failed`` (transient): the lease, carrying the old send stamp, is left to
  expire, so the next delivery asks again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ehpc_rerun.models import JobOutcome, Status
from ehpc_rerun.outcomes import for_job
from ehpc_rerun.plan import Job
from ehpc_rerun.state.base import StateRecord

if TYPE_CHECKING:
    from ehpc_rerun.ehpc.client import JobInfo

# E-HPC's clock and ours are both NTP-synchronised; its times have one-second resolution.
CLOCK_TOLERANCE_MS = 5_000


class SeenJobs(Protocol):
    """What one listing of a cluster showed: its unfinished jobs, and whether every page was read."""

    @property
    def jobs(self) -> Mapping[str, JobInfo]: ...

    @property
    def complete(self) -> bool: ...


Lister = Callable[[str, str], SeenJobs]  # (region, cluster_id) -> listing; raises EhpcCallError


@dataclass
class TakeoverDecision:
    proceed: list[Job] = field(default_factory=list)  # verified not rerun: call as usual
    outcomes: list[JobOutcome] = field(default_factory=list)
    complete: list[tuple[Job, Status]] = field(default_factory=list)  # record as (maybe) rerun
    keep: list[Job] = field(default_factory=list)  # unverifiable now: leave the lease to expire


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _changed_ms(info: JobInfo) -> int | None:
    from ehpc_rerun.detector.times import parse_time

    stamps = [parse_time(raw) for raw in (info.start_time, info.last_modify_time)]
    known = [int(stamp.timestamp() * 1000) for stamp in stamps if stamp is not None]
    return max(known) if known else None


def resolve(
    suspects: Sequence[tuple[Job, StateRecord]], lister: Lister, *, now_ms: int, settle_s: int
) -> TakeoverDecision:
    from ehpc_rerun.ehpc.errors import EhpcCallError

    decision = TakeoverDecision()
    by_cluster: dict[tuple[str, str], list[tuple[Job, StateRecord]]] = {}
    for job, record in suspects:
        by_cluster.setdefault((job.region, job.cluster_id), []).append((job, record))
    for (region, cluster_id), members in by_cluster.items():
        try:
            listing = lister(region, cluster_id)
        except EhpcCallError as error:
            for job, record in members:
                decision.keep.append(job)
                decision.outcomes.append(
                    for_job(
                        job,
                        Status.FAILED,
                        error_code=error.code,
                        transient=True,
                        message=f"RerunJobs may have been sent for this job by invocation {record.owner} at "
                        f"{_when(record.sent_ms or 0)}, and ListJobs failed ({error.message[:200]}), so "
                        "whether it happened is unknown: left for redelivery, not repeated blindly",
                    )
                )
            continue
        for job, record in members:
            _decide(job, record, listing, decision, now_ms=now_ms, settle_s=settle_s)
    return decision


def _decide(
    job: Job,
    record: StateRecord,
    listing: SeenJobs,
    decision: TakeoverDecision,
    *,
    now_ms: int,
    settle_s: int,
) -> None:
    sent_ms = record.sent_ms or 0
    earlier = f"RerunJobs was sent by invocation {record.owner} at {_when(sent_ms)}"
    stopped = f"{earlier} (its instance stopped before recording it)"
    detail = {"taken_over_from": record.owner, "sent_at": _when(sent_ms), "checked_by": "ListJobs"}
    info = listing.jobs.get(job.job_id)
    if info is None:
        if listing.complete:
            status, code = Status.NOT_RERUNNABLE, "JobNotRerunnable"
            message = f"{stopped}; the job is no longer running or queued"
        else:
            status, code = Status.UNKNOWN, "RerunMaybeSent"
            message = (
                f"{stopped}; ListJobs' bounded listing did not show the job, so whether it was rerun is "
                "unknown: not repeated, check the job in the E-HPC console"
            )
        decision.outcomes.append(for_job(job, status, error_code=code, message=message, detail=detail))
        decision.complete.append((job, status))
        return
    changed = _changed_ms(info)
    if changed is not None and changed >= sent_ms - CLOCK_TOLERANCE_MS:
        decision.outcomes.append(
            for_job(
                job,
                Status.DUPLICATE,
                message=f"{stopped}; ListJobs confirms the rerun happened (the job changed at "
                f"{_when(changed)})",
                detail={**detail, "confirmed_by": "ListJobs"},
            )
        )
        decision.complete.append((job, Status.RERUN))
        return
    if now_ms - sent_ms >= settle_s * 1000:
        decision.proceed.append(job)
        return
    decision.outcomes.append(
        for_job(
            job,
            Status.UNKNOWN,
            error_code="RerunMaybeSent",
            message=f"{stopped}; ListJobs shows no change yet, and an Async rerun may take a while to "
            f"show: not repeated until {settle_s} s after the send "
            "(EHPC_RERUN_UNCHANGED_AFTER_SEND_S); check the job in the E-HPC console",
            detail=detail,
        )
    )
    decision.complete.append((job, Status.UNKNOWN))
