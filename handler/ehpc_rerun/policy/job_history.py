"""Why was my job rerun? What the function did to each job within the rerun budget window, for people.

One document per job in the state store, ``history:<job key>`` (the job key is
:attr:`ehpc_rerun.plan.Job.key`, ``job:<region>:<cluster>:<job>``), built only on the store's
compare-and-set documents (``read_docs`` / ``write_docs``), so it is the same on every store:

* ``reruns``: each completed claim (the ones the budget counts): when, which source and source id asked,
  which invocation sent RerunJobs, E-HPC's request id, the job's status then (``rerun``; ``unknown`` or,
  after a takeover, ``not_rerunnable``: RerunJobs may have been sent) and ``confirmed_by`` (``ListJobs``
  when a lost answer or a takeover was settled by a listing);
* ``escalations``: every decision a person must act on (``over_budget``, ``capped``, ``failed``,
  ``unknown``): when, status, error code, a short message, the invocation.

Bounded: entries older than the budget window are dropped on every write, and at most
:data:`MAX_ENTRIES` of each are kept (reruns: at least ``EHPC_RERUN_BUDGET_MAX_RERUNS``, so the count a
person sees is right). The document lives ``EHPC_RERUN_BUDGET_WINDOW_S`` from its last write, when all
it holds has left the window. Written once per invocation after the claims were settled: one read of
every job's document and one batched compare-and-set write, read again for the keys another instance
changed meanwhile (at most :data:`MAX_MERGE_ROUNDS` rounds). The authoritative budget is the store's own
claim history (``StateStore.claim``); this document mirrors it for people, and a failure to write it
never fails the invocation (an ``ehpc_rerun.error`` line and the summary's note say so).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.models import HUMAN_STATUSES, JobOutcome, Status
from ehpc_rerun.plan import Job
from ehpc_rerun.state.base import Doc, DocWrite, StateStore

if TYPE_CHECKING:
    from ehpc_rerun.pipeline import Invocation, PipelineResult

MAX_ENTRIES = 50  # escalations kept per job, and reruns unless the budget is larger
MAX_MESSAGE = 200  # characters of an escalation's message kept
MAX_MERGE_ROUNDS = 5
MAX_CAPPED_RECORDED = 1000  # a capped flood records the first jobs only: its cost stays a few round trips
VERSION = 1

Entry = dict[str, Any]


def doc_key(job_key: str) -> str:
    return f"history:{job_key}"


def job_key(region: str, cluster_id: str, job_id: str) -> str:
    """The job's state-store key, as :attr:`ehpc_rerun.plan.Job.key` spells it."""
    return f"job:{region}:{cluster_id}:{job_id}"


@dataclass
class Additions:
    """What one invocation adds to one job's document."""

    region: str
    cluster_id: str
    job_id: str
    reruns: list[Entry] = field(default_factory=list)
    escalations: list[Entry] = field(default_factory=list)


def remember(
    inv: Invocation,
    result: PipelineResult,
    jobs: Sequence[Job],
    recorded: Iterable[tuple[Job, Status]] = (),
    *,
    limit: int | None = None,
) -> None:
    """Add this invocation's completed claims (``recorded``) and escalations of ``jobs`` (read from
    ``result.outcomes``) to their documents. A store failure is noted and logged, never raised."""
    now_ms = inv.now_ms()
    chosen = list(jobs)[:limit] if limit is not None else list(jobs)
    additions = collect(chosen, result.outcomes, recorded, invocation_id=inv.invocation_id, now_ms=now_ms)
    if not additions:
        return
    settings = inv.settings
    try:
        merge(
            inv.store(),
            additions,
            now_ms=now_ms,
            window_ms=settings.budget_window_s * 1000,
            max_reruns=max(MAX_ENTRIES, settings.budget_max_reruns),
        )
    except StateStoreUnavailable as exc:
        # The decisions stand and are in the outcome lines; only the per-job history lacks them.
        note = f"the jobs' rerun history (GET /jobs/...) could not be updated: {exc.message}"
        result.record_problem(inv.invocation_id, exc.code, note)


def collect(
    jobs: Sequence[Job],
    outcomes: Sequence[JobOutcome],
    recorded: Iterable[tuple[Job, Status]],
    *,
    invocation_id: str,
    now_ms: int,
) -> dict[str, Additions]:
    """The entries for each job's document, keyed by document key; jobs with nothing to add are left out."""
    wanted = {(job.region, job.cluster_id, job.job_id) for job in jobs}
    latest: dict[tuple[str, str, str], JobOutcome] = {}
    for outcome in outcomes:
        ident = (outcome.region or "", outcome.cluster_id or "", outcome.job_id or "")
        if ident in wanted:
            latest[ident] = outcome
    additions: dict[str, Additions] = {}

    def for_job(job: Job) -> Additions:
        key = doc_key(job.key)
        if key not in additions:
            additions[key] = Additions(job.region, job.cluster_id, job.job_id)
        return additions[key]

    for job, status in recorded:
        seen = latest.get((job.region, job.cluster_id, job.job_id))
        detail = seen.detail if seen is not None else {}
        sender = detail.get("taken_over_from")
        entry: Entry = {
            "at": now_ms,
            "status": status.value,
            "source": job.request.source.value,
            "source_id": job.request.source_id,
            "invocation_id": sender if isinstance(sender, str) else invocation_id,
            "ehpc_request_id": seen.ehpc_request_id if seen is not None else None,
            "confirmed_by": detail.get("confirmed_by"),
        }
        if isinstance(sender, str):
            entry["recorded_by"] = invocation_id  # it took over the lease of the invocation that sent it
        for_job(job).reruns.append(entry)
    for job in jobs:
        seen = latest.get((job.region, job.cluster_id, job.job_id))
        if seen is not None and seen.status in HUMAN_STATUSES:
            for_job(job).escalations.append(
                {
                    "at": now_ms,
                    "status": seen.status.value,
                    "error_code": seen.error_code,
                    "message": (seen.message or "")[:MAX_MESSAGE],
                    "invocation_id": invocation_id,
                    "source": seen.source,
                    "source_id": seen.source_id,
                }
            )
    return additions


def merge(
    store: StateStore, additions: Mapping[str, Additions], *, now_ms: int, window_ms: int, max_reruns: int
) -> None:
    """Compare-and-set merge of ``additions`` into their documents (one read, one batched write)."""
    docs: dict[str, Doc | None] = dict(store.read_docs(list(additions), now_ms=now_ms))
    pending = list(additions)
    cutoff = now_ms - window_ms
    for _ in range(MAX_MERGE_ROUNDS):
        writes = []
        for key in pending:
            old = docs.get(key)
            value = _merged(old, additions[key], cutoff_ms=cutoff, max_reruns=max_reruns)
            writes.append(DocWrite(key, value, ttl_ms=window_ms, if_version=old.version if old else None))
        results = store.write_docs(writes, now_ms=now_ms)
        pending = [key for key, ok in zip(pending, results, strict=True) if not ok]
        if not pending:
            return
        fresh = store.read_docs(pending, now_ms=now_ms)  # another instance wrote meanwhile
        docs.update({key: fresh.get(key) for key in pending})
    raise StateStoreUnavailable(
        f"could not update the rerun history of {len(pending)} job(s): their documents kept changing under us"
    )


def _merged(old: Doc | None, add: Additions, *, cutoff_ms: int, max_reruns: int) -> str:
    parsed = parse(old.value) if old is not None else {}
    reruns = _window([*parsed.get("reruns", []), *add.reruns], cutoff_ms)[-max_reruns:]
    escalations = _window([*parsed.get("escalations", []), *add.escalations], cutoff_ms)[-MAX_ENTRIES:]
    value = {
        "v": VERSION,
        "region": add.region,
        "cluster_id": add.cluster_id,
        "job_id": add.job_id,
        "reruns": reruns,
        "escalations": escalations,
    }
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _window(entries: list[Entry], cutoff_ms: int) -> list[Entry]:
    """The entries younger than the window (``at > cutoff``, as the store counts), oldest first."""
    kept = [e for e in entries if isinstance(e.get("at"), int) and e["at"] > cutoff_ms]
    return sorted(kept, key=lambda e: int(e["at"]))


def parse(value: str) -> dict[str, list[Entry]]:
    """A document's lists; an unreadable document (another version's, damaged) reads as empty."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    lists: dict[str, list[Entry]] = {}
    for name in ("reruns", "escalations"):
        items = parsed.get(name)
        lists[name] = [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []
    return lists
