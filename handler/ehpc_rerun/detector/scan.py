"""One detector scan: which rules and clusters, the listings, the verdicts -> records for the pipeline.

The records go through the same pipeline as event records (dedupe, budgets, blast-radius cap, dry run,
sinks); nothing here calls RerunJobs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from ehpc_rerun.detector import records as build
from ehpc_rerun.detector.listing import list_clusters
from ehpc_rerun.detector.match import Match, Unreadable, judge
from ehpc_rerun.detector.rules import Rule, RuleSet
from ehpc_rerun.models import CLUSTER_ID_PATTERN, Acknowledged, FieldError, RecordError, Region, SourceKind
from ehpc_rerun.policy import scope
from ehpc_rerun.settings import Settings
from ehpc_rerun.sinks.log import emit, utc_now_iso
from ehpc_rerun.sources.base import Record

if TYPE_CHECKING:
    from ehpc_rerun.pipeline import Invocation

DETECTOR = SourceKind.DETECTOR


class ScanRequest(BaseModel):
    """``{"scan": {...}}``, all keys optional: ``clusters``/``rules`` narrow, ``report_only`` only adds;
    ``nodes`` also checks the scanned clusters' nodes (nodes/check.py), or not, whatever
    EHPC_RERUN_NODE_CHECK_IN_SCAN says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clusters: list[str] | None = None
    rules: list[str] | None = None
    report_only: StrictBool = False
    region: Region | None = None
    nodes: StrictBool | None = None


@dataclass
class Plan:
    rules: list[Rule]
    clusters: list[str]
    rejected: list[Record]


def parse_request(scan: dict[str, Any], source_id: str) -> ScanRequest | RecordError:
    try:
        return ScanRequest.model_validate(scan)
    except ValidationError as exc:
        errors = [
            FieldError(field="scan." + ".".join(str(p) for p in e["loc"]), problem=str(e["msg"]))
            for e in exc.errors()[:10]
        ]
        message = "invalid scan request: " + "; ".join(f"{e.field}: {e.problem}" for e in errors)
        return build.reject("InvalidScan", message[:1000], source_id, errors)


def plan(request: ScanRequest, ruleset: RuleSet, default_clusters: Sequence[str], source_id: str) -> Plan:
    """Rules and clusters of this scan; names that are not ours are rejected one by one."""
    rejected: list[Record] = []
    rules = list(ruleset.rules)
    if request.rules:
        known = {rule.name for rule in rules}
        rejected.extend(
            build.reject("UnknownRule", f"scan.rules: no detector rule is named {name[:80]!r}", source_id)
            for name in dict.fromkeys(request.rules)
            if name not in known
        )
        rules = [rule for rule in rules if rule.name in request.rules]
    configured = list(dict.fromkeys([*default_clusters, *(c for rule in rules for c in rule.clusters)]))
    clusters = configured
    if request.clusters:
        clusters = []
        for cluster in dict.fromkeys(request.clusters):
            if not re.match(CLUSTER_ID_PATTERN, cluster):
                message = f"scan.clusters: {cluster[:80]!r} is not a cluster id (ehpc-<region code>-<id>)"
                rejected.append(build.reject("InvalidScan", message, source_id))
            elif cluster not in configured:
                message = (
                    f"scan.clusters: {cluster} is not a detector cluster (EHPC_RERUN_DETECTOR_CLUSTERS or "
                    "a rule's clusters); a scan may only narrow the configured clusters"
                )
                rejected.append(build.reject("ClusterNotScanned", message, source_id, cluster_id=cluster))
            else:
                clusters.append(cluster)
    # a cluster no selected rule covers is not listed at all
    clusters = [cluster for cluster in clusters if any(rule.covers(cluster) for rule in rules)]
    return Plan(rules, clusters, rejected)


def node_plan(
    request: ScanRequest, ruleset: RuleSet | None, settings: Settings, source_id: str
) -> tuple[list[str], list[Record]]:
    """The clusters a scan's node check covers: every detector cluster (EHPC_RERUN_DETECTOR_CLUSTERS and
    every rule's), narrowed by ``clusters``, never widened. Rejections are returned only when there is no
    rule document (with one, :func:`run` reports them, once)."""
    rules = ruleset if ruleset is not None and ruleset.rules else None
    configured = list(dict.fromkeys([*settings.detector_clusters, *(rules.clusters() if rules else ())]))
    rejected: list[Record] = []
    if rules is None and request.clusters:
        rejected = plan(request, RuleSet(rules=()), settings.detector_clusters, source_id).rejected
    if not request.clusters:
        return configured, rejected
    return [c for c in dict.fromkeys(request.clusters) if c in configured], rejected


def _ack(source_id: str, message: str, cluster_id: str | None = None) -> Acknowledged:
    return Acknowledged(source=DETECTOR, source_id=source_id, cluster_id=cluster_id, message=message)


def run(scan: dict[str, Any], inv: Invocation, ruleset: RuleSet) -> list[Record]:
    """The whole scan -> records for the pipeline."""
    started = time.monotonic()
    settings = inv.settings
    source_id = f"scan:{inv.invocation_id}"
    request = parse_request(scan, source_id)
    if isinstance(request, RecordError):
        return [request]
    scan_plan = plan(request, ruleset, settings.detector_clusters, source_id)
    records: list[Record] = list(scan_plan.rejected)
    region = request.region or inv.default_region
    listable = []
    for cluster in scan_plan.clusters:
        why = scope.out_of_scope(cluster, settings)
        if why:
            records.append(_ack(source_id, f"detector: not scanned: {why}", cluster))
        else:
            listable.append(cluster)
    if not listable:
        if not records:
            message = "detector: no cluster to scan (set EHPC_RERUN_DETECTOR_CLUSTERS or clusters in a rule)"
            records.append(_ack(source_id, message))
        return records

    inv.api_for(region)  # credentials are resolved before any call
    listings = list_clusters(listable, region, inv)
    now_ms = inv.now_ms()
    matches: dict[str, list[Match]] = {rule.name: [] for rule in scan_plan.rules}
    unreadable: list[Record] = []
    for listing in listings:
        if listing.error is not None:
            records.append(build.failed(listing, region, source_id))
            continue
        for job in listing.jobs.values():
            verdict = judge(scan_plan.rules, listing.cluster_id, job, now_ms)
            if isinstance(verdict, Match):
                matches[verdict.rule.name].append(verdict)
            elif isinstance(verdict, Unreadable):
                unreadable.append(build.unreadable(verdict, region, source_id))

    report_only = settings.detector_report_only or request.report_only
    over: list[Record] = []
    taken: dict[str, int] = {}
    for rule in scan_plan.rules:
        # the rule's cap takes the oldest first (the longest age the rule checked)
        found = sorted(matches[rule.name], key=lambda m: (-m.oldest_s, m.cluster_id, m.job.id))
        cap = rule.max_jobs_per_scan
        taken[rule.name] = min(len(found), cap)
        records.extend(build.request(m, region, source_id, report_only) for m in found[:cap])
        over.extend(build.over_cap(m, region, source_id) for m in found[cap:])
    records.extend(unreadable)
    records.extend(over)

    listed = sum(len(listing.jobs) for listing in listings)
    emit(
        {
            "type": "ehpc_rerun.detector_scan",
            "time": utc_now_iso(),
            "invocation_id": inv.invocation_id,
            "region": region,
            "clusters": listable,
            "failed_clusters": [listing.cluster_id for listing in listings if listing.error is not None],
            "unfinished_jobs": listed,
            "matched": {name: len(found) for name, found in matches.items()},
            "taken": taken,
            "unparseable_time": len(unreadable),
            "report_only": report_only,
            "duration_ms": int((time.monotonic() - started) * 1000),
        }
    )
    if not records:
        message = f"detector: scanned {len(listable)} cluster(s), {listed} unfinished job(s): no rule matched"
        records.append(_ack(source_id, message))
    return records
