"""Reports for the sink tests, built with the real models."""

from __future__ import annotations

from typing import Any

from ehpc_rerun.models import JobOutcome, Status
from ehpc_rerun.report import InvocationReport


def outcome(cluster: str | None, job: str | None, status: Status, **kw: Any) -> JobOutcome:
    return JobOutcome(cluster_id=cluster, job_id=job, status=status, source="http", **kw)


def build_report(outcomes: list[JobOutcome], **kw: Any) -> InvocationReport:
    items = tuple(outcomes)
    fields: dict[str, Any] = {
        "invocation_id": "inv-7f3a",
        "function_name": "ehpc-rerun",
        "region": "cn-hangzhou",
        "source": "http",
        "started_at": "2026-11-25T11:00:00.000Z",
        "duration_ms": 1234,
        "counts": InvocationReport.count(items),
        "most_serious": InvocationReport.worst(items),
        "needs_human": any(o.status.needs_human for o in items),
        "summary": f"{len(items)} jobs",
        "outcomes": items,
    }
    fields.update(kw)
    return InvocationReport(**fields)


def every_status_report() -> InvocationReport:
    """One job per status, over two clusters, with the details a person needs."""
    a, b = "ehpc-hz-Alpha01", "ehpc-sh-Beta02"
    return build_report(
        [
            outcome(a, "101.sched", Status.RERUN, ehpc_request_id="req-1", attempts=1),
            outcome(a, "102.sched", Status.DRY_RUN),
            outcome(a, "103.sched", Status.IGNORED, reason="alert back to OK"),
            outcome(a, "104.sched", Status.DUPLICATE, message="rerun 2 min ago by inv-1"),
            outcome(b, "201.sched", Status.NOT_RERUNNABLE, message="job is FINISHED"),
            outcome(b, "202.sched", Status.REJECTED, error_code="InvalidJobId", message="bad id"),
            outcome(b, "203.sched", Status.CAPPED, message="over the per-invocation cap"),
            outcome(a, "105.sched", Status.OVER_BUDGET, detail={"reruns_in_window": 3}),
            outcome(
                b,
                "204.sched",
                Status.FAILED,
                error_code="AgentError.Job.RerunFailure",
                message="Failed to rerun the job",
            ),
            outcome(a, "106.sched", Status.UNKNOWN, error_code="ReadTimeout", message="no answer in 10 s"),
        ],
        note="capped at EHPC_RERUN_MAX_JOBS_PER_INVOCATION=9",
    )
