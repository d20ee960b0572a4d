"""The escalation digest as one DingTalk markdown message.

A headline (how many jobs, of which statuses, across how many clusters, since when), the jobs grouped
by cluster (most serious cluster first; inside one, most serious status first), at most
``dingtalk_digest_max_jobs`` of them and never more than :data:`~.render.MAX_MARKDOWN_CHARS`, then
"… and N more", where to see every escalation (``escalation_link``, else the SLS query), and one
"what to do next" line per status that needs a human. The title starts with ``ehpc-rerun`` so a robot
in "custom keyword" mode accepts it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ehpc_rerun.models import JobOutcome, Status

from .digest_doc import Entry, Pending
from .render import MAX_MARKDOWN_CHARS, STATUS_ORDER, inline_code, next_step, one_line

_RANK = {status.value: i for i, status in enumerate(STATUS_ORDER)}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _hms(at_ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at_ms / 1000))


def _day_hms(at_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at_ms / 1000))


def _ordered_statuses(counts: dict[str, int]) -> list[str]:
    return sorted(counts, key=lambda s: (_RANK.get(s, 99), s))


def worst_status(pending: Pending) -> str:
    statuses = _ordered_statuses(pending.counts())
    return statuses[0] if statuses else "nothing"


def title(pending: Pending) -> str:
    return f"ehpc-rerun: {worst_status(pending)} ({_plural(pending.total, 'job')} escalated)"


def sls_query(statuses: Sequence[str]) -> str:
    """The Logstore search for these escalations (the index the template creates: JSON keys of message)."""
    wanted = " or ".join(f"message.status: {s}" for s in statuses) or "message.needs_human: true"
    return f'message.type: "ehpc_rerun.outcome" and ({wanted})'


def where_to_see_all(statuses: Sequence[str], link: str | None, function_name: str | None) -> str:
    if link:
        return f"**Every escalation:** [{one_line(link, 200)}]({link})"
    query = f"`{sls_query(statuses)}`"  # whole (no backtick can be in it): it is meant to be pasted
    if not function_name:
        return f"**Every escalation** is in the function's Logstore: {query}"
    board = f'dashboard {inline_code(function_name + "-ops")}, "Recent jobs that need a person"'
    where = f"the Logstore of function {inline_code(function_name)} ({board})"
    return f"**Every escalation** is in {where}: {query}"


def _line(entry: Entry) -> str:
    why = [p for p in (entry.error_code, entry.message) if p]
    if entry.status == Status.OVER_BUDGET.value and entry.reruns is not None:
        why.append(f"rerun {entry.reruns} times in the window")
    text = f"- **{entry.status}** {inline_code(entry.job_id or 'a record')}"
    if why:
        text += ": " + one_line(": ".join(why))
    return text + f" · {_hms(entry.at_ms)}"


def _by_seriousness(entries: Sequence[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (_RANK.get(e.status, 99), e.at_ms))


def _grouped(chosen: Sequence[Entry], pending: Pending) -> list[tuple[str | None, int, list[Entry]]]:
    """``(cluster, its pending jobs, its chosen entries)``, the cluster with the most serious first."""
    groups: dict[str | None, list[Entry]] = {}
    for entry in chosen:  # already most serious first
        groups.setdefault(entry.cluster_id, []).append(entry)
    sizes: dict[str | None, int] = {}
    for entry in pending.entries:
        sizes[entry.cluster_id] = sizes.get(entry.cluster_id, 0) + 1
    return [(cluster, sizes[cluster], members) for cluster, members in groups.items()]


def _as_outcome(entry: Entry) -> JobOutcome:
    detail = {"reruns_in_window": entry.reruns} if entry.reruns is not None else {}
    return JobOutcome(
        cluster_id=entry.cluster_id,
        job_id=entry.job_id,
        status=Status(entry.status),
        error_code=entry.error_code,
        message=entry.message,
        source=entry.source or "digest",
        detail=detail,
    )


def _next_steps(listed: Sequence[Entry]) -> list[str]:
    lines = []
    for status in STATUS_ORDER:
        members = [_as_outcome(e) for e in listed if e.status == status.value]
        advice = next_step(status, members)
        if advice:
            lines.append(f"- **{status.value}**: {advice}")
    return lines


def headline(pending: Pending) -> str:
    counts = pending.counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in _ordered_statuses(counts))
    clusters = {e.cluster_id for e in pending.entries if e.cluster_id}
    invocations = {e.invocation_id for e in pending.entries}
    bits = [f"**{summary}**"]
    if clusters:
        bits.append(f"across {'at least ' if pending.overflow else ''}{_plural(len(clusters), 'cluster')}")
    if invocations:
        bits.append(f"from {_plural(len(invocations), 'invocation')}")
    times = [e.at_ms for e in pending.entries]
    when = f", {_day_hms(min(times))} to {_hms(max(times))} UTC" if times else ""
    head = f"### ehpc-rerun: {_plural(pending.total, 'job')} escalated, most serious {worst_status(pending)}"
    return f"{head}\n\n{' '.join(bits)}{when}."


def render(
    pending: Pending,
    *,
    max_jobs: int,
    link: str | None,
    function_name: str | None,
    max_chars: int = MAX_MARKDOWN_CHARS,
) -> str:
    """The markdown text of one digest message (bounded by ``max_jobs`` and ``max_chars``)."""
    top = headline(pending)
    see_all = "\n\n" + where_to_see_all(_ordered_statuses(pending.counts()), link, function_name)
    budget = max_chars - len(top) - len(see_all) - 2_500  # room for "and N more" and the next steps
    chosen: list[Entry] = []
    for entry in _by_seriousness(pending.entries)[:max_jobs]:
        cost = len(_line(entry)) + 1 + 80  # 80: its share of a cluster header, at worst
        if cost > budget:
            break
        chosen.append(entry)
        budget -= cost
    body: list[str] = []
    listed: list[Entry] = []
    for cluster, size, members in _grouped(chosen, pending):
        header = f"\n**Cluster {inline_code(cluster)}**" if cluster else "\n**Records without a cluster**"
        body.append(header + f" ({_plural(size, 'job')})")
        body.extend(_line(entry) for entry in members)
        listed.extend(members)
    more = pending.total - len(listed)
    if more:
        rest = dict(pending.counts())
        for entry in listed:
            rest[entry.status] -= 1
        what = ", ".join(f"{rest[s]} {s}" for s in _ordered_statuses(rest) if rest[s])
        body.append(f"\n… and {more} more ({what}), not listed here.")
    steps = _next_steps(listed + [e for e in _by_seriousness(pending.entries) if e not in listed])
    bottom = ("\n\n#### What to do next\n\n" + "\n".join(steps)) if steps else ""
    text = top + "\n" + "\n".join(body) + see_all + bottom
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"
