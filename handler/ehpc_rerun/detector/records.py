"""The records a scan hands to the pipeline: rerun requests, and findings reported as they are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from ehpc_rerun.detector.listing import Listing
from ehpc_rerun.detector.match import Match, Unreadable
from ehpc_rerun.models import FieldError, JobOutcome, RecordError, RerunRequest, SourceKind, Status
from ehpc_rerun.sources.base import Record

DETECTOR = SourceKind.DETECTOR


def reject(
    code: str, message: str, source_id: str, errors: Sequence[FieldError] = (), **extra: Any
) -> RecordError:
    return RecordError(
        source=DETECTOR, source_id=source_id, code=code, message=message, errors=tuple(errors), **extra
    )


def request(match: Match, region: str, source_id: str, report_only: bool) -> Record:
    """One request per matched job, so that each outcome carries that job's own reason and ages."""
    try:
        return RerunRequest(
            cluster_id=match.cluster_id,
            job_ids=(match.job.id,),
            region=region,
            reason=match.reason,
            source=DETECTOR,
            source_id=source_id,
            rule=match.rule.name,
            report_only=report_only or match.rule.report_only,
            detail=match.detail(),
        )
    except ValidationError as exc:  # a job id we would not accept from an event either
        return reject(
            "InvalidJobId",
            f"detector: ListJobs returned a job id that is not rerun: {exc.errors()[0]['msg']}",
            source_id,
            cluster_id=match.cluster_id,
            job_ids=(match.job.id[:128],),
        )


def failed(listing: Listing, region: str, source_id: str) -> JobOutcome:
    """A cluster whose ListJobs failed after retries: one outcome, no job."""
    error = listing.error
    assert error is not None
    return JobOutcome(
        cluster_id=listing.cluster_id,
        job_id=None,
        region=region,
        status=Status.FAILED,
        transient=error.transient,
        error_code=error.code,
        message=f"detector: ListJobs failed, the cluster was not scanned: {error.message}",
        ehpc_request_id=error.request_id,
        attempts=listing.attempts,
        source=DETECTOR.value,
        source_id=source_id,
        detail={"http_status": error.status} if error.status else {},
    )


def unreadable(item: Unreadable, region: str, source_id: str) -> JobOutcome:
    shown = item.raw[:100]
    return JobOutcome(
        cluster_id=item.cluster_id,
        job_id=item.job.id,
        region=region,
        status=Status.UNPARSEABLE_TIME,
        error_code="UnparseableTime",
        message=(
            f"{item.ehpc_field} {shown!r} cannot be read as a time, so rule {item.rule.name} cannot judge "
            "the job: it is not rerun (never guessed) and no later rule is tried"
        ),
        source=DETECTOR.value,
        source_id=source_id,
        rule=item.rule.name,
        detail={"field": item.ehpc_field, "raw": shown, "state": item.job.state, **item.ages},
    )


def over_cap(match: Match, region: str, source_id: str) -> JobOutcome:
    cap = match.rule.max_jobs_per_scan
    return JobOutcome(
        cluster_id=match.cluster_id,
        job_id=match.job.id,
        region=region,
        status=Status.IGNORED,
        error_code="RuleCapReached",
        message=(
            f"over rule {match.rule.name}'s cap of {cap} job(s) per scan (max_jobs_per_scan): the oldest "
            f"{cap} were taken; this one is left for a later scan"
        ),
        source=DETECTOR.value,
        source_id=source_id,
        reason=match.reason,
        rule=match.rule.name,
        detail=match.detail(),
    )
