"""What the store keeps for the history is bounded per job and expires with the budget window, on every
store (issue: "bounded per job and expires with the budget window, on all three stores")."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ehpc_rerun.policy import job_history
from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, request, statuses

from .conftest import HOURS, MINUTES, history_get, stored_doc

Invoke = Callable[..., dict[str, Any]]
JOB = "41.scheduler"


def test_a_flood_of_escalations_keeps_only_the_newest_in_the_document(
    shared_store: str, invoke: Invoke, sim: Simulator, settings_env: Callable[..., None], clock: list[int]
) -> None:
    # given a budget of one rerun a day, used up by a first request, and no dedupe window
    settings_env(state=shared_store, budget_max_reruns=1, dedupe_window_s=0)
    t0 = clock[0]
    assert statuses(invoke(request([JOB])))[f"{CLUSTER}/{JOB}"] == "rerun"
    # when an alert keeps asking for the job every minute, more often than the document keeps
    asks = job_history.MAX_ENTRIES + 5
    for n in range(1, asks + 1):
        clock[0] = t0 + n * MINUTES
        assert statuses(invoke(request([JOB])))[f"{CLUSTER}/{JOB}"] == "over_budget"
    # then the stored document holds the rerun and only the newest MAX_ENTRIES escalations
    doc = stored_doc(JOB, clock[0])
    assert doc is not None
    stored = json.loads(doc.value)
    assert len(stored["reruns"]) == 1
    assert [e["at"] for e in stored["escalations"]] == [t0 + n * MINUTES for n in range(6, asks + 1)]
    # and the answer says so too
    body = invoke(history_get(JOB))["body"]
    assert len(body["escalations"]) == job_history.MAX_ENTRIES
    assert body["budget"]["used"] == 1
    assert len(sim.calls_for("RerunJobs")) == 1


def test_reruns_that_left_the_budget_window_are_dropped_from_the_document_on_the_next_write(
    shared_store: str, invoke: Invoke, sim: Simulator, settings_env: Callable[..., None], clock: list[int]
) -> None:
    # given an hour's budget of two reruns, no dedupe window, and reruns at 0 and 10 minutes
    settings_env(state=shared_store, budget_max_reruns=2, budget_window_s=3600, dedupe_window_s=0)
    t0 = clock[0]
    invoke(request([JOB]))
    clock[0] = t0 + 10 * MINUTES
    invoke(request([JOB]))
    # when the job is rerun again 65 minutes after the first (which has left the window)
    clock[0] = t0 + 65 * MINUTES
    assert statuses(invoke(request([JOB])))[f"{CLUSTER}/{JOB}"] == "rerun"
    # then the document keeps the last two reruns only, and lives an hour from this write
    doc = stored_doc(JOB, clock[0])
    assert doc is not None
    assert [e["at"] for e in json.loads(doc.value)["reruns"]] == [t0 + 10 * MINUTES, t0 + 65 * MINUTES]
    assert doc.expires_ms == t0 + 65 * MINUTES + HOURS
    assert len(sim.calls_for("RerunJobs")) == 3


def test_the_document_expires_with_the_budget_window_after_its_last_write(
    shared_store: str, invoke: Invoke, sim: Simulator, settings_env: Callable[..., None], clock: list[int]
) -> None:
    # given an hour's budget window and a job rerun once
    settings_env(state=shared_store, budget_window_s=3600)
    t0 = clock[0]
    invoke(request([JOB]))
    # when the store is read just before, and just after, an hour has passed
    before = stored_doc(JOB, t0 + HOURS - 1)
    after = stored_doc(JOB, t0 + HOURS)
    # then the document is there until the window ends, and gone with it
    assert before is not None and before.expires_ms == t0 + HOURS
    assert after is None
    clock[0] = t0 + HOURS
    body = invoke(history_get(JOB))["body"]
    assert (body["reruns"], body["budget"]["left"]) == ([], 3)


def test_an_invocation_that_only_finds_duplicates_writes_no_history(
    shared_store: str, invoke: Invoke, sim: Simulator, clock: list[int]
) -> None:
    # given a job rerun once, its document written then
    t0 = clock[0]
    invoke(request([JOB]))
    first = stored_doc(JOB, t0)
    # when it is asked for again within the dedupe window (a duplicate: nothing done, nothing to escalate)
    clock[0] = t0 + MINUTES
    assert statuses(invoke(request([JOB])))[f"{CLUSTER}/{JOB}"] == "duplicate"
    # then the document is unchanged (same version): a duplicate costs no history write
    again = stored_doc(JOB, clock[0])
    assert first is not None and again is not None
    assert (again.version, again.value) == (first.version, first.value)
