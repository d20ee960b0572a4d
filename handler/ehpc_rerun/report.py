"""The invocation report: every per-job outcome plus a summary, as sinks publish it.

Keys are stable (documented in the README under "Outcome records"); ``summary`` is for people.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .models import JobOutcome, RecordError, Status


class InvocationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["ehpc_rerun.report"] = "ehpc_rerun.report"
    version: Literal[1] = 1
    invocation_id: str
    function_name: str | None = None
    region: str | None = None
    source: str
    started_at: str
    duration_ms: int
    dry_run: bool = False
    counts: dict[str, int] = Field(default_factory=dict)
    most_serious: Status | None = None
    needs_human: bool = False
    note: str | None = None  # e.g. why the whole invocation was capped
    summary: str
    outcomes: tuple[JobOutcome, ...] = ()
    errors: tuple[RecordError, ...] = ()

    @staticmethod
    def count(outcomes: tuple[JobOutcome, ...]) -> dict[str, int]:
        counts = Counter(outcome.status.value for outcome in outcomes)
        return dict(sorted(counts.items()))

    @staticmethod
    def worst(outcomes: tuple[JobOutcome, ...]) -> Status | None:
        if not outcomes:
            return None
        return max((o.status for o in outcomes), key=lambda s: s.severity)

    def outcomes_with(self, *statuses: Status) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.status in statuses]


def build_report(
    *,
    outcomes: tuple[JobOutcome, ...],
    note: str | None,
    source: str,
    invocation_id: str,
    function_name: str | None,
    region: str | None,
    started_at: str,
    duration_ms: int,
    dry_run: bool,
) -> InvocationReport:
    """The report of one invocation, with its one-line summary for people."""
    counts = InvocationReport.count(outcomes)
    clusters = sorted({o.cluster_id for o in outcomes if o.cluster_id})
    text = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no jobs"
    where = f" on {', '.join(clusters[:3])}{' and more' if len(clusters) > 3 else ''}" if clusters else ""
    return InvocationReport(
        invocation_id=invocation_id,
        function_name=function_name,
        region=region,
        source=source,
        started_at=started_at,
        duration_ms=duration_ms,
        dry_run=dry_run,
        counts=counts,
        most_serious=InvocationReport.worst(outcomes),
        needs_human=any(o.status.needs_human for o in outcomes),
        note=note,
        summary=f"{text}{where} (from {source})",
        outcomes=outcomes,
    )
