"""What goes into a job's history: lost answers (confirmed or unknown), a rerun found after a crash, the
blast-radius cap; and what happens when the history cannot be written or read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.policy import job_history
from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, request, statuses

from .conftest import MINUTES, history_get

Invoke = Callable[..., dict[str, Any]]
LEASE_GONE_MS = 10 * MINUTES  # past the lease (timeout + 60 s) and EHPC_RERUN_UNCHANGED_AFTER_SEND_S


def test_lost_answers_are_reruns_confirmed_by_listjobs_or_unknown_and_escalated(
    sim: Simulator, invoke: Invoke, clock: list[int]
) -> None:
    # given one call whose answer was lost after E-HPC applied it, and one lost with no visible change
    sim.drop_connection_next("RerunJobs", after_apply=True)
    invoke(request(["51.scheduler"]))
    sim.drop_connection_next("RerunJobs", after_apply=False)
    maybe = invoke(request(["52.scheduler"]))
    # when both histories are asked for
    confirmed = invoke(history_get("51.scheduler"))["body"]
    unknown = invoke(history_get("52.scheduler"))["body"]
    # then the first is a rerun confirmed by ListJobs; the second counts against the budget (it may have
    # happened) and is an escalation too
    [rerun] = confirmed["reruns"]
    assert (rerun["status"], rerun["confirmed_by"], confirmed["escalations"]) == ("rerun", "ListJobs", [])
    [maybe_rerun] = unknown["reruns"]
    [escalation] = unknown["escalations"]
    assert maybe_rerun["status"] == escalation["status"] == "unknown"
    assert escalation["error_code"] == maybe["outcomes"][0]["error_code"]
    assert unknown["budget"]["used"] == 1


def test_a_rerun_found_after_the_sending_instance_died_names_that_instance(
    sim: Simulator,
    invoke: Invoke,
    clock: list[int],
    crash_after_the_call: Callable[[Callable[..., Any], Any], None],
) -> None:
    # given an instance that died right after E-HPC accepted the rerun, before recording anything
    crash_after_the_call(lambda event: invoke(event, request_id="inv-that-died"), request(["53.scheduler"]))
    # when the request comes again once its lease expired (ListJobs confirms the rerun), and then the
    # history is asked for
    clock[0] += LEASE_GONE_MS
    again = invoke(request(["53.scheduler"]), request_id="inv-that-settled")
    body = invoke(history_get("53.scheduler"))["body"]
    # then the one rerun is there, sent by the instance that died, recorded by the one that found it
    assert statuses(again) == {f"{CLUSTER}/53.scheduler": "duplicate"}
    [rerun] = body["reruns"]
    assert (rerun["invocation_id"], rerun["recorded_by"]) == ("inv-that-died", "inv-that-settled")
    assert rerun["confirmed_by"] == "ListJobs"
    assert len(sim.calls_for("RerunJobs")) == 1


def test_capped_jobs_are_escalations_in_their_history(
    sim: Simulator, invoke: Invoke, settings_env: Callable[..., None], clock: list[int]
) -> None:
    # given a blast-radius cap of 2 jobs, when one request names 3
    settings_env(max_jobs_per_invocation=2)
    capped = invoke(request(["54.scheduler", "55.scheduler", "56.scheduler"]))
    # then nothing was rerun, and each job's history shows the cap
    assert set(statuses(capped).values()) == {"capped"}
    body = invoke(history_get("55.scheduler"))["body"]
    [escalation] = body["escalations"]
    assert (escalation["status"], escalation["error_code"]) == ("capped", "BlastRadiusCap")
    assert escalation["invocation_id"] == capped["invocation_id"]
    assert (body["reruns"], body["budget"]["left"]) == ([], 3)
    assert sim.calls == []


def test_a_history_that_cannot_be_written_never_fails_the_rerun(
    sim: Simulator, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a store that refuses the history documents (they keep changing under us)
    def contended(*args: Any, **kwargs: Any) -> None:
        raise StateStoreUnavailable("could not update the rerun history of 1 job(s): test fault")

    monkeypatch.setattr(job_history, "merge", contended)
    # when a job is rerun
    result = invoke(request(["57.scheduler"]))
    # then the rerun stands, the summary's note says what is missing, and an error line names the code
    assert statuses(result) == {f"{CLUSTER}/57.scheduler": "rerun"}
    assert "rerun history (GET /jobs/...) could not be updated" in result["note"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["type"] == "ehpc_rerun.error"]
    assert [e["error_code"] for e in errors] == ["StateStoreUnavailable"]
    assert len(sim.calls_for("RerunJobs")) == 1


def test_a_history_asked_for_while_the_store_is_down_is_a_503_saying_so(
    sim: Simulator, invoke: Invoke, settings_env: Callable[..., None]
) -> None:
    # given a state store that cannot be reached (nothing listens on the port)
    settings_env(state="redis://127.0.0.1:9/0")
    # when a history is asked for
    response = invoke(history_get("58.scheduler"))
    # then 503 with the store's error code and a Retry-After, as for every store failure over HTTP
    assert (response["statusCode"], response["body"]["error"]["code"]) == (503, "StateStoreUnavailable")
    assert response["headers"]["Retry-After"] == "30"
