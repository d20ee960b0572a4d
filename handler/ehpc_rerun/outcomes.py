"""Building :class:`JobOutcome` records from jobs, errors and acknowledgements."""

from __future__ import annotations

from typing import Any

from .models import Acknowledged, JobOutcome, RecordError, Status
from .plan import Job


def for_job(job: Job, status: Status, **fields: Any) -> JobOutcome:
    request = job.request
    detail = dict(fields.pop("detail", {}) or {})
    detail.update(request.detail)
    if job.mentions > 1:
        detail["mentions"] = job.mentions
    return JobOutcome(
        cluster_id=job.cluster_id,
        job_id=job.job_id,
        region=job.region,
        status=status,
        source=request.source.value,
        source_id=request.source_id,
        reason=request.reason or None,
        rule=request.rule,
        detail=detail,
        **fields,
    )


def for_error(error: RecordError) -> list[JobOutcome]:
    """A rejected record: one outcome per job id it named (or one with no job id)."""
    detail: dict[str, Any] = {"errors": [e.model_dump() for e in error.errors]}
    if error.index is not None:
        detail["index"] = error.index
    common = {
        "cluster_id": error.cluster_id,
        "status": Status.REJECTED,
        "error_code": error.code,
        "message": error.message[:1000],
        "source": error.source.value,
        "source_id": error.source_id,
        "detail": detail,
    }
    if not error.job_ids:
        return [JobOutcome(job_id=None, **common)]
    return [JobOutcome(job_id=job_id, **common) for job_id in error.job_ids]


def for_ack(ack: Acknowledged) -> list[JobOutcome]:
    common = {
        "cluster_id": ack.cluster_id,
        "status": Status.IGNORED,
        "message": ack.message,
        "source": ack.source.value,
        "source_id": ack.source_id,
    }
    if not ack.job_ids:
        return [JobOutcome(job_id=None, **common)]
    return [JobOutcome(job_id=job_id, **common) for job_id in ack.job_ids]
