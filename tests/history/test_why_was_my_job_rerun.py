"""GET /jobs/{cluster_id}/{job_id} and ``ehpc-rerun history`` answer why and when a job was rerun, from
the same state store, on every store (issue: "Why was my job rerun?")."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun.cli import main
from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, http_event, request, statuses

from .conftest import HOURS, MINUTES, history_get, iso, mns_event

Invoke = Callable[..., dict[str, Any]]
JOB = "21.scheduler"


def test_reruns_from_two_sources_then_an_over_budget_escalation_are_answered_by_http_and_the_cli(
    shared_store: str,
    invoke: Invoke,
    sim: Simulator,
    settings_env: Callable[..., None],
    cli_clock: list[int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a budget of 2 reruns a day; the job rerun from an MNS queue message, two hours later from an
    # HTTP request, and an hour after that asked for once more, directly
    settings_env(state=shared_store, budget_max_reruns=2)
    clock = cli_clock
    t0 = clock[0]
    by_mns = invoke(mns_event("evt-why-1", [JOB]))
    clock[0] += 2 * HOURS
    by_http = invoke(http_event(json.dumps(request([JOB], reason="MPI ranks stalled"))))
    clock[0] += HOURS
    refused = invoke(request([JOB], reason="still stuck"))
    assert statuses(by_mns) == statuses(by_http) == {f"{CLUSTER}/{JOB}": "rerun"}
    assert statuses(refused) == {f"{CLUSTER}/{JOB}": "over_budget"}
    clock[0] += MINUTES
    capsys.readouterr()  # the function's own log lines so far

    # when the history is asked for over HTTP, and with the CLI (JSON, then the table)
    answer = invoke(history_get(JOB))
    capsys.readouterr()
    assert main(["history", CLUSTER, JOB, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert main(["history", CLUSTER, JOB]) == 0
    table = capsys.readouterr().out

    # then both give the two reruns as E-HPC saw them, the escalation, the budget and the next rerun time
    assert answer["statusCode"] == 200
    body = answer["body"]
    [mns_outcome], [http_outcome] = by_mns["outcomes"], by_http["body"]["outcomes"]
    sent = sim.calls_for("RerunJobs")
    ehpc_ids = [mns_outcome["ehpc_request_id"], http_outcome["ehpc_request_id"]]
    assert [call.request_id for call in sent] == ehpc_ids
    assert body["reruns"] == [
        {
            "time": iso(t0),
            "status": "rerun",
            "source": "mns_queue",
            "source_id": mns_outcome["source_id"],
            "invocation_id": by_mns["invocation_id"],
            "ehpc_request_id": sent[0].request_id,
            "confirmed_by": None,
        },
        {
            "time": iso(t0 + 2 * HOURS),
            "status": "rerun",
            "source": "http",
            "source_id": http_outcome["source_id"],
            "invocation_id": by_http["body"]["request_id"],
            "ehpc_request_id": sent[1].request_id,
            "confirmed_by": None,
        },
    ]
    [escalation] = body["escalations"]
    assert escalation["time"] == iso(t0 + 3 * HOURS)
    assert (escalation["status"], escalation["error_code"]) == ("over_budget", "RerunBudgetExhausted")
    assert escalation["invocation_id"] == refused["invocation_id"]
    assert escalation["source"] == "direct"
    assert escalation["message"] == refused["outcomes"][0]["message"][:200]
    assert body["budget"] == {"max": 2, "used": 2, "left": 0, "window_s": 86_400}
    # the first rerun leaves the day's window 24 h after it: only then may the job be rerun
    assert (body["next_rerun_possible_at"], body["blocked_by"]) == (iso(t0 + 24 * HOURS), ["budget"])
    assert (body["cluster_id"], body["job_id"], body["region"]) == (CLUSTER, JOB, "cn-hangzhou")
    assert printed == {k: v for k, v in body.items() if k != "request_id"}
    assert "2 of 2 reruns used in the last 86400 s, 0 left" in table
    assert f"next rerun possible at {iso(t0 + 24 * HOURS)} (blocked by budget)" in table
    for value in (*ehpc_ids, by_mns["invocation_id"], "RerunBudgetExhausted"):
        assert str(value) in table
    assert len(sent) == 2


def test_the_next_rerun_time_is_when_the_store_lets_the_job_be_rerun_again(
    shared_store: str, invoke: Invoke, sim: Simulator, settings_env: Callable[..., None], clock: list[int]
) -> None:
    # given a budget of one rerun an hour, a 15-minute dedupe window, and the job rerun once
    settings_env(state=shared_store, budget_max_reruns=1, budget_window_s=3600, dedupe_window_s=900)
    t0 = clock[0]
    invoke(mns_event("evt-next-1", [JOB]))
    # when the history is asked for a minute later
    clock[0] += MINUTES
    body = invoke(history_get(JOB))["body"]
    # then the dedupe window ends first and the budget later: the later one is the answer
    assert body["blocked_by"] == ["dedupe_window", "budget"]
    assert body["next_rerun_possible_at"] == iso(t0 + HOURS)
    assert body["budget"] == {"max": 1, "used": 1, "left": 0, "window_s": 3600}
    # and the store agrees to the millisecond: refused just before that time, rerun at it
    clock[0] = t0 + HOURS - 1
    assert statuses(invoke(request([JOB])))[f"{CLUSTER}/{JOB}"] == "over_budget"
    clock[0] = t0 + HOURS
    assert statuses(invoke(request([JOB])))[f"{CLUSTER}/{JOB}"] == "rerun"
    assert len(sim.calls_for("RerunJobs")) == 2


def test_within_the_budget_only_the_dedupe_window_blocks_and_then_nothing_does(
    shared_store: str, invoke: Invoke, sim: Simulator, settings_env: Callable[..., None], clock: list[int]
) -> None:
    # given the default budget (3 a day) and dedupe window (900 s), and the job rerun once
    t0 = clock[0]
    invoke(request([JOB]))
    # when asked 10 minutes later, and again 16 minutes later
    clock[0] = t0 + 10 * MINUTES
    during = invoke(history_get(JOB))["body"]
    clock[0] = t0 + 16 * MINUTES
    after = invoke(history_get(JOB))["body"]
    # then first the dedupe window's end is the answer, then now; two reruns are left throughout
    assert during["next_rerun_possible_at"] == iso(t0 + 15 * MINUTES)
    assert during["blocked_by"] == ["dedupe_window"]
    assert (after["next_rerun_possible_at"], after["blocked_by"]) == (iso(t0 + 16 * MINUTES), [])
    assert during["budget"]["left"] == after["budget"]["left"] == 2
    assert during["dedupe_window_s"] == 900


def test_a_job_never_rerun_has_an_empty_history_and_its_whole_budget(
    shared_store: str, invoke: Invoke, sim: Simulator, clock: list[int]
) -> None:
    # given nothing ever done to a job, when its history is asked for in another region
    answer = invoke(history_get("99.scheduler", query={"region": "cn-shanghai"}))
    # then it is empty, with the full budget, and the job may be rerun now
    body = answer["body"]
    assert answer["statusCode"] == 200
    assert (body["reruns"], body["escalations"], body["region"]) == ([], [], "cn-shanghai")
    assert body["budget"] == {"max": 3, "used": 0, "left": 3, "window_s": 86_400}
    assert (body["next_rerun_possible_at"], body["blocked_by"]) == (iso(clock[0]), [])
    assert sim.calls == []
