"""Exactly once per event over its whole redelivery horizon.

EventBridge retries an event for up to a day, FC keeps an asynchronous invocation for up to a day, MNS
redelivers until the message is deleted (shared/reference/production.md): far beyond the 15-minute job
dedupe window. So what an event already did is remembered, per event, for ``EHPC_RERUN_EVENT_HORIZON_S``
(default two days): a redelivered event reruns only what had not been done *for that event*, and reports
the rest as ``duplicate``, naming the earlier invocation. A *new* event for the same job after the dedupe
window is still a new event (budgets still cap it).

An event's identity comes from its source (``RerunRequest.event_id``, the README lists the field per
source); a request without one is not remembered. One document per event in the state store
(``event:<source>:<sha256 of the id>``), read in one round trip before the claims and merged by
compare-and-set after them. Two deliveries of one event at the same moment are already kept apart by
the per-job claim; this memory covers the deliveries that come after the claim's window.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.models import JobOutcome, Status
from ehpc_rerun.outcomes import for_job
from ehpc_rerun.plan import Job
from ehpc_rerun.state.base import Doc, DocWrite, StateStore

MAX_MERGE_ROUNDS = 5


def doc_key(event: str) -> str:
    source, _, ident = event.partition(":")
    return f"event:{source}:{hashlib.sha256(ident.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}"


@dataclass(frozen=True)
class EarlierRun:
    event: str  # "<source>:<event id>"
    invocation_id: str
    status: str
    at_ms: int


@dataclass
class EventMemory:
    """What the events of this invocation did before (read once, before the claims)."""

    docs: dict[str, Doc] = field(default_factory=dict)

    def earlier(self, job: Job) -> EarlierRun | None:
        for event in job.event_ids:
            doc = self.docs.get(doc_key(event))
            if doc is None:
                continue
            entry = _jobs(doc).get(job.key)
            if entry is not None:
                at = entry.get("at")
                at_ms = at if isinstance(at, int) else 0
                return EarlierRun(event, str(entry.get("invocation")), str(entry.get("status")), at_ms)
        return None


def recall(store: StateStore, jobs: Sequence[Job], *, now_ms: int) -> EventMemory:
    keys = list(dict.fromkeys(doc_key(e) for job in jobs for e in job.event_ids))
    return EventMemory(store.read_docs(keys, now_ms=now_ms) if keys else {})


def split_done(jobs: Sequence[Job], memory: EventMemory) -> tuple[list[Job], list[JobOutcome]]:
    """The jobs still to do, and a ``duplicate`` outcome for each one its event already did."""
    todo: list[Job] = []
    outcomes: list[JobOutcome] = []
    for job in jobs:
        earlier = memory.earlier(job)
        if earlier is None:
            todo.append(job)
            continue
        source, _, ident = earlier.event.partition(":")
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(earlier.at_ms / 1000))
        outcomes.append(
            for_job(
                job,
                Status.DUPLICATE,
                message=f"already handled for this event ({source} event {ident[:80]}): {earlier.status} by "
                f"invocation {earlier.invocation_id} at {when}; a redelivered event reruns only what it had "
                "not done yet",
                detail={"event_id": ident, "earlier_invocation": earlier.invocation_id},
            )
        )
    return todo, outcomes


def remember(
    store: StateStore,
    memory: EventMemory,
    done: Iterable[tuple[Job, Status]],
    *,
    invocation_id: str,
    now_ms: int,
    horizon_ms: int,
) -> None:
    """Add each done job to the documents of the events that asked for it (compare-and-set merge)."""
    additions: dict[str, dict[str, dict[str, object]]] = {}
    for job, status in done:
        for event in job.event_ids:
            entry: dict[str, object] = {"invocation": invocation_id, "status": status.value, "at": now_ms}
            additions.setdefault(doc_key(event), {})[job.key] = entry
    pending = dict(additions)
    docs: dict[str, Doc | None] = {key: memory.docs.get(key) for key in pending}
    for _ in range(MAX_MERGE_ROUNDS):
        keys = list(pending)
        writes = []
        for key in keys:
            old = docs.get(key)
            merged = {**(_jobs(old) if old else {}), **pending[key]}
            value = json.dumps({"jobs": merged}, separators=(",", ":"), ensure_ascii=False)
            writes.append(DocWrite(key, value, ttl_ms=horizon_ms, if_version=old.version if old else None))
        results = store.write_docs(writes, now_ms=now_ms)
        pending = {key: pending[key] for key, ok in zip(keys, results, strict=True) if not ok}
        if not pending:
            return
        fresh = store.read_docs(list(pending), now_ms=now_ms)  # another delivery wrote meanwhile
        docs.update({key: fresh.get(key) for key in pending})
    raise StateStoreUnavailable(
        f"could not record what {len(pending)} event(s) did: their documents kept changing under us"
    )


def _jobs(doc: Doc) -> dict[str, dict[str, object]]:
    try:
        parsed = json.loads(doc.value)
        jobs = parsed.get("jobs", {}) if isinstance(parsed, dict) else {}
        return jobs if isinstance(jobs, dict) else {}
    except ValueError:
        return {}
