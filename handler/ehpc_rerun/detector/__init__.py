"""Stuck-job detector: timer-driven (or requested) ListJobs scans judged by rules, with report-only mode.

E-HPC publishes no job state-change event (fc-events.md §3), so the function looks for itself: for each
configured cluster ``ListJobs(State=notfinish)`` (PageSize 50, all pages; clusters in parallel on the
bounded pool), then the rules of the document (see :mod:`.rules` and docs/detector-rules.md), first match
wins. Matched jobs become :class:`~ehpc_rerun.models.RerunRequest` records with source ``detector`` and go
through the same pipeline as event records. With no rule configured the detector does nothing, and says
so (in the log once per process, in every scan's report).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ehpc_rerun.detector.rules import RuleSet, load_rules
from ehpc_rerun.models import Acknowledged, SourceKind
from ehpc_rerun.sinks.log import emit, utc_now_iso
from ehpc_rerun.sources.base import Record

if TYPE_CHECKING:
    from ehpc_rerun.pipeline import Invocation

__all__ = ["NO_RULES", "RuleSet", "load_rules", "scan_records"]

NO_RULES = (
    "no detector rules configured (EHPC_RERUN_DETECTOR_RULES / EHPC_RERUN_DETECTOR_RULES_FILE): "
    "the detector does nothing"
)
_said = threading.Event()
_said_lock = threading.Lock()


def _say_no_rules_once(invocation_id: str) -> None:
    with _said_lock:
        if _said.is_set():
            return
        _said.set()
    emit(
        {
            "type": "ehpc_rerun.detector",
            "time": utc_now_iso(),
            "invocation_id": invocation_id,
            "message": NO_RULES,
        }
    )


def scan_records(scan: dict[str, Any], inv: Invocation, rules: RuleSet | None) -> list[Record]:
    """Run one scan; the records go through :func:`ehpc_rerun.pipeline.process` like event records."""
    if rules is None or not rules.rules:
        _say_no_rules_once(inv.invocation_id)
        return [Acknowledged(source=SourceKind.DETECTOR, message=NO_RULES)]
    from ehpc_rerun.detector.scan import run

    return run(scan, inv, rules)
