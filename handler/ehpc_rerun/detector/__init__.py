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
    """Run one scan; the records go through :func:`ehpc_rerun.pipeline.process` like event records.

    With ``{"scan": {"nodes": true}}`` or EHPC_RERUN_NODE_CHECK_IN_SCAN the scan's clusters' nodes are
    checked too (nodes/check.py), after the rules: the rules' complete listings are then the node check's
    (the invocation's memo), at no extra ListJobs call. The node check runs without rules as well."""
    if rules is None or not rules.rules:
        _say_no_rules_once(inv.invocation_id)
        records: list[Record] = [Acknowledged(source=SourceKind.DETECTOR, message=NO_RULES)]
    else:
        from ehpc_rerun.detector.scan import run

        records = run(scan, inv, rules)
    return records + _node_records(scan, inv, rules)


def _node_records(scan: dict[str, Any], inv: Invocation, rules: RuleSet | None) -> list[Record]:
    asked = scan.get("nodes") if isinstance(scan, dict) else None
    if asked is False or (asked is None and not inv.settings.node_check_in_scan):
        return []
    from ehpc_rerun.detector.scan import node_plan, parse_request
    from ehpc_rerun.models import RecordError

    source_id = f"scan:{inv.invocation_id}"
    request = parse_request(scan, source_id)
    if isinstance(request, RecordError):  # run() reported it when there are rules
        return [] if rules is not None and rules.rules else [request]
    if request.nodes is False:  # pragma: no cover - handled above; kept for a non-dict ``scan``
        return []
    clusters, rejected = node_plan(request, rules, inv.settings, source_id)
    from ehpc_rerun.nodes.check import scan_node_records

    report_only = inv.settings.detector_report_only or request.report_only
    region = request.region or inv.default_region
    return rejected + scan_node_records(clusters, region, inv, report_only=report_only)
