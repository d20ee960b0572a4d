"""The node check: the jobs stranded on a failed E-HPC node become rerun requests for the pipeline.

For each cluster to check (an E-HPC node event names it, :class:`~ehpc_rerun.sources.base.NodeCheck`;
or a detector scan with ``nodes``):

1. **ListNodes** (:mod:`.listing`: PageSize 100, at most ``EHPC_RERUN_PRECHECK_MAX_PAGES`` pages, a
   ``ListNodes`` quota token per call). Which nodes are unhealthy is :mod:`.health`'s decision: ``Status``
   in ``EHPC_RERUN_UNHEALTHY_NODE_STATUSES``, or (a node E-HPC still counts in service) a ``StateInSched``
   state in ``EHPC_RERUN_UNHEALTHY_SCHED_STATES``. None: one ``Acknowledged`` record saying the check ran
   (naming any node out of service on purpose), and no ListJobs call.
2. **ListJobs** through the invocation's shared :class:`~ehpc_rerun.ehpc.listings.Listings`
   (:meth:`~ehpc_rerun.ehpc.listings.Listings.get`): the memo (a detector scan of the same invocation
   left a complete listing), another instance's snapshot, or a bounded listing that the pipeline's
   pre-check then reuses -- so a node check and a pre-check of one cluster cost one listing.
3. Each RUNNING job whose ``NodeList`` (:func:`~.hostlist.parse_node_list`) names an unhealthy node, by
   HostName or IpAddress (:class:`~.health.HostIndex`), becomes a :class:`~ehpc_rerun.models.RerunRequest`
   with source ``ehpc_node``, the node event's id as ``source_id`` and ``event_id`` (none for a scan), and
   ``detail`` ``{node, node_status, state_in_sched, ...}``. A RUNNING job whose NodeList cannot be read
   whole and names no unhealthy node is reported ``ignored`` (``UnreadableNodeList``), never guessed.

Nothing here calls RerunJobs: allow/deny lists, the blast-radius cap, event memory, dedupe and budget, dry
run and the sinks are the pipeline's, as for every other record. Repeated node events for one failure are
stopped there: the same event redelivered by its event memory, a new event by the per-job claim (dedupe
window) and the rerun budget. A listing that fails is one ``failed`` record per cluster (transient ones
make the event be redelivered); one that stops at its page bound is a ``failed`` ``ListingIncomplete``
record, and what it did read is still acted on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

from ehpc_rerun.ehpc.errors import EhpcCallError
from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.models import Acknowledged
from ehpc_rerun.policy import scope
from ehpc_rerun.sinks.log import emit, utc_now_iso
from ehpc_rerun.sources.base import NodeCheck, Record

from . import records as build
from .health import HostIndex, Verdict, judge
from .hostlist import parse_node_list
from .listing import NodesApi, list_nodes
from .records import NODE, Target

if TYPE_CHECKING:
    from ehpc_rerun.ehpc.listings import Listings
    from ehpc_rerun.pipeline import Invocation

__all__ = ["Target", "node_check_records", "scan_node_records"]


def node_check_records(checks: Sequence[NodeCheck], inv: Invocation) -> list[Record]:
    """The records of an event's node checks: one check per (region, cluster), however many events."""
    targets: dict[tuple[str, str], Target] = {}
    for check in checks:
        region = check.region or inv.default_region
        key = (region, check.cluster_id)
        earlier = targets.get(key)
        if earlier is None:
            targets[key] = Target(check.cluster_id, region, check.event_id, check.event_id, check.event_type)
        else:  # the first event's identity stands for the batch (a redelivery repeats the batch)
            targets[key] = Target(
                earlier.cluster_id,
                region,
                earlier.source_id,
                earlier.event_id,
                earlier.trigger,
                events=earlier.events + 1,
            )
    return run_checks(list(targets.values()), inv)


def scan_node_records(
    clusters: Sequence[str], region: str, inv: Invocation, *, report_only: bool
) -> list[Record]:
    """The node check of a detector scan (``{"scan": {"nodes": true}}`` or EHPC_RERUN_NODE_CHECK_IN_SCAN)."""
    source_id = f"scan:{inv.invocation_id}"
    targets = [
        Target(cluster, region, source_id, None, "detector scan", report_only=report_only)
        for cluster in dict.fromkeys(clusters)
    ]
    if not targets:
        message = "node check: no cluster to check (set EHPC_RERUN_DETECTOR_CLUSTERS or clusters in a rule)"
        return [Acknowledged(source=NODE, source_id=source_id, message=message)]
    return run_checks(targets, inv)


def run_checks(targets: Sequence[Target], inv: Invocation) -> list[Record]:
    """Every target checked (in parallel on the bounded pool), records in target order."""
    records: list[Record] = []
    checkable: list[Target] = []
    for target in targets:
        why = scope.out_of_scope(target.cluster_id, inv.settings)
        if why:  # no call at all for a cluster the function may not touch
            message = f"node check ({target.trigger}): not checked: {why}"
            records.append(
                Acknowledged(
                    source=NODE, source_id=target.source_id, cluster_id=target.cluster_id, message=message
                )
            )
        else:
            checkable.append(target)
    if not checkable:
        return records
    for region in dict.fromkeys(t.region for t in checkable):
        inv.api_for(region)  # credentials are resolved before any call
    listings = inv.shared_listings()
    workers = min(inv.settings.max_parallel_clusters, len(checkable))
    if workers <= 1:
        results = [check_one(target, inv, listings) for target in checkable]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ehpc-nodes") as pool:
            results = list(pool.map(lambda target: check_one(target, inv, listings), checkable))
    return records + [record for result in results for record in result]


def check_one(target: Target, inv: Invocation, listings: Listings) -> list[Record]:
    started = time.monotonic()
    settings = inv.settings
    facts: dict[str, object] = {"cluster_id": target.cluster_id, "region": target.region}
    try:
        out = _check(target, inv, listings, facts)
    finally:
        facts["duration_ms"] = int((time.monotonic() - started) * 1000)
        emit(
            {
                "type": "ehpc_rerun.node_check",
                "time": utc_now_iso(),
                "invocation_id": inv.invocation_id,
                "trigger": target.trigger,
                "source_id": target.source_id,
                "events": target.events,
                "unhealthy_node_statuses": list(settings.unhealthy_node_statuses),
                "unhealthy_sched_states": list(settings.unhealthy_sched_states),
                **facts,
            }
        )
    return out


def _check(target: Target, inv: Invocation, listings: Listings, facts: dict[str, object]) -> list[Record]:
    settings = inv.settings
    if inv.deadline.remaining() <= 0:
        late = EhpcCallError(
            "transient", "DeadlineReached", "the invocation ran out of time before this cluster was checked"
        )
        return [build.failed(target, "ListNodes", late, 0, "the nodes were not checked")]
    api = cast("NodesApi", inv.api_for(target.region))
    try:
        nodes = list_nodes(
            api,
            target.cluster_id,
            settings.precheck_max_pages,
            limiter=listings.limiter,
            policy=listings.policy,
            deadline=inv.deadline,
        )
    except EhpcCallError as error:  # QuotaExhausted included: transient, the event is redelivered
        return [build.failed(target, "ListNodes", error, error.attempts, "the nodes were not checked")]
    except StateStoreUnavailable as exc:  # no token without the store: fail closed
        return [build.failed(target, "ListNodes", _no_token(exc), 0, "the nodes were not checked")]
    verdicts = [
        judge(n, settings.unhealthy_node_statuses, settings.unhealthy_sched_states) for n in nodes.nodes
    ]
    bad = sorted((v for v in verdicts if v.unhealthy), key=lambda v: v.node.host_name)
    on_purpose = [v for v in verdicts if v.on_purpose]
    facts.update(
        nodes=len(nodes.nodes),
        listnodes_calls=nodes.calls,
        unhealthy=[{"node": v.node.host_name, "why": v.why} for v in bad[: build.MAX_NAMED]],
        out_of_service=[v.node.host_name for v in on_purpose[: build.MAX_NAMED]],
    )
    records: list[Record] = []
    if not nodes.complete:
        records.append(build.incomplete(target, "ListNodes", len(nodes.nodes), nodes.total, "nodes"))
    if not bad:
        text = _settings_text(settings.unhealthy_node_statuses, settings.unhealthy_sched_states)
        return [*records, build.healthy(target, len(nodes.nodes), on_purpose, text)]
    return records + _stranded(target, listings, bad, facts)


def _stranded(
    target: Target, listings: Listings, bad: list[Verdict], facts: dict[str, object]
) -> list[Record]:
    what = "the jobs on unhealthy nodes are unknown"
    try:
        listing = listings.get(target.region, target.cluster_id)
    except EhpcCallError as error:
        return [build.failed(target, "ListJobs", error, error.attempts, what)]
    except StateStoreUnavailable as exc:
        return [build.failed(target, "ListJobs", _no_token(exc), 0, what)]
    index = HostIndex(bad)
    records: list[Record] = []
    if not listing.complete:
        records.append(
            build.incomplete(target, "ListJobs", len(listing.jobs), listing.total, "unfinished jobs")
        )
    running = [job for job in listing.jobs.values() if job.state == "RUNNING"]
    stranded = unreadable = 0
    for job in running:
        parsed = parse_node_list(job.node_list)
        hit = list({id(v): v for v in (index.match(host) for host in sorted(parsed.hosts)) if v}.values())
        if hit:
            records.append(build.request(target, job, hit, parsed.problems))
            stranded += 1
        elif parsed.problems:
            records.append(build.unreadable(target, job, parsed.problems, bad))
            unreadable += 1
    facts.update(
        running_jobs=len(running),
        listjobs_calls=listing.calls,
        listing_shared=listing.shared,
        stranded_jobs=stranded,
        unreadable_node_lists=unreadable,
    )
    if not stranded and not unreadable:
        records.append(build.nothing_stranded(target, bad, len(running)))
    return records


def _no_token(exc: StateStoreUnavailable) -> EhpcCallError:
    """No quota token without the store: fail closed, transient (the event is redelivered)."""
    return EhpcCallError("transient", exc.code, f"not called, no quota token: {exc.message}")


def _settings_text(statuses: Sequence[str], sched: Sequence[str]) -> str:
    return (
        f"unhealthy: Status {', '.join(statuses) or '(none)'}, or in service with StateInSched "
        f"{', '.join(sched) or '(none)'}"
    )
