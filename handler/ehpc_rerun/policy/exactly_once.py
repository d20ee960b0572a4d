"""The pipeline's exactly-once steps, around the claims: carry send stamps over, settle leases whose
RerunJobs may have been sent (:mod:`.takeover`), stamp each call just before it goes out, and remember
what each event did (:mod:`.event_memory`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.models import Status
from ehpc_rerun.plan import Job
from ehpc_rerun.state.base import StateRecord, StateStore

from . import event_memory, takeover

if TYPE_CHECKING:
    from ehpc_rerun.ehpc.client import JobPage
    from ehpc_rerun.ehpc.executor import EhpcApi
    from ehpc_rerun.pipeline import Invocation, PipelineResult


def carry_marks(store: StateStore, taken_over: Mapping[str, StateRecord], *, owner: str) -> set[str]:
    """Put each taken-over lease's send stamp on our new lease (so a crash of ours loses nothing)."""
    by_stamp: dict[int, list[str]] = {}
    for key, record in taken_over.items():
        if record.sent_ms is not None:
            by_stamp.setdefault(record.sent_ms, []).append(key)
    for sent_ms, keys in by_stamp.items():
        # mark_sent stamps with its now_ms: passing the old send time carries the stamp over unchanged
        store.mark_sent(keys, owner=owner, now_ms=sent_ms)
    return {key for keys in by_stamp.values() for key in keys}


def settle_takeovers(
    claimed: list[Job],
    taken_over: Mapping[str, StateRecord],
    store: StateStore,
    inv: Invocation,
    result: PipelineResult,
) -> tuple[list[Job], list[tuple[Job, Status]]]:
    """Resolve the claimed jobs that took over a stamped lease; return the jobs to call and those recorded."""
    suspects = [(job, taken_over[job.key]) for job in claimed if job.key in taken_over]
    others = [job for job in claimed if job.key not in taken_over]
    listings = inv.shared_listings()  # the pre-check that follows reuses this listing

    def lister(region: str, cluster_id: str) -> takeover.SeenJobs:
        return listings.get(region, cluster_id)

    decision = takeover.resolve(
        suspects, lister, now_ms=inv.now_ms(), settle_s=inv.settings.unchanged_after_send_s
    )
    result.outcomes.extend(decision.outcomes)
    if decision.complete:
        store.complete(
            [job.key for job, _ in decision.complete],
            owner=inv.invocation_id,
            dedupe_window_ms=inv.settings.dedupe_window_s * 1000,
            budget_window_ms=inv.settings.budget_window_s * 1000,
            now_ms=inv.now_ms(),
        )
    return others + decision.proceed, list(decision.complete)


class _MarkingApi:
    """E-HPC as the executor sees it, stamping our leases "sent" just before each RerunJobs goes out."""

    def __init__(
        self, api: EhpcApi, store: StateStore, keys: Mapping[tuple[str, str], str], inv: Invocation
    ) -> None:
        self._api, self._store, self._keys, self._inv = api, store, keys, inv
        self._owner = inv.invocation_id
        self.region = api.region

    def rerun_jobs(self, cluster_id: str, job_ids: Sequence[str]) -> str:
        from ehpc_rerun.ehpc.errors import EhpcCallError

        keys = [self._keys[(cluster_id, job_id)] for job_id in job_ids if (cluster_id, job_id) in self._keys]
        try:
            self._store.mark_sent(keys, owner=self._owner, now_ms=self._inv.now_ms())
        except StateStoreUnavailable as exc:
            # Not sent: without the stamp a crash after the call could be repeated blindly.
            raise EhpcCallError("transient", exc.code, f"not sent: {exc.message}") from None
        return self._api.rerun_jobs(cluster_id, job_ids)

    def list_page(self, cluster_id: str, page: int, *, owner: str | None = None) -> JobPage:
        return self._api.list_page(cluster_id, page, owner=owner)


def marking_sends(inv: Invocation, store: StateStore, claimed: Sequence[Job]) -> Invocation:
    keys_by_region: dict[str, dict[tuple[str, str], str]] = {}
    for job in claimed:
        keys_by_region.setdefault(job.region, {})[(job.cluster_id, job.job_id)] = job.key
    inv.shared_listings()  # built once, so that the copy below shares its memo and limiter
    api_for = inv.api_for

    def marking(region: str) -> EhpcApi:
        api = api_for(region)
        return _MarkingApi(api, store, keys_by_region.get(region, {}), inv)

    return dataclasses.replace(inv, api_for=marking)


def remember_events(
    store: StateStore,
    memory: event_memory.EventMemory,
    recorded: Sequence[tuple[Job, Status]],
    inv: Invocation,
    result: PipelineResult,
) -> None:
    done = [(job, status) for job, status in recorded if job.event_ids]
    if not done:
        return
    try:
        event_memory.remember(
            store,
            memory,
            done,
            invocation_id=inv.invocation_id,
            now_ms=inv.now_ms(),
            horizon_ms=inv.settings.event_horizon_s * 1000,
        )
    except StateStoreUnavailable as exc:
        # The reruns are recorded per job (dedupe window, budget); only the longer event memory is missing.
        note = f"what this event did could not be remembered for its redelivery horizon: {exc.message}"
        result.record_problem(inv.invocation_id, exc.code, note)
