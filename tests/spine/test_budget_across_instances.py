"""The rerun budget holds across FC instances when the state is shared (issue: safe where it really runs).

Every invocation below runs on a *new instance* (``app.reset()`` forgets every store and client, as a
fresh FC instance would), with FC's variables set. An alert for a job that keeps hanging fires every
20 minutes, past the 15-minute dedupe window each time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ehpc_rerun import app
from ehpc_rerun.otsserver import TablestoreServer
from ehpc_rerun.simulator import Simulator
from tests.conftest import CLUSTER, KEY_ID, SECRET, TOKEN, request, statuses

Invoke = Callable[..., dict[str, Any]]
JOB = f"{CLUSTER}/7.scheduler"
EVERY_20_MIN_MS = 20 * 60 * 1000


@pytest.fixture
def tablestore() -> Iterator[TablestoreServer]:
    """The local Tablestore server, accepting the function's own STS credentials (tests.conftest)."""
    with TablestoreServer(access_key_id=KEY_ID, access_key_secret=SECRET, security_token=TOKEN) as server:
        yield server


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    now = [1_800_000_000_000]
    monkeypatch.setattr(app, "now_ms", lambda: now[0])
    return now


def _alerts_on_fresh_instances(
    invoke: Invoke, clock: list[int], count: int, before_each: Callable[[int], None]
) -> list[str]:
    seen = []
    for n in range(count):
        before_each(n)
        app.reset()  # a new FC instance: nothing cached from the last one
        seen.append(statuses(invoke(request(["7.scheduler"])))[JOB])
        clock[0] += EVERY_20_MIN_MS
    return seen


def _rerun_calls(sim: Simulator) -> int:
    return len(sim.calls_for("RerunJobs"))


def test_with_tablestore_the_budget_stops_a_job_that_keeps_hanging_whatever_the_instance(
    monkeypatch: pytest.MonkeyPatch,
    settings_env: Callable[..., None],
    invoke: Invoke,
    sim: Simulator,
    tablestore: TablestoreServer,
    clock: list[int],
) -> None:
    # given the deployed default: FC, and the state in Tablestore
    monkeypatch.setenv("FC_FUNCTION_NAME", "ehpc-rerun")
    monkeypatch.setenv("FC_INSTANCE_ID", "c-0001")
    settings_env(state=tablestore.url, budget_max_reruns=3)

    # when the alert fires six times, each time on a new instance
    def new_instance(n: int) -> None:
        monkeypatch.setenv("FC_INSTANCE_ID", f"c-{n:04d}")

    seen = _alerts_on_fresh_instances(invoke, clock, 6, new_instance)
    # then the job is rerun three times, then escalated: never a storm
    assert seen == ["rerun", "rerun", "rerun", "over_budget", "over_budget", "over_budget"]
    assert _rerun_calls(sim) == 3
    # and the state really went through Tablestore's wire protocol, signed with the STS credentials
    assert tablestore.calls["BatchWriteRow"] >= 6


def test_with_per_instance_state_the_same_alerts_rerun_the_job_every_time(
    monkeypatch: pytest.MonkeyPatch,
    settings_env: Callable[..., None],
    invoke: Invoke,
    sim: Simulator,
    clock: list[int],
    tmp_path: Path,
) -> None:
    # given the unsafe setup, accepted explicitly: each instance keeps SQLite in its own /tmp
    monkeypatch.setenv("FC_FUNCTION_NAME", "ehpc-rerun")
    settings_env(allow_local_state="true", budget_max_reruns=3)

    def new_instance(n: int) -> None:
        monkeypatch.setenv("EHPC_RERUN_STATE", f"sqlite:///{tmp_path / f'instance-{n}' / 'state.db'}")

    # when the alert fires six times, each time on a new instance
    seen = _alerts_on_fresh_instances(invoke, clock, 6, new_instance)
    # then the budget starts from zero each time: the rerun storm the default prevents
    assert seen == ["rerun"] * 6
    assert _rerun_calls(sim) == 6
