"""Decisions before any call: budgets, blast-radius cap, allow/deny lists, dry run, store down."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.errors import StateStoreUnavailable
from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, http_event, request, statuses

HOUR_MS = 3_600_000


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    now = [1_800_000_000_000]
    monkeypatch.setattr(app, "now_ms", lambda: now[0])
    return now


def test_job_past_its_budget_is_not_rerun_and_says_a_human_should_look(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]], clock: list[int]
) -> None:
    # given a budget of 3 reruns per 24 h and a 15-minute dedupe window
    settings_env(budget_max_reruns=3, budget_window_s=86_400, dedupe_window_s=900)
    results = []
    for _ in range(4):
        results.append(invoke(request(["7.scheduler"])))
        clock[0] += HOUR_MS  # past the dedupe window, inside the budget window

    # then three reruns happened and the fourth request is over budget, with no call
    assert [statuses(r)[f"{CLUSTER}/7.scheduler"] for r in results] == [
        "rerun",
        "rerun",
        "rerun",
        "over_budget",
    ]
    assert sim.rerun_job_ids() == ["7.scheduler"] * 3
    over = results[3]["outcomes"][0]
    assert over["error_code"] == "RerunBudgetExhausted"
    assert "a human should look" in over["message"]
    assert results[3]["needs_human"] is True


def test_job_whose_budget_window_expired_is_rerun_again(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]], clock: list[int]
) -> None:
    # given a job that used its whole budget
    settings_env(budget_max_reruns=2, budget_window_s=7200, dedupe_window_s=60)
    for _ in range(2):
        invoke(request(["7.scheduler"]))
        clock[0] += 61_000
    assert statuses(invoke(request(["7.scheduler"])))[f"{CLUSTER}/7.scheduler"] == "over_budget"

    # when the budget window has passed
    clock[0] += 7_200_000

    # then it is rerun again
    assert statuses(invoke(request(["7.scheduler"])))[f"{CLUSTER}/7.scheduler"] == "rerun"
    assert sim.rerun_job_ids() == ["7.scheduler"] * 3


def test_dedupe_window_expiry_allows_the_next_rerun(
    sim: Simulator, invoke: Callable[..., dict[str, Any]], clock: list[int]
) -> None:
    assert statuses(invoke(request(["3.scheduler"])))[f"{CLUSTER}/3.scheduler"] == "rerun"
    clock[0] += 899_000
    assert statuses(invoke(request(["3.scheduler"])))[f"{CLUSTER}/3.scheduler"] == "duplicate"
    clock[0] += 2_000
    assert statuses(invoke(request(["3.scheduler"])))[f"{CLUSTER}/3.scheduler"] == "rerun"


def test_more_jobs_than_the_blast_radius_cap_reruns_nothing(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    # given a cap of 20 jobs per invocation and a flood naming 25
    settings_env(max_jobs_per_invocation=20)
    result = invoke([request([f"{n}.scheduler"]) for n in range(1, 26)])

    # then no call is made, every job is capped, and the summary says why
    assert sim.calls == []
    assert set(statuses(result).values()) == {"capped"}
    assert len(result["outcomes"]) == 25
    assert "blast-radius cap of 20" in result["note"]
    assert "EHPC_RERUN_MAX_JOBS_PER_INVOCATION" in result["note"]


def test_clusters_outside_the_allow_list_or_on_the_deny_list_are_ignored_with_the_reason(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    sim.add_cluster("ehpc-hz-prod03")
    sim.add_job("ehpc-hz-prod03", "1.scheduler")
    settings_env(allow_clusters=f"{CLUSTER},ehpc-hz-prod03", deny_clusters="ehpc-hz-prod03")
    result = invoke(
        [
            request(["1.scheduler"]),
            request(["1.scheduler"], cluster="ehpc-hz-prod03"),
            request(["1.scheduler"], cluster="ehpc-hz-else04"),
        ]
    )
    by_cluster = {o["cluster_id"]: o for o in result["outcomes"]}
    assert by_cluster[CLUSTER]["status"] == "rerun"
    assert by_cluster["ehpc-hz-prod03"]["status"] == "ignored"
    assert "deny-list" in by_cluster["ehpc-hz-prod03"]["message"]
    assert "not on the allow-list" in by_cluster["ehpc-hz-else04"]["message"]
    assert [c.cluster_id for c in sim.calls_for("RerunJobs")] == [CLUSTER]


def test_dry_run_decides_and_reports_without_calling_ehpc(
    sim: Simulator, settings_env: Callable[..., None], invoke: Callable[..., dict[str, Any]]
) -> None:
    settings_env(dry_run="true")
    first = invoke(request(["1.scheduler", "2.scheduler"]))
    second = invoke(request(["1.scheduler", "2.scheduler"]))
    assert sim.calls == []
    assert set(statuses(first).values()) == {"dry_run"}
    # a dry run records no rerun, so it never turns a later real rerun into a duplicate
    assert set(statuses(second).values()) == {"dry_run"}


def test_store_down_means_no_rerun_call_and_a_clear_error(
    sim: Simulator,
    settings_env: Callable[..., None],
    invoke: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a Redis store nobody answers on
    settings_env(state="redis://:not-a-real-pass@127.0.0.1:1/0")

    # when a queue event arrives, the handler fails closed and leaves it for redelivery
    with pytest.raises(StateStoreUnavailable):
        invoke(request(["1.scheduler"]))
    # and over HTTP the caller gets 503 with the code
    response = invoke(http_event(json.dumps(request(["1.scheduler"]))))

    assert sim.calls == []
    assert response["statusCode"] == 503
    assert response["body"]["error"]["code"] == "StateStoreUnavailable"
    out = capsys.readouterr().out
    assert "nothing was rerun" in out
    assert "not-a-real-pass" not in out + json.dumps(response)
