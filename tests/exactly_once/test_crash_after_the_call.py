"""An instance that dies after RerunJobs was sent never causes a blind second call (issue: exactly once).

Each scenario: the first delivery's instance dies right after the call (nothing recorded, its lease left
in progress, stamped "sent"); once the lease has expired, the event is delivered again on a new instance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun import app, pipeline
from ehpc_rerun.policy import exactly_once
from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, statuses

from .conftest import Crash, mns_event

Invoke = Callable[..., dict[str, Any]]
Crasher = Callable[[Invoke, Any], None]
LEASE_GONE_MS = 10 * 60 * 1000  # well past the lease (timeout + 60 s) and EHPC_RERUN_UNCHANGED_AFTER_SEND_S
OLD = "2026-01-01T00:00:00Z"


def reruns(sim: Simulator) -> int:
    return len(sim.calls_for("RerunJobs"))


def test_a_rerun_that_happened_before_the_crash_is_confirmed_and_not_repeated(
    shared_store: str, invoke: Invoke, sim: Simulator, clock: list[int], crash_after_the_call: Crasher
) -> None:
    # given a delivery whose instance died right after E-HPC accepted the rerun
    crash_after_the_call(invoke, mns_event("evt-crash-1", ["7.scheduler"]))
    assert reruns(sim) == 1
    clock[0] += LEASE_GONE_MS
    app.reset()
    # when the event is delivered again after the lease expired
    result = invoke(mns_event("evt-crash-1", ["7.scheduler"]))
    # then ListJobs confirms the rerun: duplicate, saying so, and no second call
    [outcome] = result["outcomes"]
    assert outcome["status"] == "duplicate"
    assert "ListJobs confirms the rerun happened" in outcome["message"]
    assert outcome["detail"]["confirmed_by"] == "ListJobs"
    assert reruns(sim) == 1
    # and the rerun is now recorded: a third delivery is a duplicate without asking E-HPC again
    listings = len(sim.calls_for("ListJobs"))
    again = invoke(mns_event("evt-crash-1", ["7.scheduler"]))
    assert statuses(again) == {f"{CLUSTER}/7.scheduler": "duplicate"}
    assert (reruns(sim), len(sim.calls_for("ListJobs"))) == (1, listings)


def _die_just_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lease is stamped "sent", then the instance dies before the request leaves."""
    original = exactly_once._MarkingApi.rerun_jobs

    def stamped_then_dead(self: Any, cluster_id: str, job_ids: Any) -> str:
        self._store.mark_sent(
            [self._keys[(cluster_id, j)] for j in job_ids], owner=self._owner, now_ms=self._inv.now_ms()
        )
        raise Crash

    def no_cleanup(*args: Any, **kwargs: Any) -> None:
        raise Crash  # a dead instance releases nothing

    monkeypatch.setattr(exactly_once._MarkingApi, "rerun_jobs", stamped_then_dead)
    monkeypatch.setattr(pipeline, "_release", no_cleanup)
    assert original is not stamped_then_dead


@pytest.mark.parametrize(
    ("later_ms", "status", "calls"),
    [
        (4 * 60 * 1000, "unknown", 0),  # lease expired, but the send is younger than 300 s
        (10 * 60 * 1000, "rerun", 1),  # unchanged 600 s after the send: it did not happen
    ],
)
def test_a_send_that_left_no_trace_is_repeated_only_once_it_is_old_enough(
    later_ms: int,
    status: str,
    calls: int,
    shared_store: str,
    invoke: Invoke,
    sim: Simulator,
    clock: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a job last changed long ago (within the bounded listing), and a delivery that stamped its
    # lease "sent" and then died
    sim.add_job(CLUSTER, "5.scheduler", state="RUNNING", start_time=OLD, last_modify_time=OLD)
    _die_just_before_sending(monkeypatch)
    with pytest.raises(Crash):
        invoke(mns_event("evt-crash-2", ["5.scheduler"]))
    assert reruns(sim) == 0
    monkeypatch.setattr(exactly_once._MarkingApi, "rerun_jobs", _ORIGINAL_RERUN)
    monkeypatch.setattr(pipeline, "_release", _ORIGINAL_RELEASE)
    clock[0] += later_ms
    app.reset()
    # when the event is delivered again after the lease expired
    result = invoke(mns_event("evt-crash-2", ["5.scheduler"]))
    # then an unchanged job is rerun only once the send is older than EHPC_RERUN_UNCHANGED_AFTER_SEND_S
    [outcome] = result["outcomes"]
    assert outcome["status"] == status
    assert reruns(sim) == calls
    if status == "unknown":
        assert outcome["error_code"] == "RerunMaybeSent"
        assert "not repeated until 300 s after the send" in outcome["message"]


_ORIGINAL_RERUN = exactly_once._MarkingApi.rerun_jobs
_ORIGINAL_RELEASE = pipeline._release


def test_a_crash_during_the_pre_check_costs_nothing(
    shared_store: str, invoke: Invoke, sim: Simulator, clock: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a delivery whose instance died before any RerunJobs was sent (lease never stamped)
    original = pipeline._execute

    def dead(*args: Any, **kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(pipeline, "_execute", dead)
    monkeypatch.setattr(pipeline, "_release", dead)  # a dead instance releases nothing
    with pytest.raises(Crash):
        invoke(mns_event("evt-crash-3", ["8.scheduler"]))
    monkeypatch.setattr(pipeline, "_execute", original)
    monkeypatch.setattr(pipeline, "_release", _ORIGINAL_RELEASE)
    clock[0] += 4 * 60 * 1000  # past the lease, but younger than the 300 s rule: it does not apply
    app.reset()
    # when the event is delivered again / then the job is simply rerun, once
    result = invoke(mns_event("evt-crash-3", ["8.scheduler"]))
    assert statuses(result) == {f"{CLUSTER}/8.scheduler": "rerun"}
    assert reruns(sim) == 1


def test_a_crash_is_still_resolved_when_the_event_comes_back_days_later(
    shared_store: str, invoke: Invoke, sim: Simulator, clock: list[int], crash_after_the_call: Crasher
) -> None:
    # given a delivery whose instance died right after E-HPC accepted the rerun
    crash_after_the_call(invoke, mns_event("evt-crash-4", ["9.scheduler"]))
    # and a day of other traffic, during which stores collect expired records
    clock[0] += 86_400_000
    app.reset()
    invoke(mns_event("evt-other", ["10.scheduler"]))
    # when FC's asynchronous retry brings the event back three days after the crash
    clock[0] += 2 * 86_400_000
    app.reset()
    result = invoke(mns_event("evt-crash-4", ["9.scheduler"]))
    # then the stamped lease was kept, ListJobs confirms the rerun, and nothing is repeated
    assert statuses(result) == {f"{CLUSTER}/9.scheduler": "duplicate"}
    assert sim.rerun_job_ids() == ["9.scheduler", "10.scheduler"]
