"""The records a node check hands to the pipeline: a rerun request per stranded job, and its findings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ehpc_rerun.ehpc.client import JobInfo
from ehpc_rerun.ehpc.errors import EhpcCallError
from ehpc_rerun.models import Acknowledged, JobOutcome, RecordError, RerunRequest, SourceKind, Status
from ehpc_rerun.sources.base import Record

from .health import Verdict

NODE = SourceKind.EHPC_NODE
MAX_NAMED = 20  # nodes named in one message or detail


@dataclass(frozen=True)
class Target:
    """One cluster to check, and on whose behalf: a node event (its CloudEvent id) or a detector scan."""

    cluster_id: str
    region: str
    source_id: str | None  # the event's id, or scan:<invocation id>
    event_id: str | None  # exactly once per event (policy/event_memory.py); None for a scan
    trigger: str  # the event type (e.g. ehpc:NodeOperation:NodeStatusChange), or "detector scan"
    report_only: bool = False
    events: int = 1  # node events of this invocation that named the cluster


def _names(verdicts: list[Verdict]) -> str:
    shown = ", ".join(f"{v.node.host_name} ({v.node.status or 'no status'})" for v in verdicts[:MAX_NAMED])
    return shown + (f" and {len(verdicts) - MAX_NAMED} more" if len(verdicts) > MAX_NAMED else "")


def request(target: Target, job: JobInfo, hit: list[Verdict], problems: tuple[str, ...]) -> Record:
    """One request per stranded job, so that each outcome names that job's own node."""
    first = hit[0]
    detail: dict[str, Any] = {
        "node": first.node.host_name,
        "node_status": first.node.status,
        "state_in_sched": first.node.state_in_sched,
        "node_id": first.node.id,
        "trigger": target.trigger,
    }
    if len(hit) > 1:
        detail["unhealthy_nodes"] = [v.node.host_name for v in hit[:MAX_NAMED]]
    if problems:
        detail["node_list_problems"] = list(problems[:5])
    reason = f"runs on unhealthy node {first.node.host_name}: {first.why}"
    if len(hit) > 1:
        reason += f" (and {len(hit) - 1} more unhealthy node(s))"
    try:
        return RerunRequest(
            cluster_id=target.cluster_id,
            job_ids=(job.id,),
            region=target.region,
            reason=reason[:1000],
            source=NODE,
            source_id=target.source_id,
            event_id=target.event_id,
            report_only=target.report_only,
            detail=detail,
        )
    except ValidationError as exc:  # a job id we would not accept from an event either
        return RecordError(
            source=NODE,
            source_id=target.source_id,
            code="InvalidJobId",
            message=f"node check: ListJobs returned a job id that is not rerun: {exc.errors()[0]['msg']}",
            cluster_id=target.cluster_id,
            job_ids=(job.id[:128],),
        )


def unreadable(target: Target, job: JobInfo, problems: tuple[str, ...], bad: list[Verdict]) -> JobOutcome:
    """A RUNNING job whose NodeList could not be read whole: it may run on a bad node; never guessed."""
    return JobOutcome(
        cluster_id=target.cluster_id,
        job_id=job.id,
        region=target.region,
        status=Status.IGNORED,
        error_code="UnreadableNodeList",
        message=(
            f"node check: the job's NodeList could not be read whole ({problems[0]}), and none of the hosts "
            f"read is unhealthy; it may run on {_names(bad)}: not rerun (never guessed), check it by hand"
        )[:1000],
        source=NODE.value,
        source_id=target.source_id,
        detail={"node_list": job.node_list[:300], "problems": list(problems[:5]), "trigger": target.trigger},
    )


def healthy(target: Target, read: int, on_purpose: list[Verdict], settings_text: str) -> Acknowledged:
    message = f"node check ({target.trigger}): {read} node(s) read, none unhealthy ({settings_text})"
    if on_purpose:
        message += (
            f"; out of service on purpose, not counted: {_names(on_purpose)} (a stopped, released or "
            "untracked node is an operator's decision; EHPC_RERUN_UNHEALTHY_NODE_STATUSES does not list it)"
        )
    return Acknowledged(
        source=NODE, source_id=target.source_id, cluster_id=target.cluster_id, message=message
    )


def nothing_stranded(target: Target, bad: list[Verdict], running: int) -> Acknowledged:
    message = (
        f"node check ({target.trigger}): unhealthy node(s) {_names(bad)}, but none of the cluster's "
        f"{running} running job(s) lists one in its NodeList: nothing to rerun"
    )
    return Acknowledged(
        source=NODE, source_id=target.source_id, cluster_id=target.cluster_id, message=message
    )


def _ack(target: Target, message: str) -> Acknowledged:
    return Acknowledged(
        source=NODE, source_id=target.source_id, cluster_id=target.cluster_id, message=message
    )


def failed(target: Target, api: str, error: EhpcCallError, attempts: int, what: str) -> JobOutcome:
    """A cluster whose listing failed after retries: one outcome, no job (as the detector's)."""
    return JobOutcome(
        cluster_id=target.cluster_id,
        job_id=None,
        region=target.region,
        status=Status.FAILED,
        transient=error.transient,
        error_code=error.code,
        message=f"node check: {api} failed, {what}: {error.message}"[:1000],
        ehpc_request_id=error.request_id,
        attempts=attempts,
        source=NODE.value,
        source_id=target.source_id,
        detail={"trigger": target.trigger, **({"http_status": error.status} if error.status else {})},
    )


def incomplete(target: Target, api: str, read: int, total: int, unit: str) -> JobOutcome:
    """A bounded listing that did not reach the end: what it did not read was not checked."""
    return JobOutcome(
        cluster_id=target.cluster_id,
        job_id=None,
        region=target.region,
        status=Status.FAILED,
        error_code="ListingIncomplete",
        message=(
            f"node check: {api} read {read} of {total} {unit} (EHPC_RERUN_PRECHECK_MAX_PAGES bounds the "
            f"pages per cluster); the {unit} beyond them were not checked: raise the setting for this "
            "cluster's size"
        ),
        source=NODE.value,
        source_id=target.source_id,
        detail={"api": api, "read": read, "total": total, "trigger": target.trigger},
    )
