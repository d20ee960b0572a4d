"""A redelivered event reruns only what it had not done, however late it comes back (issue: exactly once
per event over the whole redelivery horizon)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, request, statuses

from .conftest import mns_event

Invoke = Callable[..., dict[str, Any]]
HOURS = 3_600_000


def test_an_event_redelivered_after_the_dedupe_window_is_a_duplicate_naming_the_earlier_invocation(
    shared_store: str, invoke: Invoke, sim: Simulator, clock: list[int]
) -> None:
    # given an event that reran its job
    first = invoke(mns_event("evt-late-1", ["11.scheduler"]))
    assert statuses(first) == {f"{CLUSTER}/11.scheduler": "rerun"}
    earlier = first["invocation_id"]
    # when EventBridge delivers it again 20 hours later (far past the 15-minute job window)
    clock[0] += 20 * HOURS
    again = invoke(mns_event("evt-late-1", ["11.scheduler"]))
    # then it is a duplicate that names the invocation which did it, and E-HPC was called once
    [outcome] = again["outcomes"]
    assert outcome["status"] == "duplicate"
    assert outcome["detail"]["earlier_invocation"] == earlier
    assert f"rerun by invocation {earlier}" in outcome["message"]
    assert len(sim.calls_for("RerunJobs")) == 1


def test_a_redelivered_event_reruns_only_what_it_had_not_done(
    shared_store: str, invoke: Invoke, sim: Simulator, clock: list[int]
) -> None:
    # given an event for two jobs whose first delivery reran one; the other was not running then
    sim.set_job_state(CLUSTER, "16.scheduler", "FINISHED")
    first = invoke(mns_event("evt-late-2", ["15.scheduler", "16.scheduler"]))
    assert statuses(first) == {
        f"{CLUSTER}/15.scheduler": "rerun",
        f"{CLUSTER}/16.scheduler": "not_rerunnable",
    }
    # when the event is redelivered a day later, the second job running again
    sim.set_job_state(CLUSTER, "16.scheduler", "RUNNING")
    clock[0] += 24 * HOURS
    again = invoke(mns_event("evt-late-2", ["15.scheduler", "16.scheduler"]))
    # then only what the event had not done is done now
    assert statuses(again) == {f"{CLUSTER}/15.scheduler": "duplicate", f"{CLUSTER}/16.scheduler": "rerun"}
    assert sorted(sim.rerun_job_ids()) == ["15.scheduler", "16.scheduler"]


def test_a_new_event_for_the_same_job_after_the_window_is_still_new_and_the_budget_caps_it(
    shared_store: str, invoke: Invoke, sim: Simulator, clock: list[int], settings_env: Callable[..., None]
) -> None:
    # given a budget of 2 reruns a day
    settings_env(state=shared_store, budget_max_reruns=2)
    seen = []
    # when three different events ask for the same job an hour apart
    for n in range(3):
        seen.append(statuses(invoke(mns_event(f"evt-new-{n}", ["13.scheduler"])))[f"{CLUSTER}/13.scheduler"])
        clock[0] += HOURS
    # then the first two rerun it and the third is over budget
    assert seen == ["rerun", "rerun", "over_budget"]


def test_a_request_with_an_idempotency_key_is_remembered_like_an_event(
    shared_store: str, invoke: Invoke, sim: Simulator, clock: list[int]
) -> None:
    # given a direct request carrying its own idempotency key, done once
    invoke(request(["14.scheduler"], idempotency_key="ticket-4711"))
    clock[0] += 5 * HOURS
    # when it is sent again with the same key, and once more with another
    same = invoke(request(["14.scheduler"], idempotency_key="ticket-4711"))
    other = invoke(request(["14.scheduler"], idempotency_key="ticket-4712"))
    # then the same key is a duplicate, and the new one is a new request
    assert statuses(same) == {f"{CLUSTER}/14.scheduler": "duplicate"}
    assert statuses(other) == {f"{CLUSTER}/14.scheduler": "rerun"}
    assert len(sim.calls_for("RerunJobs")) == 2
