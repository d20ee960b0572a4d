"""Render an :class:`InvocationReport` for people (markdown) and for machines (JSON).

* :func:`render_markdown` -- a short DingTalk-ready text: a headline with the most serious status
  and the counts, then per cluster the jobs grouped by status (most serious first) with the error
  code or reason, then one "what to do next" line per status that needs a human. Bounded: the job
  listing is cut with "… and N more" so the whole text stays under ``max_chars`` (DingTalk takes
  about 20 000); the headline and the next steps are never cut.
* :func:`report_json` -- the stable JSON body, exactly ``report.model_dump(mode="json")``.
* :func:`report_json_bytes` -- that body as compact UTF-8 JSON, trimmed to ``max_bytes`` for sinks
  with a size limit (MNS 64 KB, EventBridge 64 KB per event). Only when it does not fit: outcomes
  are kept most serious first, the rest dropped, and ``"outcomes_truncated": <dropped>`` is added
  (``counts`` always describe every job).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ehpc_rerun.models import HUMAN_STATUSES, JobOutcome, Status
from ehpc_rerun.report import InvocationReport

MAX_MARKDOWN_CHARS = 18_000  # DingTalk markdown limit is ~20 000 characters; keep a margin
_LIST_CHUNK = 20  # ids per line for statuses that need nobody
_NAMED_PER_STEP = 5  # jobs named in one "what to do next" line
_CLIP = 160

# Most serious first; ties keep the enum order (failed before unknown, capped before over_budget).
STATUS_ORDER: tuple[Status, ...] = tuple(sorted(Status, key=lambda s: (-s.severity, list(Status).index(s))))


def most_serious(report: InvocationReport) -> Status | None:
    return report.most_serious or InvocationReport.worst(report.outcomes)


def counts(report: InvocationReport) -> dict[str, int]:
    return report.counts or InvocationReport.count(report.outcomes)


def report_json(report: InvocationReport) -> dict[str, Any]:
    return report.model_dump(mode="json")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def report_json_bytes(report: InvocationReport, max_bytes: int | None = None) -> bytes:
    """Compact JSON of :func:`report_json`; trimmed (see module doc) only if over ``max_bytes``."""
    body = report_json(report)
    whole = _dumps(body)
    if max_bytes is None or len(whole) <= max_bytes:
        return whole
    rank = {status.value: i for i, status in enumerate(STATUS_ORDER)}
    outcomes: list[dict[str, Any]] = sorted(body["outcomes"], key=lambda o: rank.get(o["status"], 99))
    errors: list[dict[str, Any]] = list(body["errors"])
    base = dict(body, outcomes=[], errors=[], outcomes_truncated=len(outcomes), errors_truncated=len(errors))
    budget = max_bytes - len(_dumps(base)) - 16  # room for the grown counters
    kept_outcomes: list[dict[str, Any]] = []
    kept_errors: list[dict[str, Any]] = []
    for kept, items in ((kept_outcomes, outcomes), (kept_errors, errors)):
        for item in items:
            size = len(_dumps(item)) + 1
            if size > budget:
                break
            kept.append(item)
            budget -= size
    trimmed = dict(body, outcomes=kept_outcomes, errors=kept_errors)
    trimmed["outcomes_truncated"] = len(outcomes) - len(kept_outcomes)
    if len(errors) > len(kept_errors):
        trimmed["errors_truncated"] = len(errors) - len(kept_errors)
    return _dumps(trimmed)


# --- markdown --------------------------------------------------------------------------------------


def _clean(text: str, limit: int = _CLIP) -> str:
    """One line, no backticks (they would break the code spans), clipped."""
    flat = " ".join(text.replace("`", "'").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _code(text: str | None) -> str:
    return f"`{_clean(text or '-', 80)}`"


def one_line(text: str, limit: int = _CLIP) -> str:
    """``text`` as one clipped line without backticks (public for the digest)."""
    return _clean(text, limit)


def inline_code(text: str | None) -> str:
    """``text`` as a markdown code span (public for the digest)."""
    return _code(text)


def _why(outcome: JobOutcome) -> str:
    parts = [p for p in (outcome.error_code, outcome.message or outcome.reason) if p]
    reruns = _reruns(outcome) if outcome.status is Status.OVER_BUDGET else None
    if reruns is not None:
        parts.append(f"rerun {reruns} times in the window")
    return _clean(": ".join(parts)) if parts else ""


def _job(outcome: JobOutcome) -> str:
    name = _code(outcome.job_id) if outcome.job_id else "a record"
    return f"{name} on {_code(outcome.cluster_id)}" if outcome.cluster_id else name


def _reruns(outcome: JobOutcome) -> int | None:
    for key in ("reruns_in_window", "reruns"):
        value = outcome.detail.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _named(outcomes: Sequence[JobOutcome], fmt: Callable[[JobOutcome], str]) -> str:
    names = [fmt(o) for o in outcomes[:_NAMED_PER_STEP]]
    more = len(outcomes) - len(names)
    return ", ".join(names) + (f" and {more} more" if more else "")


def _over_budget(outcomes: Sequence[JobOutcome], note: str | None) -> str:
    if len(outcomes) == 1:
        n = _reruns(outcomes[0])
        times = f"{n} times" if n is not None else "up to its budget"
        return (
            f"job {_job(outcomes[0])} was rerun {times} in the window; "
            "look at it before raising EHPC_RERUN_BUDGET_MAX_RERUNS."
        )

    def fmt(o: JobOutcome) -> str:
        n = _reruns(o)
        return _job(o) + (f" ({n} reruns)" if n is not None else "")

    return (
        f"jobs {_named(outcomes, fmt)} were rerun up to their budget in the window; "
        "look at them before raising EHPC_RERUN_BUDGET_MAX_RERUNS."
    )


def _capped(outcomes: Sequence[JobOutcome], note: str | None) -> str:
    why = f" ({_clean(note)})" if note else ""
    return (
        f"{_named(outcomes, _job)} {'was' if len(outcomes) == 1 else 'were'} not rerun: the invocation hit "
        f"the blast-radius cap EHPC_RERUN_MAX_JOBS_PER_INVOCATION{why}; find out why so many jobs look "
        "stuck, then resend the rest or raise the cap deliberately."
    )


def _failed(outcomes: Sequence[JobOutcome], note: str | None) -> str:
    def fmt(o: JobOutcome) -> str:
        return f"{_job(o)} (E-HPC error {_code(o.error_code or 'unknown')})"

    return (
        f"rerunning {_named(outcomes, fmt)} failed; fix what the E-HPC error code names "
        "(ClusterNotFound, InvalidClusterStatus, AgentError.Job.RerunFailure = the job is no longer "
        "rerunnable, Throttling = try later, ...) and send the jobs again."
    )


def _unknown(outcomes: Sequence[JobOutcome], note: str | None) -> str:
    return (
        f"the fate of the call for {_named(outcomes, _job)} is unknown: check the job in the E-HPC "
        "console; it may have been rerun. It is not retried automatically."
    )


_NEXT_STEPS: dict[Status, Callable[[Sequence[JobOutcome], str | None], str]] = {
    Status.FAILED: _failed,
    Status.UNKNOWN: _unknown,
    Status.CAPPED: _capped,
    Status.OVER_BUDGET: _over_budget,
}


def title(report: InvocationReport) -> str:
    worst = most_serious(report)
    humans = sum(1 for o in report.outcomes if o.status.needs_human)
    state = worst.value if worst else "no jobs"
    tail = f" ({humans} of {len(report.outcomes)} jobs need a human)" if humans else ""
    return f"ehpc-rerun: {state}{tail}"


def headline(report: InvocationReport) -> str:
    worst = most_serious(report)
    by_status = counts(report)
    parts = [f"{by_status[s.value]} {s.value}" for s in STATUS_ORDER if by_status.get(s.value)]
    clusters = {o.cluster_id for o in report.outcomes if o.cluster_id}
    head = f"### ehpc-rerun: {worst.value if worst else 'no jobs'}"
    if report.dry_run:
        head += " (dry run)"
    summary = ", ".join(parts) or "nothing to do"
    where = f" across {len(clusters)} cluster{'s' if len(clusters) != 1 else ''}" if clusters else ""
    humans = sum(1 for o in report.outcomes if o.status.needs_human)
    act = f" -- {humans} job{'s need' if humans != 1 else ' needs'} a human." if humans else ""
    return f"{head}\n\n**{summary}**{where}{act}"


def _about(report: InvocationReport) -> str:
    bits = [f"source {report.source}", report.region or "", report.started_at, f"{report.duration_ms} ms"]
    text = " · ".join([f"invocation {_code(report.invocation_id)}"] + [_clean(b, 100) for b in bits if b])
    if report.note:
        text += f"\n\n> {_clean(report.note, 500)}"
    if report.errors:
        codes = sorted({e.code for e in report.errors})
        text += f"\n\n{len(report.errors)} record(s) could not be read ({_clean(', '.join(codes))})."
    return text


def _cluster_lines(report: InvocationReport) -> list[tuple[str, int]]:
    """``(line, jobs shown by the line)`` for the per-cluster listing, in display order."""
    groups: dict[str | None, list[JobOutcome]] = {}
    for outcome in report.outcomes:
        groups.setdefault(outcome.cluster_id, []).append(outcome)
    rank = {status: i for i, status in enumerate(STATUS_ORDER)}

    def cluster_key(item: tuple[str | None, list[JobOutcome]]) -> tuple[int, str]:
        return (min(rank[o.status] for o in item[1]), item[0] or "~")

    lines: list[tuple[str, int]] = []
    for cluster, outcomes in sorted(groups.items(), key=cluster_key):
        label = f"Cluster {_code(cluster)}" if cluster else "Records without a cluster"
        lines.append((f"\n**{label}** ({len(outcomes)} job{'s' if len(outcomes) != 1 else ''})\n", 0))
        for status in STATUS_ORDER:
            members = [o for o in outcomes if o.status is status]
            if status.severity == 0:
                for i in range(0, len(members), _LIST_CHUNK):
                    chunk = members[i : i + _LIST_CHUNK]
                    label = f"{status.value} ({len(members)})" if i == 0 else f"{status.value} (cont.)"
                    lines.append((f"- {label}: " + ", ".join(_code(o.job_id) for o in chunk), len(chunk)))
                continue
            for o in members:
                why = _why(o)
                lines.append((f"- **{status.value}** {_code(o.job_id)}" + (f": {why}" if why else ""), 1))
    return lines


def next_step(status: Status, outcomes: Sequence[JobOutcome], note: str | None = None) -> str | None:
    """The "what to do next" advice for ``outcomes`` of one status that needs a human (else ``None``)."""
    if status not in HUMAN_STATUSES or status not in _NEXT_STEPS or not outcomes:
        return None
    return _NEXT_STEPS[status](outcomes, note)


def next_steps(report: InvocationReport) -> list[str]:
    lines = []
    for status in STATUS_ORDER:
        if status in HUMAN_STATUSES and status in _NEXT_STEPS:
            members = report.outcomes_with(status)
            if members:
                lines.append(f"- **{status.value}**: {_NEXT_STEPS[status](members, report.note)}")
    return lines


def render_markdown(report: InvocationReport, max_chars: int = MAX_MARKDOWN_CHARS) -> str:
    top = headline(report) + "\n\n" + _about(report)
    steps = next_steps(report)
    bottom = ("\n\n#### What to do next\n\n" + "\n".join(steps)) if steps else ""
    total_jobs = len(report.outcomes)
    reserve = 120  # the "… and N more" line
    budget = max_chars - len(top) - len(bottom) - reserve
    body: list[str] = []
    shown = 0
    for line, jobs in _cluster_lines(report):
        if len(line) + 1 > budget:
            break
        body.append(line)
        budget -= len(line) + 1
        shown += jobs
    if shown < total_jobs:
        body.append(
            f"\n… and {total_jobs - shown} more jobs (every job is in the function log as an "
            "ehpc_rerun.outcome line)"
        )
    text = top + ("\n" + "\n".join(body) if body else "") + bottom
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"
