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
